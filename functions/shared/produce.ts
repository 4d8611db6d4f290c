/**
 * Producing events: one record per event, keyed by its topic's key and serialized as JSON, sent
 * in chunks so a long window is acknowledged (and its progress recorded) piece by piece.
 */
import { KEY_OF, type TopicEvent, type TopicName } from './contracts.ts'
import type { EventProducer, OutgoingRecord } from './ports.ts'

export const DEFAULT_PRODUCE_CHUNK = 500

/** The Kafka record of one event of `topic`. */
export function eventRecord<T extends TopicName>(
  topic: T,
  event: TopicEvent<T>,
  headers?: Record<string, string>,
): OutgoingRecord {
  const record: OutgoingRecord = { topic, key: KEY_OF[topic](event), value: JSON.stringify(event) }
  return headers === undefined ? record : { ...record, headers }
}

/**
 * Sends `items` in chunks of `chunkSize` records, in order, and calls `onAcknowledged` with each
 * chunk once the broker acknowledged it. The first failed send throws: the chunks before it were
 * acknowledged and reported, the rest were never sent.
 */
export async function produceInChunks<I>(
  producer: EventProducer,
  items: readonly I[],
  toRecord: (item: I) => OutgoingRecord,
  options: { chunkSize?: number; onAcknowledged?: (chunk: I[]) => void } = {},
): Promise<void> {
  const chunkSize = options.chunkSize ?? DEFAULT_PRODUCE_CHUNK
  for (let i = 0; i < items.length; i += chunkSize) {
    const chunk = items.slice(i, i + chunkSize)
    await producer.send(chunk.map(toRecord))
    options.onAcknowledged?.(chunk)
  }
}
