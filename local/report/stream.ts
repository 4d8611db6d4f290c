/**
 * The raw-zone side of the accounting report, read back from the objects under `RAW_DIR`: how
 * many records and objects each topic has in the raw zone, which produced events are missing
 * there (`lost`) and which Kafka records it holds more than once (`duplicates`). The raw zone is
 * the log: it keeps every revision of a bar, each its own Kafka record.
 */

import type { TopicName } from '../../functions/shared/contracts.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import { type RawLine, readRawTopic } from '../../functions/shared/raw-zone.ts'

/** The revisions seen of each revised event, by event id (bars; other topics have none). */
export type RevisionsById = Map<string, Set<number>>

/** The `revision` of a revised event (bar contract v2), else undefined. */
export function revisionOf(event: object): number | undefined {
  const revision = (event as { revision?: unknown }).revision
  return typeof revision === 'number' ? revision : undefined
}

/** Adds `revision` (when there is one) to the revisions seen of `eventId`. */
export function addRevision(
  revisionsById: RevisionsById,
  eventId: string,
  revision: number | undefined,
): void {
  if (revision === undefined) return
  const seen = revisionsById.get(eventId)
  if (seen) seen.add(revision)
  else revisionsById.set(eventId, new Set([revision]))
}

export interface RawSinkCounts {
  /** Lines in the topic's raw objects (one per landed Kafka record). */
  records: number
  objects: number
  /**
   * Produced event ids with no line in the raw zone, and, for revised events, each produced
   * (event_id, revision) with no line: the raw zone must keep every revision, not only the newest.
   */
  lost: number
  /**
   * Kafka records (partition, offset) held by more than one line. Not event ids: a producer that
   * re-emits an event (double-fired schedule, daily asset fetch, a bar's next revision) writes a
   * second Kafka record, which the raw zone keeps faithfully and the lake's MERGE collapses. So
   * the same (event_id, revision) twice is a duplicate only at the same coordinates.
   */
  duplicates: number
  /** Distinct event ids in the raw zone. */
  events: number
}

/**
 * Counts the raw zone of `topic` against the event ids produced to it. `producedIds` are
 * `event_id`s (for assets too: the raw zone keeps every fetch, not one line per asset);
 * `producedRevisions` the revisions produced of each revised event, each of which must be there.
 */
export async function rawSinkCounts(
  store: ObjectStore,
  topic: TopicName,
  producedIds: Set<string>,
  producedRevisions: RevisionsById = new Map(),
): Promise<RawSinkCounts> {
  const { objects, lines } = await readRawTopic(store, topic)
  const { missing, ...counts } = countRawLines(lines, producedIds, producedRevisions)
  return { ...counts, lost: missing.length, objects }
}

/**
 * The pure part of {@link rawSinkCounts}, over lines already read: also which produced ids (or
 * `id@revision` for a missing further revision) the raw zone lacks, for the store reconciliation.
 */
export function countRawLines(
  lines: Array<Pick<RawLine, 'event_id' | 'partition' | 'offset' | 'value'>>,
  producedIds: Set<string>,
  producedRevisions: RevisionsById = new Map(),
): Omit<RawSinkCounts, 'objects' | 'lost'> & { missing: Array<{ id: string; revision?: number }> } {
  const eventIds = new Set<string>()
  const seen = new Map<string, number>()
  const landedRevisions: RevisionsById = new Map()
  for (const line of lines) {
    eventIds.add(line.event_id)
    const coordinates = `${line.partition}:${line.offset}`
    seen.set(coordinates, (seen.get(coordinates) ?? 0) + 1)
    if (producedRevisions.has(line.event_id)) {
      addRevision(landedRevisions, line.event_id, revisionOf(JSON.parse(line.value) as object))
    }
  }
  const missing: Array<{ id: string; revision?: number }> = []
  for (const id of producedIds) if (!eventIds.has(id)) missing.push({ id })
  for (const [id, revisions] of producedRevisions) {
    // An id missing altogether is already lost once; each further missing revision adds one.
    if (!eventIds.has(id)) {
      for (const revision of [...revisions].sort((a, b) => a - b).slice(1)) missing.push({ id, revision })
    } else {
      for (const revision of revisions)
        if (!landedRevisions.get(id)?.has(revision)) missing.push({ id, revision })
    }
  }
  let duplicates = 0
  for (const count of seen.values()) if (count > 1) duplicates++
  return { records: lines.length, duplicates, events: eventIds.size, missing }
}
