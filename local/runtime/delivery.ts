/**
 * What an MSK event source mapping does with one batch, as a pure state machine over ports:
 * invoke the function; on a partial batch response resume each reported partition from the
 * reported offset; on a function error retry, bisecting the batch if configured; once retries
 * are exhausted send the records to the on-failure destination and move on. Offsets are
 * committed only for records that succeeded or were discarded to the destination.
 */
import {
  type KafkaBatchResponse,
  type MskEvent,
  type MskRecord,
  partitionKey,
} from '../../functions/shared/msk.ts'

export interface DeliveryConfig {
  /**
   * Retries after the first attempt. -1 (infinite) with an on-failure destination, which the
   * emulator always has, is 10 retries, as Lambda applies it (see {@link retriesOf}).
   */
  maximumRetryAttempts: number
  bisectBatchOnFunctionError: boolean
  eventSourceArn: string
  bootstrapServers: string
}

export interface DeliveryPorts {
  invoke(event: MskEvent): Promise<KafkaBatchResponse | undefined | null>
  /** Everything up to and including these records is done (processed or discarded). */
  commit(records: MskRecord[]): Promise<void>
  onFailure(records: MskRecord[], reason: string): Promise<void>
  sleep(ms: number): Promise<void>
  log(line: string): void
}

export interface DeliveryStats {
  invocations: number
  retries: number
  bisections: number
  discarded: number
}

export function toMskEvent(
  records: MskRecord[],
  config: Pick<DeliveryConfig, 'eventSourceArn' | 'bootstrapServers'>,
) {
  const grouped: Record<string, MskRecord[]> = {}
  for (const record of records) {
    const key = partitionKey(record.topic, record.partition)
    const list = grouped[key] ?? []
    list.push(record)
    grouped[key] = list
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: config.eventSourceArn,
    bootstrapServers: config.bootstrapServers,
    records: grouped,
  } satisfies MskEvent
}

/**
 * The records still to deliver after a response, or `undefined` when the response is invalid
 * (Lambda then treats the whole batch as failed). A partition reported at offset X is resumed
 * from X: X and everything after it in that partition are delivered again.
 */
export function remainingAfter(records: MskRecord[], response: KafkaBatchResponse | undefined | null) {
  const failures = response?.batchItemFailures ?? []
  if (failures.length === 0) return []
  const resumeAt = new Map<string, number>()
  for (const failure of failures) {
    const id = failure?.itemIdentifier
    if (!id || typeof id.partition !== 'string' || !Number.isInteger(id.offset)) return undefined
    if (!records.some((r) => partitionKey(r.topic, r.partition) === id.partition && r.offset === id.offset)) {
      return undefined
    }
    resumeAt.set(id.partition, Math.min(resumeAt.get(id.partition) ?? Number.POSITIVE_INFINITY, id.offset))
  }
  return records.filter((record) => {
    const from = resumeAt.get(partitionKey(record.topic, record.partition))
    return from !== undefined && record.offset >= from
  })
}

/**
 * The retries Lambda makes: the configured number, or 10 for -1 (infinite), which Lambda caps
 * at 10 when the mapping has an on-failure destination
 * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html).
 */
export const retriesOf = (maximumRetryAttempts: number) =>
  maximumRetryAttempts < 0 ? 10 : maximumRetryAttempts

export async function deliver(
  records: MskRecord[],
  config: DeliveryConfig,
  ports: DeliveryPorts,
  stats: DeliveryStats,
): Promise<void> {
  let pending = records
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > retriesOf(config.maximumRetryAttempts)) {
      await ports.onFailure(pending, `retries exhausted after ${attempt} attempts`)
      stats.discarded += pending.length
      await ports.commit(pending)
      return
    }
    if (attempt > 0) {
      stats.retries++
      await ports.sleep(Math.min(500 * 2 ** (attempt - 1), 10_000))
    }
    stats.invocations++
    let remaining: MskRecord[] | undefined
    try {
      remaining = remainingAfter(pending, await ports.invoke(toMskEvent(pending, config)))
      if (remaining === undefined) ports.log('invalid partial batch response: the whole batch is retried')
    } catch (error) {
      ports.log(`function error: ${(error as Error).message}`)
      if (config.bisectBatchOnFunctionError && pending.length > 1) {
        stats.bisections++
        const half = Math.ceil(pending.length / 2)
        // Each half gets its own retry budget, as with Lambda's bisect.
        await deliver(pending.slice(0, half), config, ports, stats)
        await deliver(pending.slice(half), config, ports, stats)
        return
      }
    }
    const failed = remaining ?? pending
    const done = pending.filter((record) => !failed.includes(record))
    if (done.length > 0) await ports.commit(done)
    pending = failed
  }
}
