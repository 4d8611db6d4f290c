/**
 * The store reconciliation's pure checks (local/report/store.ts runs them against the sinks):
 * where each id sits in its topic, why a lost id is lost, the raw zone's offset gaps below
 * land-raw's committed offset, which ids the lake is judged on, and the producer-side evidence
 * of poll-bars' settle state.
 */
import { markerChanged } from '../../functions/lake-window/core.ts'
import type { SettleState } from '../../functions/poll-bars/watermark.ts'
import { barEventId } from '../../functions/shared/contracts.ts'
import { landedMarkerKey, type RefreshCheckpoint } from '../../functions/shared/lake-state.ts'
import { newestRevisions, summarizeRecords, type TopicRecord } from './report.ts'

/** How many lost ids each sink lists (the counts are always complete). */
export const LOST_IDS_SHOWN = 20

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

/** The newest revision of each of `ids` (those revised), for the lake's stale check. */
export function newestOf(records: TopicRecord[], ids: Set<string>): Record<string, number> {
  const newest = newestRevisions(
    summarizeRecords(records.filter((r) => r.event && ids.has(r.event.eventId))).revisionsById ?? new Map(),
  )
  return Object.fromEntries(newest)
}
