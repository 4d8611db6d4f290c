/**
 * Quarantine replay: once the cause of a rejection is fixed (a contract change deployed, an index
 * template corrected), the records a consumer quarantined are delivered again to the function
 * that rejected them, as its event source would deliver them, and the quarantine says which were
 * taken this time. It is a mode of redrive (`make redrive ARGS=--quarantine`): the same ports,
 * the same local and AWS wiring, a different source.
 *
 * - Only consumer rejections can be replayed: index-events and land-raw quarantine a Kafka record
 *   with its coordinates and its value as base64. A producer's rejections (poll-bars,
 *   simulate-trades, refresh-assets, backfill-bars) are upstream answers that never reached Kafka:
 *   they are listed as not replayable, with why (the next poll or a backfill fetches them again).
 * - A record the function rejects again is quarantined again under the same key (the key is its
 *   Kafka coordinates), with a new `quarantined_at`: that is how a replay tells "taken" from
 *   "still rejected", since both are a success for the function.
 * - Safe to run again: every sink writes by deterministic id, and a record taken gets a
 *   `quarantine-replayed/` marker so the next run skips it; a record still rejected keeps none.
 */

import type { QuarantineRecord } from '../functions/shared/contracts.ts'
import { describeIssues, QuarantineRecordSchema } from '../functions/shared/contracts.ts'
import type { MskRecord } from '../functions/shared/msk.ts'
import { QUARANTINE_PREFIX } from '../functions/shared/quarantine.ts'
import { isoSeconds } from '../functions/shared/time.ts'
import type { RedrivePorts } from './redrive.ts'
import { toMskEvent } from './runtime/delivery.ts'

export const REPLAYED_PREFIX = 'quarantine-replayed/'

/** The consumer stages whose rejections are Kafka records, and the function each one is. */
export const REPLAYABLE_STAGES: Readonly<Record<string, string>> = {
  'index-events': 'indexEvents',
  'land-raw': 'landRaw',
}

/** Records per invocation: well under a Lambda payload's 6 MB for the largest record a topic takes. */
const BATCH = 100

const REPLAY_SOURCE = {
  eventSourceArn: 'arn:aws:kafka:local:000000000000:cluster/local/quarantine-replay',
  bootstrapServers: 'quarantine-replay',
}

export interface QuarantineReplayOptions {
  dryRun: boolean
  /** Only this topic's quarantine (`crypto.bars`); all topics when absent. */
  topic?: string
  /** Only records quarantined for this reason (`schema_violation`, ...). */
  reason?: string
}

export interface QuarantineReplayReport {
  dry_run: boolean
  /** Quarantine objects read (without a replay marker). */
  found: number
  /** Consumer rejections delivered again (in a dry run: that would be). */
  replayed: number
  /** Taken by the function this time (now marked). */
  accepted: number
  /** Rejected again: still in the quarantine, with the new reason. */
  still_rejected: Array<{ key: string; reason: string; detail: string }>
  /** Producer rejections, which never reached Kafka, per stage. */
  not_replayable: Record<string, number>
  /** Replayed and taken by an earlier run. */
  already_replayed: number
  /** Objects that are no quarantine record, and invocations that failed, with why. */
  failed: Array<{ key: string; error: string }>
}

interface Replayable {
  key: string
  record: QuarantineRecord
  functionName: string
}

/** The Kafka record a consumer quarantined, as its event source delivered it (headers are not kept). */
export function toKafkaRecord(record: QuarantineRecord): MskRecord | undefined {
  if (record.partition === undefined || record.offset === undefined || record.timestamp === undefined)
    return undefined
  return {
    topic: record.topic,
    partition: record.partition,
    offset: Number(record.offset),
    timestamp: Date.parse(record.timestamp),
    timestampType: 'CREATE_TIME',
    ...(record.key == null ? {} : { key: Buffer.from(record.key, 'utf8').toString('base64') }),
    value: record.value,
    headers: [],
  }
}

/** Reads the quarantine under the options' prefix, sorting each object into the report or the work list. */
async function collect(
  ports: RedrivePorts,
  options: QuarantineReplayOptions,
  report: QuarantineReplayReport,
): Promise<Replayable[]> {
  const prefix = `${QUARANTINE_PREFIX}${options.topic === undefined ? '' : `${options.topic}/`}`
  const keys = await ports.store.list(prefix)
  const replayed = new Set(await ports.store.list(`${REPLAYED_PREFIX}${prefix}`))
  const work: Replayable[] = []
  for (const key of keys) {
    if (replayed.has(`${REPLAYED_PREFIX}${key}`)) {
      report.already_replayed++
      continue
    }
    const record = await readRecord(ports, key)
    if (typeof record === 'string') {
      report.failed.push({ key, error: `not a quarantine record: ${record}` })
      continue
    }
    if (options.reason !== undefined && record.reason !== options.reason) continue
    report.found++
    const functionName = REPLAYABLE_STAGES[record.stage]
    if (functionName === undefined || toKafkaRecord(record) === undefined) {
      report.not_replayable[record.stage] = (report.not_replayable[record.stage] ?? 0) + 1
      continue
    }
    work.push({ key, record, functionName })
  }
  return work
}

/** The quarantine record stored under `key`, or why it is none. */
async function readRecord(ports: RedrivePorts, key: string): Promise<QuarantineRecord | string> {
  const body = await ports.store.get(key)
  if (body === undefined) return 'gone'
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder().decode(body))
  } catch (error) {
    return `not JSON (${(error as Error).message})`
  }
  const parsed = QuarantineRecordSchema.safeParse(json)
  return parsed.success ? parsed.data : describeIssues(parsed.error, 'record')
}

/** After a replay: taken (marked) or rejected again (re-quarantined since `since`). */
async function judge(
  ports: RedrivePorts,
  item: Replayable,
  since: string,
  report: QuarantineReplayReport,
): Promise<void> {
  const now = await readRecord(ports, item.key)
  if (typeof now !== 'string' && now.quarantined_at >= since) {
    report.still_rejected.push({ key: item.key, reason: now.reason, detail: now.detail })
    return
  }
  await ports.store.put(`${REPLAYED_PREFIX}${item.key}`, `${JSON.stringify({ replayed_at: since })}\n`)
  report.accepted++
}

/**
 * The next whole second, once it has begun. `quarantined_at` has whole seconds: every record
 * quarantined before the replay is stamped before it, every record rejected again at or after it.
 */
async function nextWholeSecond(ports: RedrivePorts): Promise<string> {
  const nowMs = (ports.now?.() ?? new Date()).getTime()
  const next = (Math.floor(nowMs / 1000) + 1) * 1000
  await new Promise((resolve) => setTimeout(resolve, next - nowMs))
  return isoSeconds(next)
}

export async function replayQuarantine(
  ports: RedrivePorts,
  options: QuarantineReplayOptions,
): Promise<QuarantineReplayReport> {
  const report: QuarantineReplayReport = {
    dry_run: options.dryRun,
    found: 0,
    replayed: 0,
    accepted: 0,
    still_rejected: [],
    not_replayable: {},
    already_replayed: 0,
    failed: [],
  }
  const work = await collect(ports, options, report)
  report.replayed = work.length
  if (options.dryRun) return report
  const since = await nextWholeSecond(ports)
  for (const [functionName, items] of Map.groupBy(work, (item) => item.functionName)) {
    for (let i = 0; i < items.length; i += BATCH) {
      const batch = items.slice(i, i + BATCH)
      const records = batch.flatMap((item) => toKafkaRecord(item.record) ?? [])
      try {
        await ports.invoke(functionName, toMskEvent(records, REPLAY_SOURCE))
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error)
        for (const item of batch) report.failed.push({ key: item.key, error: why })
        continue
      }
      for (const item of batch) await judge(ports, item, since, report)
    }
    ports.log(`${functionName}: ${items.length} quarantined records delivered again`)
  }
  return report
}
