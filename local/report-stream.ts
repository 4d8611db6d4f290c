/**
 * The raw-zone side of the accounting report, read back from the objects under `RAW_DIR`: how
 * many records and objects each topic has in the raw zone, which produced events are missing
 * there (`lost`) and which Kafka records it holds more than once (`duplicates`).
 */
import { TOPIC_SCHEMAS, type TopicName } from '../functions/shared/contracts.ts'
import type { ObjectStore } from '../functions/shared/object-store.ts'
import { readRawTopic } from '../functions/shared/raw-zone.ts'

export interface RawSinkCounts {
  /** Lines in the topic's raw objects (one per landed Kafka record). */
  records: number
  objects: number
  /** Produced event ids with no line in the raw zone. */
  lost: number
  /**
   * Kafka records (partition, offset) held by more than one line. Not event ids: a producer that
   * re-emits an event (double-fired schedule, daily asset fetch) writes a second Kafka record,
   * which the raw zone keeps faithfully and the lake's MERGE collapses.
   */
  duplicates: number
  /** Distinct event ids in the raw zone. */
  events: number
}

/**
 * Counts the raw zone of `topic` against the event ids produced to it. `producedIds` are
 * `event_id`s (for assets too: the raw zone keeps every fetch, not one line per asset).
 */
export async function rawSinkCounts(
  store: ObjectStore,
  topic: TopicName,
  producedIds: Set<string>,
): Promise<RawSinkCounts> {
  const { objects, lines } = await readRawTopic(store, topic)
  const eventIds = new Set<string>()
  const seen = new Map<string, number>()
  for (const line of lines) {
    eventIds.add(line.event_id)
    const coordinates = `${line.partition}:${line.offset}`
    seen.set(coordinates, (seen.get(coordinates) ?? 0) + 1)
  }
  let lost = 0
  for (const id of producedIds) if (!eventIds.has(id)) lost++
  let duplicates = 0
  for (const count of seen.values()) if (count > 1) duplicates++
  return { records: lines.length, objects, lost, duplicates, events: eventIds.size }
}

/** The report's `raw` section: `raw.<topic>.records` and `raw.<topic>.objects`, plus lost/duplicates. */
export async function rawSection(
  store: ObjectStore,
  produced: Partial<Record<TopicName, Set<string>>>,
): Promise<Record<string, RawSinkCounts>> {
  const section: Record<string, RawSinkCounts> = {}
  for (const [topic, ids] of Object.entries(produced) as Array<[TopicName, Set<string>]>) {
    section[topic] = await rawSinkCounts(store, topic, ids)
  }
  return section
}

/**
 * Event ids of the contract-valid events among produced record values (JSON text): what the raw
 * zone must hold. Invalid records are the quarantine's to count.
 */
export function validEventIds(topic: TopicName, values: Iterable<string>): Set<string> {
  const ids = new Set<string>()
  for (const value of values) {
    let json: unknown
    try {
      json = JSON.parse(value)
    } catch {
      continue
    }
    const parsed = TOPIC_SCHEMAS[topic].safeParse(json)
    if (parsed.success) ids.add(parsed.data.event_id)
  }
  return ids
}
