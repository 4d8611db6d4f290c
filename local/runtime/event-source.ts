/**
 * The local stand-in for a Lambda MSK event source mapping: a consumer group on the real
 * broker that batches records (batch size and window), hands the function the same MSK event
 * payload AWS would, and commits offsets only once the delivery semantics in `delivery.ts`
 * say a record is done.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Consumer, type Message } from '@platformatic/kafka'
import { type KafkaConnection, kafkaConnectionOptions } from '../../functions/shared/adapters/kafka.ts'
import type { KafkaBatchResponse, MskEvent, MskRecord } from '../../functions/shared/msk.ts'
import { type DeliveryConfig, type DeliveryStats, deliver } from './delivery.ts'
import type { EventSourceMappingSpec } from './template.ts'

export interface EventSourceOptions {
  name: string
  kafka: KafkaConnection
  topics: string[]
  groupId: string
  batchSize: number
  /** MaximumBatchingWindowInSeconds, in ms. */
  batchWindowMs: number
  maximumRetryAttempts: number
  bisectBatchOnFunctionError: boolean
  invoke(event: MskEvent): Promise<KafkaBatchResponse | undefined | null | undefined>
  onFailure(records: MskRecord[], reason: string): Promise<void>
  log(line: string): void
}

export interface EventSource {
  stats: DeliveryStats & { batches: number; records: number }
  /** Records not yet processed: end offsets minus committed offsets, all partitions. */
  lag(): Promise<number>
  /** The same, per topic. */
  lagByTopic(): Promise<Record<string, number>>
  /**
   * From now on, deliver what is buffered as soon as nothing more is waiting on the broker
   * instead of waiting out the batch window: a stopping run would otherwise sit through
   * land-raw's 60 s window with nothing to show for it. The window closes early, never late:
   * batches only get smaller, and the function sees the same events.
   */
  flush(): void
  /** Flushes, delivers what is in hand, and leaves the group. */
  stop(): Promise<void>
}

/** A consumed Kafka message as Lambda puts it into an MSK event (base64 key and value). */
export function toMskRecord(message: Message): MskRecord {
  return {
    topic: message.topic,
    partition: message.partition,
    offset: Number(message.offset),
    timestamp: Number(message.timestamp),
    timestampType: 'CREATE_TIME',
    ...(message.key && message.key.length > 0 ? { key: message.key.toString('base64') } : {}),
    value: message.value == null ? null : message.value.toString('base64'),
    headers: [...message.headers].map(([name, value]) => ({ [name.toString()]: [...value] })),
  }
}

type Stats = EventSource['stats']

export async function startEventSource(options: EventSourceOptions): Promise<EventSource> {
  const consumer = new Consumer({
    ...kafkaConnectionOptions(options.kafka, `esm-${options.name}`),
    // Right after a broker starts, the group coordinator needs a few seconds (NOT_COORDINATOR).
    retries: 40,
    retryDelay: 500,
    groupId: options.groupId,
    autocommit: false,
    sessionTimeout: 20_000,
    heartbeatInterval: 1_000,
    maxWaitTime: 250,
  })
  const stream = await consumer.consume({
    topics: options.topics,
    mode: 'committed',
    // A new group starts at the beginning of the topic, like StartingPosition TRIM_HORIZON.
    fallbackMode: 'earliest',
  })
  const leaderEpochs = new Map<string, number>()
  const stats: Stats = { invocations: 0, retries: 0, bisections: 0, discarded: 0, batches: 0, records: 0 }
  const config: DeliveryConfig = {
    maximumRetryAttempts: options.maximumRetryAttempts,
    bisectBatchOnFunctionError: options.bisectBatchOnFunctionError,
    eventSourceArn: `arn:aws:kafka:local:000000000000:cluster/local/${options.name}`,
    bootstrapServers: options.kafka.KAFKA_BROKERS.join(','),
  }
  const ports = {
    invoke: options.invoke,
    onFailure: options.onFailure,
    sleep: (ms: number) => sleep(ms),
    log: options.log,
    commit: offsetCommitter(consumer, leaderEpochs),
  }
  const control = loopControl()
  const loop = batchLoop(stream[Symbol.asyncIterator](), {
    batchSize: options.batchSize,
    batchWindowMs: options.batchWindowMs,
    control,
    leaderEpochs,
    async deliverBatch(batch) {
      stats.batches++
      stats.records += batch.length
      await deliver(batch, config, ports, stats)
    },
  })
  loop.catch((error) => options.log(`event source ${options.name} stopped: ${(error as Error).stack}`))

  const lagByTopic = () => consumerLag(consumer, options.topics)
  return {
    stats,
    lagByTopic,
    async lag() {
      return Object.values(await lagByTopic()).reduce((a, b) => a + b, 0)
    },
    flush: control.request,
    async stop() {
      control.request()
      control.running = false
      await loop.catch(() => {})
      await stream.close().catch(() => {})
      await consumer.close().catch(() => {})
    },
  }
}

/**
 * Commits, for each partition of `records`, the offset after its last record, unless a higher
 * one is already committed: what Lambda's event source does once a batch is done.
 */
function offsetCommitter(consumer: Consumer, leaderEpochs: Map<string, number>) {
  const committed = new Map<string, number>()
  return async (records: MskRecord[]) => {
    const next = new Map<string, { topic: string; partition: number; offset: number }>()
    for (const record of records) {
      const key = `${record.topic}-${record.partition}`
      const offset = record.offset + 1
      if (offset > (next.get(key)?.offset ?? -1))
        next.set(key, { topic: record.topic, partition: record.partition, offset })
    }
    const offsets = [...next]
      .filter(([key, target]) => target.offset > (committed.get(key) ?? -1))
      .map(([key, target]) => ({
        topic: target.topic,
        partition: target.partition,
        offset: BigInt(target.offset),
        leaderEpoch: leaderEpochs.get(key) ?? 0,
      }))
    if (offsets.length === 0) return
    await consumer.commit({ offsets })
    for (const offset of offsets) committed.set(`${offset.topic}-${offset.partition}`, Number(offset.offset))
  }
}

/** The batch loop's switches: `running` until stopped; `flushing` once {@link EventSource.flush} is asked. */
interface LoopControl {
  running: boolean
  flushing: boolean
  /** Resolves at the first flush request (it wakes a waiting loop once). */
  requested: Promise<undefined>
  request(): void
}

function loopControl(): LoopControl {
  let resolveRequest = () => {}
  const signal: LoopControl = {
    running: true,
    flushing: false,
    requested: new Promise<undefined>((resolve) => {
      resolveRequest = () => resolve(undefined)
    }),
    request() {
      signal.flushing = true
      resolveRequest()
    },
  }
  return signal
}

/**
 * Gathers records into batches and hands each to `deliverBatch` when it is full (batch size) or
 * its window has closed (or, once flushing, as soon as nothing more is waiting on the broker).
 */
async function batchLoop(
  iterator: AsyncIterator<unknown>,
  loop: Pick<EventSourceOptions, 'batchSize' | 'batchWindowMs'> & {
    control: LoopControl
    /** Each partition's leader epoch, as its last record read says (the commits carry it). */
    leaderEpochs: Map<string, number>
    deliverBatch(batch: MskRecord[]): Promise<void>
  },
) {
  const { control, leaderEpochs, deliverBatch } = loop
  const batch: MskRecord[] = []
  let firstAt = 0
  let next = iterator.next()
  const deliverHeld = () => deliverBatch(batch.splice(0))
  while (control.running) {
    const wait =
      batch.length === 0 ? 250 : control.flushing ? 0 : Math.max(0, firstAt + loop.batchWindowMs - Date.now())
    // `next` first: a record the consumer already holds wins over an elapsed wait or a flush.
    // The flush request only wakes a wait once; afterwards the waits are short timers, which
    // keep the loop yielding to the event loop.
    const result = await Promise.race([
      next,
      sleep(wait).then(() => undefined),
      ...(control.flushing ? [] : [control.requested]),
    ])
    if (result && !result.done) {
      const message = result.value as Message
      leaderEpochs.set(`${message.topic}-${message.partition}`, message.leaderEpoch)
      if (batch.length === 0) firstAt = Date.now()
      batch.push(toMskRecord(message))
      next = iterator.next()
    } else if (result?.done) {
      break
    }
    const windowClosed =
      batch.length > 0 &&
      (Date.now() >= firstAt + loop.batchWindowMs || (control.flushing && result === undefined))
    if (batch.length >= loop.batchSize || windowClosed) await deliverHeld()
  }
  if (batch.length > 0) await deliverHeld()
}

/** Records not yet processed per topic: end offsets minus the group's committed offsets. */
async function consumerLag(consumer: Consumer, topics: string[]): Promise<Record<string, number>> {
  const ends = await consumer.listOffsets({ topics })
  const commits = await consumer.listCommittedOffsets({
    topics: [...ends].map(([topic, partitions]) => ({ topic, partitions: partitions.map((_, i) => i) })),
  })
  const lags: Record<string, number> = {}
  for (const [topic, partitions] of ends) {
    lags[topic] = 0
    partitions.forEach((end, partition) => {
      const done = commits.get(topic)?.[partition] ?? -1n
      lags[topic] = (lags[topic] ?? 0) + Number(end - (done < 0n ? 0n : done))
    })
  }
  return lags
}

/**
 * The event source of one packaged mapping (local/runtime/template.ts): its topics, batching, retries and
 * bisection as the template says, and its consumer group (or `<function>-local`), so every local
 * caller consumes exactly as the deployed mapping would.
 */
export function startMappedEventSource(
  mapping: EventSourceMappingSpec,
  ports: Pick<EventSourceOptions, 'kafka' | 'invoke' | 'onFailure' | 'log'>,
): Promise<EventSource> {
  return startEventSource({
    name: mapping.functionName,
    topics: mapping.topics,
    groupId: mapping.consumerGroupId ?? `${mapping.functionName}-local`,
    batchSize: mapping.batchSize,
    batchWindowMs: mapping.batchWindowMs,
    maximumRetryAttempts: mapping.maximumRetryAttempts,
    bisectBatchOnFunctionError: mapping.bisectBatchOnFunctionError,
    ...ports,
  })
}

/**
 * Flushes every source (a stopping run closes its batch windows now) and waits, at most
 * `limitMs`, until each has consumed everything on its topics. Returns the sources still behind
 * (none when drained); `onBehind` hears them at each look before then.
 */
export async function drainEventSources(
  sources: Array<{ name: string; source: EventSource }>,
  options: {
    limitMs: number
    pollMs: number
    onBehind?: (behind: Array<{ name: string; lag: number }>) => void
  },
): Promise<Array<{ name: string; lag: number }>> {
  for (const { source } of sources) source.flush()
  const giveUpAt = Date.now() + options.limitMs
  for (;;) {
    const lags = await Promise.all(
      sources.map(async ({ name, source }) => ({ name, lag: await source.lag() })),
    )
    const behind = lags.filter(({ lag }) => lag > 0)
    if (behind.length === 0 || Date.now() > giveUpAt) return behind
    options.onBehind?.(behind)
    await sleep(options.pollMs)
  }
}
