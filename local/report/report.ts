/**
 * The accounting report of a run. Every number is read back from the sinks — the topics, the
 * OpenSearch indices, the quarantine — never inferred from counters: `lost` is produced
 * event_ids missing from a sink that should hold them, `duplicates` event_ids a sink holds
 * more than once, `stale` event_ids a sink holds at an older revision than the newest produced
 * (bars: a recalculated bar is re-emitted with the same event_id and a higher `revision`).
 */
import type { Client } from '@opensearch-project/opensearch'
import type { Message } from '@platformatic/kafka'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import {
  LAKE_ONLY,
  type QuarantineRecord,
  SINK_HEADER,
  TOPIC_SCHEMAS,
  TOPICS,
  type TopicName,
} from '../../functions/shared/contracts.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import { QUARANTINE_PREFIX } from '../../functions/shared/quarantine.ts'
import { eventTimeOf } from '../../functions/shared/raw-zone.ts'
import { ASSETS_INDEX, BARS_ALIAS, TRADES_ALIAS } from '../../functions/shared/search-templates.ts'
import { endOffsets, type Offsets, readRange } from '../runtime/kafka-read.ts'
import { addRevision, type RevisionsById, revisionOf } from './stream.ts'

export interface Report {
  started_at: string
  ended_at: string
  services: { kafka: string; opensearch: string }
  topics: Record<string, { produced: number; records: number; revisions?: number; rejected: number }>
  opensearch: Record<string, { documents: number; lost: number; duplicates: number; stale: number }>
  raw: Record<string, { records: number; objects: number; lost: number; duplicates: number }>
  quarantined: { total: number; by_reason: Record<string, number> }
  lost: number
  duplicates: number
  /** Bars a sink holds at an older revision than the newest produced: fails the run like `lost`. */
  stale: number
  /** The same three figures, labelled: they are this run's (the ids appended during it). */
  run?: {
    scope: string
    offsets: Record<string, { from: string[]; to: string[] }>
    lost: number
    duplicates: number
    stale: number
  }
  /** The whole store reconciled (local/report/store.ts): a loss there fails the run too. */
  store?: { lost: number; duplicates: number; stale: number; [part: string]: unknown }
  [section: string]: unknown
}

/** Which OpenSearch index or alias holds each topic's events, and under which field their id. */
const SEARCH_SINKS: Record<
  TopicName,
  { alias: string; idField: string; idOf: (event: { event_id: string; asset_id?: string }) => string }
> = {
  [TOPICS.bars]: { alias: BARS_ALIAS, idField: 'event_id', idOf: (e) => e.event_id },
  [TOPICS.trades]: { alias: TRADES_ALIAS, idField: 'event_id', idOf: (e) => e.event_id },
  // One document per asset: the latest fetch of each asset must be there.
  [TOPICS.assets]: { alias: ASSETS_INDEX, idField: 'asset_id', idOf: (e) => e.asset_id ?? '' },
}

export interface ProducedEvents {
  /** Records appended to the topic, redeliveries and poison records included. */
  records: number
  /** Distinct event ids of the contract-valid events: what every sink must hold. */
  eventIds: Set<string>
  /**
   * The same events by the id their search sink is keyed by, but those meant for the lake only
   * (a backfill's old months, which index-events skips).
   */
  searchIds: Set<string>
  /** Their event times (what partitions them in the raw zone and the lake). */
  eventTimes: string[]
  /**
   * Every revision produced of each revised event (bars), by event id: the raw zone must hold each
   * one, OpenSearch and the lake the highest. Empty for topics without revisions; absent when
   * nobody collected them (nothing is then checked per revision).
   */
  revisionsById?: RevisionsById
  /**
   * Records that were a further revision of an event: distinct (event_id, revision) beyond the
   * first revision of each id seen in the range (a redelivered revision is not another one).
   */
  revisions?: number
}

/**
 * Reads back what was produced to a topic between two offset snapshots. Only contract-valid
 * events count as produced: poison records are the quarantine's to account for.
 */
export async function producedBetween(
  kafka: KafkaConnection,
  topic: TopicName,
  from: Offsets,
  to: Offsets,
): Promise<ProducedEvents> {
  return summarizeProduced(topic, await readRange(kafka, topic, from, to))
}

/** A topic record reduced to what the accounting needs; `event` only for contract-valid ones. */
export interface TopicRecord {
  partition: number
  offset: bigint
  event?: {
    eventId: string
    searchId: string
    eventTime: string
    revision?: number
    lakeOnly?: true
  }
}

/** Whether a record's sink header sends it to the raw zone and the lake only (index-events skips it). */
function isLakeOnly(headers: Message['headers'] | undefined): boolean {
  for (const [name, value] of headers ?? []) {
    if (name.toString('utf8') === SINK_HEADER) return value.toString('utf8') === LAKE_ONLY
  }
  return false
}

/** Decodes and validates records of a contract topic (poison records keep their coordinates only). */
export function toTopicRecords(
  topic: TopicName,
  messages: Array<Pick<Message, 'partition' | 'offset' | 'value'> & Partial<Pick<Message, 'headers'>>>,
): TopicRecord[] {
  return messages.map((message) => {
    const record: TopicRecord = { partition: message.partition, offset: message.offset }
    let json: unknown
    try {
      json = JSON.parse(message.value.toString('utf8'))
    } catch {
      return record
    }
    const parsed = TOPIC_SCHEMAS[topic].safeParse(json)
    if (!parsed.success) return record
    const revision = revisionOf(parsed.data)
    record.event = {
      eventId: parsed.data.event_id,
      searchId: SEARCH_SINKS[topic].idOf(parsed.data),
      eventTime: eventTimeOf(topic, parsed.data),
      ...(revision === undefined ? {} : { revision }),
      ...(isLakeOnly(message.headers) ? { lakeOnly: true as const } : {}),
    }
    return record
  })
}

/** What a run of records produced: the one reduction behind the report, the store and the page. */
export function summarizeProduced(
  topic: TopicName,
  messages: Array<Pick<Message, 'partition' | 'offset' | 'value'>>,
): ProducedEvents {
  return summarizeRecords(toTopicRecords(topic, messages))
}

export function summarizeRecords(records: TopicRecord[]): ProducedEvents {
  const eventIds = new Set<string>()
  const searchIds = new Set<string>()
  const eventTimes: string[] = []
  const revisionsById: RevisionsById = new Map()
  for (const { event } of records) {
    if (!event) continue
    eventIds.add(event.eventId)
    if (!event.lakeOnly) searchIds.add(event.searchId)
    eventTimes.push(event.eventTime)
    addRevision(revisionsById, event.eventId, event.revision)
  }
  let revisions = 0
  for (const seen of revisionsById.values()) revisions += seen.size - 1
  return { records: records.length, eventIds, searchIds, eventTimes, revisionsById, revisions }
}

/** The newest revision produced of each revised event. */
export function newestRevisions(revisionsById: RevisionsById): Map<string, number> {
  return new Map([...revisionsById].map(([id, seen]) => [id, Math.max(...seen)]))
}

/** True when the report shows anything lost, duplicated or left at an older revision. */
export function reportFailed(
  report: Pick<Report, 'lost' | 'duplicates' | 'stale'> & {
    store?: { lost: number; duplicates: number; stale: number }
  },
): boolean {
  const { store } = report
  const storeFailed = store !== undefined && (store.lost > 0 || store.duplicates > 0 || store.stale > 0)
  return report.lost > 0 || report.duplicates > 0 || report.stale > 0 || storeFailed
}

/**
 * How many of `ids` the sink holds, how many it holds more than once, and — for revised events,
 * given the revisions produced — how many it holds at an older revision than the newest (`stale`;
 * a document without `revision` counts as older).
 */
export async function searchSinkCounts(
  client: Client,
  topic: TopicName,
  ids: Set<string>,
  revisionsById?: RevisionsById,
) {
  const held = await searchSinkHoldings(client, topic, ids, revisionsById)
  return {
    documents: held.found,
    lost: held.missing.length,
    duplicates: held.duplicateIds.length,
    stale: held.staleIds.length,
  }
}

/** {@link searchSinkCounts} with the ids behind each count (the store reconciliation lists them). */
export async function searchSinkHoldings(
  client: Client,
  topic: TopicName,
  ids: Set<string>,
  revisionsById?: RevisionsById,
  alias = SEARCH_SINKS[topic].alias,
) {
  const { idField } = SEARCH_SINKS[topic]
  const exists = await client.indices.exists({ index: alias })
  if (!exists.body || ids.size === 0)
    return { found: 0, missing: [...ids], duplicateIds: [] as string[], staleIds: [] as string[] }
  await client.indices.refresh({ index: alias })
  const newest = newestRevisions(revisionsById ?? new Map())
  const present = new Set<string>()
  const duplicateIds: string[] = []
  const staleIds: string[] = []
  const all = [...ids]
  for (let i = 0; i < all.length; i += 1000) {
    const chunk = all.slice(i, i + 1000)
    // The plain transport: the typed search API rejects a valid terms aggregation.
    const response = await client.transport.request({
      method: 'POST',
      path: `/${alias}/_search`,
      body: {
        size: 0,
        query: { terms: { [idField]: chunk } },
        aggs: {
          ids: {
            terms: { field: idField, size: chunk.length, min_doc_count: 1 },
            // The oldest revision held: with one document per id (else a duplicate) it is the revision.
            ...(newest.size > 0 ? { aggs: { revision: { min: { field: 'revision' } } } } : {}),
          },
        },
      },
    })
    // No index behind the pattern yet: no aggregations, nothing held (every id is missing).
    const buckets =
      (
        response.body as {
          aggregations?: {
            ids: { buckets: Array<{ key: string; doc_count: number; revision?: { value: number | null } }> }
          }
        }
      ).aggregations?.ids.buckets ?? []
    for (const bucket of buckets) {
      present.add(bucket.key)
      if (bucket.doc_count > 1) duplicateIds.push(bucket.key)
      const expected = newest.get(bucket.key)
      if (expected !== undefined && (bucket.revision?.value ?? 0) < expected) staleIds.push(bucket.key)
    }
  }
  return { found: present.size, missing: all.filter((id) => !present.has(id)), duplicateIds, staleIds }
}

/** Quarantine records written since `since` (by their own `quarantined_at`). */
export async function quarantineSince(store: ObjectStore, since: Date): Promise<QuarantineRecord[]> {
  const records: QuarantineRecord[] = []
  for (const key of await store.list(QUARANTINE_PREFIX)) {
    const body = await store.get(key)
    if (!body) continue
    for (const line of Buffer.from(body).toString('utf8').split('\n')) {
      if (!line.trim()) continue
      const record = JSON.parse(line) as QuarantineRecord
      // A second of slack: quarantined_at is truncated to whole seconds.
      if (Date.parse(record.quarantined_at) >= since.getTime() - 1000) records.push(record)
    }
  }
  return records
}

/** The report's quarantine section: the total and the count per reason. */
export function quarantineSummary(records: QuarantineRecord[]) {
  const byReason: Record<string, number> = {}
  for (const record of records) byReason[record.reason] = (byReason[record.reason] ?? 0) + 1
  return { total: records.length, by_reason: byReason }
}

/** Consumer stages: what they quarantine was produced; what other stages quarantine never was. */
const CONSUMER_STAGES = new Set(['index-events', 'land-raw'])

/** Per topic, the records its producers rejected before Kafka. */
export function producerRejections(records: QuarantineRecord[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const record of records) {
    if (!CONSUMER_STAGES.has(record.stage)) counts[record.topic] = (counts[record.topic] ?? 0) + 1
  }
  return counts
}

export { endOffsets }
