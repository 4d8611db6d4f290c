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
 * those whose landing marker the last successful checkpoint covers ({@link markerChanged} is
 * false). The rest is `pending`, for the next scheduled refresh.
 */
import type { Client } from '@opensearch-project/opensearch'
import { Admin } from '@platformatic/kafka'
import { markerChanged } from '../../functions/lake-window/core.ts'
import type { SettleState } from '../../functions/poll-bars/watermark.ts'
import { type KafkaConnection, kafkaConnectionOptions } from '../../functions/shared/adapters/kafka.ts'
import {
  barEventId,
  type QuarantineRecord,
  TOPICS,
  type TopicName,
} from '../../functions/shared/contracts.ts'
import {
  CHECKPOINT_KEY,
  LANDED_PREFIX,
  landedMarkerKey,
  parseLandedMarkerKey,
  type RefreshCheckpoint,
} from '../../functions/shared/lake-state.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import { QUARANTINE_PREFIX } from '../../functions/shared/quarantine.ts'
import { readRawTopic } from '../../functions/shared/raw-zone.ts'
import type { LakeCounts } from '../lake/counts.ts'
import { earliestOffsets, endOffsets, readRange } from '../runtime/kafka-read.ts'
import {
  newestRevisions,
  searchSinkHoldings,
  summarizeRecords,
  type TopicRecord,
  toTopicRecords,
} from './report.ts'
import { countRawLines } from './stream.ts'

/** How many lost ids each sink lists (the counts are always complete). */
export const LOST_IDS_SHOWN = 20

/** One topic as the store holds it: every retained record, read once. */
export interface StoreTopic {
  topic: TopicName
  /** The topic's physical name (the contract name, except in tests that isolate themselves). */
  name: string
  earliest: bigint[]
  end: bigint[]
  records: TopicRecord[]
}

/** Every retained record of each topic, earliest offset to end. */
export async function readStoreTopics(
  kafka: KafkaConnection,
  topics: TopicName[],
  nameOf: (topic: TopicName) => string = (topic) => topic,
): Promise<StoreTopic[]> {
  const names = topics.map(nameOf)
  const [earliest, end] = await Promise.all([earliestOffsets(kafka, names), endOffsets(kafka, names)])
  const out: StoreTopic[] = []
  for (const topic of topics) {
    const name = nameOf(topic)
    const from = earliest.get(name) ?? []
    const to = end.get(name) ?? []
    out.push({
      topic,
      name,
      earliest: from,
      end: to,
      records: toTopicRecords(topic, await readRange(kafka, name, from, to)),
    })
  }
  return out
}

/** The records of a store topic within [from, to) per partition: a run's share of it. */
export function recordsBetween(records: TopicRecord[], from: bigint[], to: bigint[]): TopicRecord[] {
  return records.filter((r) => r.offset >= (from[r.partition] ?? 0n) && r.offset < (to[r.partition] ?? 0n))
}

/** Consumer group -> topic -> committed offset per partition (absent: nothing committed). */
export type CommittedOffsets = Map<string, Map<string, Map<number, bigint>>>

export async function committedOffsets(kafka: KafkaConnection, groups: string[]): Promise<CommittedOffsets> {
  const out: CommittedOffsets = new Map()
  if (groups.length === 0) return out
  const admin = new Admin(kafkaConnectionOptions(kafka, 'report-offsets'))
  try {
    for (const group of await admin.listConsumerGroupOffsets({ groups: [...new Set(groups)] })) {
      const topics = new Map<string, Map<number, bigint>>()
      for (const topic of group.topics) {
        const partitions = new Map<number, bigint>()
        for (const p of topic.partitions)
          if (p.committedOffset >= 0n) partitions.set(p.partitionIndex, p.committedOffset)
        topics.set(topic.name, partitions)
      }
      out.set(group.groupId, topics)
    }
    return out
  } finally {
    await admin.close()
  }
}

export interface LostId {
  event_id: string
  /** For a missing further revision of a bar (the raw zone keeps each). */
  revision?: number
  /** True: the topic holds it, a consumer (or the lake refresh) missed it. False: never acknowledged. */
  in_topic: boolean
  topic?: string
  partition?: number
  offset?: string
  /** Whether the sink's consumer group has committed past it (false: not consumed yet). */
  consumed?: boolean
  why?: string
}

export interface StoreSinkFigures {
  /** Ids (raw zone: ids and further revisions) the sink must hold. */
  checked: number
  lost: number
  duplicates: number
  stale: number
  /** Raw zone only: records below land-raw's committed offset neither landed nor quarantined. */
  offset_gaps?: number
  /** Lake only: ids of partitions the scheduled refresh has not been offered yet (not judged). */
  pending?: number
  lost_ids: LostId[]
}

export interface PartitionFigures {
  partition: number
  earliest: string
  end: string
  /** Per consumer group of the partition's topic: its committed offset (null: none). */
  committed: Record<string, string | null>
  /** Records below land-raw's committed offset, and those neither in the raw zone nor quarantined. */
  raw: { checked: number; missing: number; gaps: Array<{ first: string; last: string; records: number }> }
}

interface Location {
  partition: number
  offset: bigint
}

/** Where each event id (and `id@revision`) last appears in the records: its newest revision's record. */
export function locate(records: TopicRecord[]): Map<string, Location> {
  const where = new Map<string, Location>()
  const revisionAt = new Map<string, number>()
  for (const { event, partition, offset } of records) {
    if (!event) continue
    const revision = event.revision ?? 0
    for (const key of [event.eventId, event.searchId]) {
      if ((revisionAt.get(key) ?? Number.NEGATIVE_INFINITY) <= revision) {
        where.set(key, { partition, offset })
        revisionAt.set(key, revision)
      }
    }
    if (event.revision !== undefined) where.set(`${event.eventId}@${event.revision}`, { partition, offset })
  }
  return where
}

/** The first `cap` missing ids, each with its coordinates and whether its consumer was past it. */
export function explainLost(
  missing: Array<{ id: string; revision?: number }>,
  where: Map<string, Location>,
  topic: string,
  committed: Map<number, bigint> | undefined,
  cap = LOST_IDS_SHOWN,
): LostId[] {
  return missing.slice(0, cap).map(({ id, revision }) => {
    const at = where.get(revision === undefined ? id : `${id}@${revision}`) ?? where.get(id)
    if (!at) return { event_id: id, ...(revision === undefined ? {} : { revision }), in_topic: false }
    const done = committed?.get(at.partition)
    return {
      event_id: id,
      ...(revision === undefined ? {} : { revision }),
      in_topic: true,
      topic,
      partition: at.partition,
      offset: at.offset.toString(),
      consumed: done !== undefined && done > at.offset,
    }
  })
}

/**
 * Per partition, the records below the committed offset of land-raw's group that are neither a
 * raw line (same partition and offset) nor quarantined by land-raw: gaps in the raw zone's
 * offsets, as ranges of consecutive missing records. Offsets the topic no longer retains are
 * not checked; offsets Kafka never used (none on these topics) are not records and not gaps.
 */
export function rawOffsetGaps(
  records: TopicRecord[],
  landed: Set<string>,
  committed: Map<number, bigint> | undefined,
): Map<number, PartitionFigures['raw']> {
  const out = new Map<number, PartitionFigures['raw']>()
  const sorted = [...records].sort(
    (a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0),
  )
  let open: { first: bigint; last: bigint; records: number } | undefined
  let openPartition = -1
  const close = () => {
    if (!open) return
    out
      .get(openPartition)
      ?.gaps.push({ first: open.first.toString(), last: open.last.toString(), records: open.records })
    open = undefined
  }
  for (const record of sorted) {
    if (record.partition !== openPartition) close()
    const figures = out.get(record.partition) ?? { checked: 0, missing: 0, gaps: [] }
    out.set(record.partition, figures)
    const done = committed?.get(record.partition)
    if (done === undefined || record.offset >= done) {
      close()
      continue
    }
    figures.checked++
    if (landed.has(`${record.partition}:${record.offset}`)) {
      close()
      continue
    }
    figures.missing++
    if (open && record.partition === openPartition) {
      open.last = record.offset
      open.records++
    } else {
      close()
      open = { first: record.offset, last: record.offset, records: 1 }
      openPartition = record.partition
    }
  }
  close()
  return out
}

/**
 * Splits the valid events of a topic into those the lake is judged on and those still pending:
 * judged when a successful scheduled refresh has been offered the event-time partition (its
 * landing marker is not changed since the checkpoint; a partition without marker will never be
 * planned, so it is judged too); pending otherwise, and all of them before any checkpoint.
 * Given land-raw's committed offsets, a record land-raw has not consumed yet is pending too.
 */
export function lakeDue(
  records: TopicRecord[],
  topic: string,
  markers: Array<{ key: string; lastModified: Date }>,
  checkpoint: RefreshCheckpoint | undefined,
  /** land-raw's committed offsets, when known: a record it has not consumed yet is pending. */
  landRawCommitted?: Map<number, bigint>,
): { due: Set<string>; pending: Set<string> } {
  const byKey = new Map(markers.map((marker) => [marker.key, marker]))
  const due = new Set<string>()
  const pending = new Set<string>()
  for (const { event, partition, offset } of records) {
    if (!event) continue
    const marker = byKey.get(landedMarkerKey(topic, event.eventTime))
    const notLanded = landRawCommitted !== undefined && !(offset < (landRawCommitted.get(partition) ?? 0n))
    if (!checkpoint || notLanded || (marker && markerChanged(marker, checkpoint))) pending.add(event.eventId)
    else due.add(event.eventId)
  }
  for (const id of due) if (pending.has(id)) due.delete(id)
  return { due, pending }
}

/**
 * Producer-side evidence, from poll-bars' settle state: every bar it recorded as emitted at a
 * revision (> 0; 0 is a bar never emitted valid) was acknowledged by the broker before the state
 * was written, so the topic must hold that (event_id, revision). One it lacks is lost before any
 * consumer: `in_topic: false`. The settle window is minutes long, well within retention.
 */
export function unacknowledgedBars(settle: SettleState, barRecords: TopicRecord[]): LostId[] {
  const held = new Set<string>()
  for (const { event } of barRecords) if (event) held.add(`${event.eventId}@${event.revision ?? 0}`)
  const lost: LostId[] = []
  for (const [symbol, bars] of Object.entries(settle)) {
    for (const [start, entry] of Object.entries(bars)) {
      const id = barEventId(symbol, start)
      if (entry.revision > 0 && !held.has(`${id}@${entry.revision}`)) {
        lost.push({
          event_id: id,
          revision: entry.revision,
          in_topic: false,
          why: 'poll-bars recorded it emitted; the topic lacks it (never acknowledged)',
        })
      }
    }
  }
  return lost
}

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
    const events = summarizeRecords(topic.records)
    const where = locate(topic.records)
    const groupOf = (sink: 'opensearch' | 'raw') =>
      options.consumers.find((c) => c.sink === sink && c.topic === topic.name)?.groupId
    const committedOf = (sink: 'opensearch' | 'raw') => {
      const group = groupOf(sink)
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
    section.opensearch[index.name] = {
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
    section.raw[topic.name] = {
      checked: events.eventIds.size + (events.revisions ?? 0),
      lost: raw.missing.length,
      duplicates: raw.duplicates,
      stale: 0,
      lost_ids: explainLost(raw.missing, where, topic.name, committedOf('raw')),
    }

    const landed = new Set(lines.map((line) => `${line.partition}:${line.offset}`))
    for (const record of quarantined) {
      if (record.topic === topic.name && record.partition !== undefined && record.offset !== undefined)
        landed.add(`${record.partition}:${record.offset}`)
    }
    const gaps = rawOffsetGaps(topic.records, landed, committedOf('raw'))
    const groups = options.consumers.filter((c) => c.topic === topic.name).map((c) => c.groupId)
    section.topics[topic.name] = {
      records: topic.records.length,
      events: events.eventIds.size,
      revisions: events.revisions ?? 0,
      partitions: topic.end.map((end, partition) => ({
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
      })),
    }
    // A raw-zone gap is a loss even when its ids sit at other offsets (another revision, a
    // resend): gap records not already counted as a missing id or revision add to `lost`.
    const missingKeys = new Set(
      raw.missing.map(({ id, revision }) => (revision === undefined ? id : `${id}@${revision}`)),
    )
    const rawCommitted = committedOf('raw')
    const uncounted = topic.records.filter((record) => {
      const done = rawCommitted?.get(record.partition)
      if (done === undefined || record.offset >= done || landed.has(`${record.partition}:${record.offset}`))
        return false
      const event = record.event
      return (
        !event || (!missingKeys.has(event.eventId) && !missingKeys.has(`${event.eventId}@${event.revision}`))
      )
    }).length
    const rawFigures = section.raw[topic.name]
    if (rawFigures) {
      rawFigures.offset_gaps = [...gaps.values()].reduce((sum, p) => sum + p.missing, 0)
      rawFigures.lost += uncounted
    }
    section.lost += held.missing.length + raw.missing.length + uncounted
    section.duplicates += held.duplicateIds.length + raw.duplicates
    section.stale += held.staleIds.length

    if (topic.topic === TOPICS.bars && options.settle) {
      const unacknowledged = unacknowledgedBars(options.settle, topic.records)
      section.producers.never_acknowledged += unacknowledged.length
      section.producers.lost_ids.push(...unacknowledged.slice(0, LOST_IDS_SHOWN))
      section.lost += unacknowledged.length
    }
  }
  for (const figures of Object.values(options.lake ?? {})) {
    section.lost += figures.lost
    section.duplicates += figures.duplicates
    section.stale += figures.stale
  }
  return section
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

/** The newest revision of each of `ids` (those revised), for the lake's stale check. */
export function newestOf(records: TopicRecord[], ids: Set<string>): Record<string, number> {
  const newest = newestRevisions(
    summarizeRecords(records.filter((r) => r.event && ids.has(r.event.eventId))).revisionsById ?? new Map(),
  )
  return Object.fromEntries(newest)
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
