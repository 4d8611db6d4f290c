/**
 * land-raw: one MSK batch in; every contract-valid record merged into its raw-zone object (one
 * object per topic-partition, event hour and fixed offset block), every invalid record
 * quarantined with its reason. An object that cannot be written is reported back as a partial
 * batch failure of its lowest offset, so the event source redelivers from there; the merge makes
 * that redelivery rewrite the same lines instead of adding copies.
 *
 * After its objects, each event-time partition the batch landed in gets its landing marker
 * rewritten (functions/shared/lake-state.ts): the scheduled lake refresh plans from the markers
 * changed since its last success, so late records and backfills reach the lake. A marker comes
 * after the data it announces; a marker that cannot be written fails its records like an object
 * write, and the redelivery writes it again (even when the merge itself has nothing to add).
 */

import type { TopicName } from '../shared/contracts.ts'
import { decodeRecord } from '../shared/decode-record.ts'
import { landedMarkerKey } from '../shared/lake-state.ts'
import { type KafkaBatchResponse, type MskEvent, type MskRecord, toBatchResponse } from '../shared/msk.ts'
import type { Counter, ObjectStore, Rejection } from '../shared/ports.ts'
import {
  eventTimeOf,
  mergeIntoObject,
  type RawLine,
  type RawObjectStore,
  rawKey,
  toRawLine,
} from '../shared/raw-zone.ts'

export interface LandRawDeps {
  store: RawObjectStore
  quarantine: (rejections: Rejection[]) => Promise<unknown>
  counter: Counter
  /** Where the landing markers go (the raw bucket; only `put` is used). */
  markers: Pick<ObjectStore, 'put'>
  clock?: () => Date
  /** Objects merged at the same time; each merge is a read and a write. */
  concurrency?: number
  /** Called with each object that could not be written, before its records are reported. */
  onWriteError?: (key: string, error: unknown) => void
}

export interface RawGroup {
  key: string
  topic: TopicName
  /** The landing marker of the group's event-time partition. */
  marker: string
  records: MskRecord[]
  lines: RawLine[]
}

/** Validates and groups a batch by raw object key. Pure. */
export function planRawObjects(event: MskEvent): { groups: RawGroup[]; rejections: Rejection[] } {
  const groups = new Map<string, RawGroup>()
  const rejections: Rejection[] = []
  for (const records of Object.values(event.records)) {
    for (const record of records) {
      const decoded = decodeRecord(record)
      if (!decoded.ok) {
        rejections.push(decoded.rejection)
        continue
      }
      const eventTime = eventTimeOf(decoded.topic, decoded.event)
      const key = rawKey(record.topic, record.partition, record.offset, eventTime)
      const group = groups.get(key) ?? {
        key,
        topic: decoded.topic,
        marker: landedMarkerKey(record.topic, eventTime),
        records: [],
        lines: [],
      }
      group.records.push(record)
      group.lines.push(toRawLine(record, decoded.text, decoded.event.event_id, eventTime))
      groups.set(key, group)
    }
  }
  return { groups: [...groups.values()], rejections }
}

export async function landRaw(event: MskEvent, deps: LandRawDeps): Promise<KafkaBatchResponse> {
  const { groups, rejections } = planRawObjects(event)
  // Quarantine first: if it throws, the whole batch fails and is retried (nothing vanishes).
  await deps.quarantine(rejections)

  const failed: MskRecord[] = []
  let landed = 0
  let written = 0
  const merged = new Map<string, MskRecord[]>()
  await inParallel(groups, deps.concurrency, async (group) => {
    try {
      const result = await mergeIntoObject(deps.store, group.key, group.lines)
      landed += group.lines.length
      if (result.written) written++
      merged.set(group.marker, [...(merged.get(group.marker) ?? []), ...group.records])
    } catch (error) {
      deps.onWriteError?.(group.key, error)
      failed.push(...group.records)
    }
  })
  const clock = deps.clock ?? (() => new Date())
  await inParallel([...merged], deps.concurrency, async ([marker, records]) => {
    try {
      const landedAt = clock().toISOString()
      await deps.markers.put(marker, `${JSON.stringify({ landed_at: landedAt })}\n`, 'application/json')
    } catch (error) {
      deps.onWriteError?.(marker, error)
      failed.push(...records)
    }
  })

  deps.counter.count('RawRecordsLanded', landed)
  deps.counter.count('RawObjectsWritten', written)
  if (failed.length > 0) deps.counter.count('BatchItemFailures', failed.length)
  return toBatchResponse(failed)
}

/** Runs `work` over `items`, at most `concurrency` (default 8) at a time. */
async function inParallel<T>(items: T[], concurrency: number | undefined, work: (item: T) => Promise<void>) {
  const queue = [...items]
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item)
  }
  await Promise.all(Array.from({ length: Math.max(1, concurrency ?? 8) }, worker))
}
