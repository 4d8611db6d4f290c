/**
 * Validation of one Kafka record against its topic's contract, shared by every consumer
 * (index-events, land-raw) so all sinks accept and reject exactly the same records.
 */
import {
  type AssetEvent,
  type BarEvent,
  isTopicName,
  TOPIC_SCHEMAS,
  type TopicName,
  type TradeEvent,
} from './contracts.ts'
import { decodeBase64, type MskRecord } from './msk.ts'
import type { Rejection } from './quarantine.ts'

/** Larger values are not events of ours; they are quarantined rather than sent to a sink. */
export const MAX_VALUE_BYTES = 64 * 1024

export type DecodedRecord =
  | { ok: true; topic: TopicName; event: BarEvent | TradeEvent | AssetEvent; text: string }
  | { ok: false; rejection: Rejection }

/** The quarantine entry of a record, with its Kafka coordinates and its value as received. */
export function rejectionOf(record: MskRecord, reason: Rejection['reason'], detail: string): Rejection {
  return {
    reason,
    detail,
    topic: record.topic,
    partition: record.partition,
    offset: String(record.offset),
    timestamp: new Date(record.timestamp).toISOString(),
    key: decodeBase64(record.key),
    value: record.value,
  }
}

/** Validates one Kafka record against its topic's contract. Pure. `text` is the value as UTF-8. */
export function decodeRecord(record: MskRecord): DecodedRecord {
  const reject = (reason: Rejection['reason'], detail: string): DecodedRecord => ({
    ok: false,
    rejection: rejectionOf(record, reason, detail),
  })
  if (!isTopicName(record.topic)) return reject('unknown_topic', `no contract for topic ${record.topic}`)
  if (record.value === null) return reject('null_value', 'record value is null (tombstone)')
  // Measured on the base64 text, without decoding: a huge value costs nothing to reject.
  const size = Buffer.byteLength(record.value, 'base64')
  if (size > MAX_VALUE_BYTES) return reject('oversized', `value is ${size} bytes, limit ${MAX_VALUE_BYTES}`)
  const bytes = Buffer.from(record.value, 'base64')
  const text = bytes.toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return reject('malformed_json', (error as Error).message)
  }
  const parsed = TOPIC_SCHEMAS[record.topic].safeParse(json)
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || '(value)'}: ${issue.message}`)
      .join('; ')
    return reject('schema_violation', detail)
  }
  return { ok: true, topic: record.topic, event: parsed.data, text }
}
