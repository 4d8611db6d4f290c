/**
 * The report's `store` section: not the ids of one run but every contract-valid event id the
 * topics still hold (earliest retained offset to end), reconciled against each sink, so that a
 * hole left by an earlier, crashed run shows up in the next run's report. Each lost id is
 * explained: in the topic (a consumer missed it: where, and whether its consumer group has
 * committed past it) or not (the producer's own state says it emitted it: never acknowledged).
 * Per partition, every record below a land-raw group's committed offset must be in the raw zone
 * or in land-raw's quarantine: a gap is a loss even when the same ids sit at other offsets.
 *
 * The lake is judged only on the event-time partitions the scheduled refresh has been offered:
 * those whose landing marker the last successful checkpoint covers (see lakeDue in
 * store-checks.ts). The rest is `pending`, for the next scheduled refresh.
 */
import type { Client } from '@opensearch-project/opensearch'
import type { SettleState } from '../../functions/poll-bars/watermark.ts'
import { type QuarantineRecord, TOPICS, type TopicName } from '../../functions/shared/contracts.ts'
import {
  CHECKPOINT_KEY,
  LANDED_PREFIX,
  parseLandedMarkerKey,
  type RefreshCheckpoint,
} from '../../functions/shared/lake-state.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import { QUARANTINE_PREFIX } from '../../functions/shared/quarantine.ts'
import { readRawTopic } from '../../functions/shared/raw-zone.ts'
import type { LakeCounts } from '../lake/counts.ts'
import { searchSinkHoldings, summarizeRecords, type TopicRecord } from './report.ts'
import {
  explainLost,
  LOST_IDS_SHOWN,
  type LostId,
  lakeDue,
  locate,
  newestOf,
  type PartitionFigures,
  rawOffsetGaps,
  type StoreSinkFigures,
  unacknowledgedBars,
} from './store-checks.ts'
import type { CommittedOffsets, StoreTopic } from './store-topics.ts'
import { countRawLines } from './stream.ts'

export type { StoreSinkFigures } from './store-checks.ts'

/** The checks the store section makes, stated in the report itself. */
export const STORE_CHECKS = [
  'every contract-valid event id retained in each topic (earliest offset to end) against OpenSearch, the raw zone (every revision) and the lake',
  'lost ids: in_topic with topic/partition/offset and whether the sink consumer group committed past it',
  'per partition: committed offsets of every consumer group against the end offset; every record below land-raw committed offset is a raw line at the same offset or quarantined by land-raw',
  'lake: judged only on event-time partitions a successful scheduled refresh was offered (landing marker covered by the refresh checkpoint); the rest is pending',
  'producers: bars poll-bars settle state records as emitted (event_id, revision) must be in crypto.bars, else never acknowledged; no such state exists for trades and assets',
]

export interface StoreSection {
  checks: string[]
  topics: Record<
    string,
    { records: number; events: number; revisions: number; partitions: PartitionFigures[] }
  >
  opensearch: Record<string, StoreSinkFigures>
  raw: Record<string, StoreSinkFigures>
  lake?: Record<string, StoreSinkFigures>
  producers: { never_acknowledged: number; lost_ids: LostId[] }
  lost: number
  duplicates: number
  stale: number
}

export interface StoreSectionOptions {
  topics: StoreTopic[]
  search: Client
  rawStore: ObjectStore
  /** Every event source mapping: which group feeds which sink from which topic. */
  consumers: Array<{ sink: 'opensearch' | 'raw'; groupId: string; topic: string }>
  committed: CommittedOffsets
  /** The search index (alias) of each topic, by its report name. */
  searchIndex: (topic: TopicName) => { name: string; alias?: string }
  /** Lake figures per topic name, already judged on the due ids. */
  lake?: Record<string, StoreSinkFigures>
  /** poll-bars' settle state, when readable. */
  settle?: SettleState
}

type Sink = 'opensearch' | 'raw'

/** One topic reconciled against OpenSearch and the raw zone. */
interface TopicReconciliation {
  searchIndex: string
  opensearch: StoreSinkFigures
  raw: StoreSinkFigures
  topic: StoreSection['topics'][string]
}

/** Reconciles the whole store (see the module comment). */
export async function storeSection(options: StoreSectionOptions): Promise<StoreSection> {
  const section: StoreSection = {
    checks: STORE_CHECKS,
    topics: {},
    opensearch: {},
    raw: {},
    ...(options.lake ? { lake: options.lake } : {}),
    producers: { never_acknowledged: 0, lost_ids: [] },
    lost: 0,
    duplicates: 0,
    stale: 0,
  }
  const quarantined = await landRawQuarantine(options.rawStore)
  for (const topic of options.topics) {
    const reconciled = await reconcileTopic(topic, options, quarantined)
    section.opensearch[reconciled.searchIndex] = reconciled.opensearch
    section.raw[topic.name] = reconciled.raw
    section.topics[topic.name] = reconciled.topic
    for (const figures of [reconciled.opensearch, reconciled.raw]) addTotals(section, figures)
    if (topic.topic === TOPICS.bars && options.settle) {
      const unacknowledged = unacknowledgedBars(options.settle, topic.records)
      section.producers.never_acknowledged += unacknowledged.length
      section.producers.lost_ids.push(...unacknowledged.slice(0, LOST_IDS_SHOWN))
      section.lost += unacknowledged.length
    }
  }
  for (const figures of Object.values(options.lake ?? {})) addTotals(section, figures)
  return section
}

function addTotals(section: StoreSection, figures: StoreSinkFigures) {
  section.lost += figures.lost
  section.duplicates += figures.duplicates
  section.stale += figures.stale
}

async function reconcileTopic(
  topic: StoreTopic,
  options: StoreSectionOptions,
  quarantined: QuarantineRecord[],
): Promise<TopicReconciliation> {
  const events = summarizeRecords(topic.records)
  const where = locate(topic.records)
  const committedOf = (sink: Sink) => {
    const group = options.consumers.find((c) => c.sink === sink && c.topic === topic.name)?.groupId
    return group ? options.committed.get(group)?.get(topic.name) : undefined
  }

  const index = options.searchIndex(topic.topic)
  const held = await searchSinkHoldings(
    options.search,
    topic.topic,
    events.searchIds,
    events.revisionsById,
    index.alias,
  )
  const opensearch: StoreSinkFigures = {
    checked: events.searchIds.size,
    lost: held.missing.length,
    duplicates: held.duplicateIds.length,
    stale: held.staleIds.length,
    lost_ids: explainLost(
      held.missing.map((id) => ({ id })),
      where,
      topic.name,
      committedOf('opensearch'),
    ),
  }

  const { lines } = await readRawTopic(options.rawStore, topic.name)
  const raw = countRawLines(lines, events.eventIds, events.revisionsById)
  const landed = new Set(lines.map((line) => `${line.partition}:${line.offset}`))
  for (const record of quarantined) {
    if (record.topic === topic.name && record.partition !== undefined && record.offset !== undefined)
      landed.add(`${record.partition}:${record.offset}`)
  }
  const gaps = rawOffsetGaps(topic.records, landed, committedOf('raw'))
  const uncounted = uncountedGapRecords(topic.records, landed, committedOf('raw'), raw.missing)
  return {
    searchIndex: index.name,
    opensearch,
    raw: {
      checked: events.eventIds.size + (events.revisions ?? 0),
      lost: raw.missing.length + uncounted,
      duplicates: raw.duplicates,
      stale: 0,
      lost_ids: explainLost(raw.missing, where, topic.name, committedOf('raw')),
      offset_gaps: [...gaps.values()].reduce((sum, p) => sum + p.missing, 0),
    },
    topic: {
      records: topic.records.length,
      events: events.eventIds.size,
      revisions: events.revisions ?? 0,
      partitions: partitionFigures(topic, options, gaps),
    },
  }
}

/** Per partition of the topic: its offsets, every consumer group's commit, its raw-zone gaps. */
function partitionFigures(
  topic: StoreTopic,
  options: StoreSectionOptions,
  gaps: Map<number, PartitionFigures['raw']>,
): PartitionFigures[] {
  const groups = options.consumers.filter((c) => c.topic === topic.name).map((c) => c.groupId)
  return topic.end.map((end, partition) => ({
    partition,
    earliest: (topic.earliest[partition] ?? 0n).toString(),
    end: end.toString(),
    committed: Object.fromEntries(
      groups.map((group) => [
        group,
        options.committed.get(group)?.get(topic.name)?.get(partition)?.toString() ?? null,
      ]),
    ),
    raw: gaps.get(partition) ?? { checked: 0, missing: 0, gaps: [] },
  }))
}

/**
 * A raw-zone gap is a loss even when its ids sit at other offsets (another revision, a resend):
 * the gap records not already counted as a missing id or revision, which add to `lost`.
 */
function uncountedGapRecords(
  records: TopicRecord[],
  landed: Set<string>,
  rawCommitted: Map<number, bigint> | undefined,
  missing: Array<{ id: string; revision?: number }>,
): number {
  const missingKeys = new Set(
    missing.map(({ id, revision }) => (revision === undefined ? id : `${id}@${revision}`)),
  )
  return records.filter((record) => {
    const done = rawCommitted?.get(record.partition)
    if (done === undefined || record.offset >= done || landed.has(`${record.partition}:${record.offset}`))
      return false
    const event = record.event
    return (
      !event || (!missingKeys.has(event.eventId) && !missingKeys.has(`${event.eventId}@${event.revision}`))
    )
  }).length
}

/** Every record land-raw quarantined, with its Kafka coordinates (the raw zone's other half). */
async function landRawQuarantine(store: ObjectStore): Promise<QuarantineRecord[]> {
  const records: QuarantineRecord[] = []
  for (const key of await store.list(QUARANTINE_PREFIX)) {
    if (!key.includes('/land-raw-')) continue
    const body = await store.get(key)
    if (!body) continue
    for (const line of Buffer.from(body).toString('utf8').split('\n')) {
      if (line.trim()) records.push(JSON.parse(line) as QuarantineRecord)
    }
  }
  return records
}

/**
 * The lake's share of the store: per topic, the ids it is judged on (offered to a successful
 * scheduled refresh, see {@link lakeDue}) with their newest revisions, and how many are pending.
 */
export async function lakeJudgement(
  rawStore: ObjectStore,
  topics: StoreTopic[],
  /** Per topic name, land-raw's committed offsets. */
  landRawCommitted: (topic: string) => Map<number, bigint> | undefined = () => undefined,
) {
  const markers: Array<{ key: string; lastModified: Date }> = []
  for (const object of await rawStore.listObjects(LANDED_PREFIX)) {
    if (parseLandedMarkerKey(object.key)) markers.push(object)
  }
  const body = await rawStore.get(CHECKPOINT_KEY)
  const checkpoint = body ? (JSON.parse(Buffer.from(body).toString('utf8')) as RefreshCheckpoint) : undefined
  const ids: Record<string, string[]> = {}
  const newest: Record<string, Record<string, number>> = {}
  const pending: Record<string, number> = {}
  for (const topic of topics) {
    const judged = lakeDue(topic.records, topic.name, markers, checkpoint, landRawCommitted(topic.name))
    ids[topic.name] = [...judged.due]
    newest[topic.name] = newestOf(topic.records, judged.due)
    pending[topic.name] = judged.pending.size
  }
  return { ids, newestRevisions: newest, pending, checkpoint: checkpoint?.listed_at ?? null }
}

/** The lake job's store figures as the store section's, each lost id explained from the topic. */
export function lakeFigures(
  counts: NonNullable<LakeCounts['store_topics']>,
  topics: StoreTopic[],
  pending: Record<string, number>,
): Record<string, StoreSinkFigures> {
  const out: Record<string, StoreSinkFigures> = {}
  for (const topic of topics) {
    const figures = counts[topic.name]
    if (!figures) continue
    const where = locate(topic.records)
    out[topic.name] = {
      checked: figures.expected,
      lost: figures.lost,
      duplicates: figures.duplicates,
      stale: figures.stale ?? 0,
      pending: pending[topic.name] ?? 0,
      lost_ids: explainLost(
        figures.lost_ids.map((id) => ({ id })),
        where,
        topic.name,
        undefined,
      ).map(({ consumed: _consumed, ...lost }) => lost),
    }
  }
  return out
}

/** One line per sink of the store section, for the terminal (local/cli.ts). */
export function storeSummary(store: Partial<StoreSection> | undefined): string[] {
  if (!store) return []
  const lines: string[] = []
  const sinks = [
    ['opensearch', store.opensearch],
    ['raw', store.raw],
    ['lake', store.lake],
  ] as const
  for (const [sink, figures] of sinks) {
    for (const [name, f] of Object.entries(figures ?? {})) {
      const extra = [
        f.offset_gaps ? `offset gaps ${f.offset_gaps}` : '',
        f.pending !== undefined ? `pending ${f.pending}` : '',
      ].filter(Boolean)
      const first = f.lost_ids[0]
      const example = first
        ? ` (e.g. ${first.event_id}${first.in_topic ? ` at ${first.topic}/${first.partition}@${first.offset}` : ', not in the topic'})`
        : ''
      lines.push(
        `store ${sink} ${name}: ${f.checked} checked, lost ${f.lost}, duplicates ${f.duplicates}, stale ${f.stale}${extra.length ? `, ${extra.join(', ')}` : ''}${example}`,
      )
    }
  }
  if (store.producers) lines.push(`store producers: never acknowledged ${store.producers.never_acknowledged}`)
  return lines
}
