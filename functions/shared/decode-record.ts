/**
 * Validation of one Kafka record against its topic's contract, shared by every consumer
 * (index-events, land-raw) so all sinks accept and reject exactly the same records.
 */
import * as z from 'zod'
import {
  type AssetEvent,
  type BarEvent,
  isTopicName,
  TOPIC_SCHEMAS,
  type TopicName,
  type TradeEvent,
} from './contracts.ts'
import { decodeBase64, type MskRecord } from './msk.ts'
import type { Rejection } from './ports.ts'

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

/**
 * The topic contracts compiled by zod (`z.compile`) into generated validators: the same schemas,
 * checked by straight-line code instead of zod's interpreter, which cost ~4x `JSON.parse` per
 * record on its own. Whatever the generated path cannot decide falls back to the runtime
 * parser inside zod, so acceptance, rejections and their issues are the schema's
 * (tests/unit/decode-record.test.ts runs both over valid and invalid samples). Compiled on a
 * topic's first record, not at import: code generation stays off the cold-start path of
 * functions that import this module but never decode that topic.
 */
const compiledSchemas = new Map<TopicName, (typeof TOPIC_SCHEMAS)[TopicName]>()
export function compiledSchemaOf<T extends TopicName>(topic: T): (typeof TOPIC_SCHEMAS)[T] {
  let schema = compiledSchemas.get(topic)
  if (schema === undefined) {
    schema = z.compile(TOPIC_SCHEMAS[topic])
    compiledSchemas.set(topic, schema)
  }
  return schema as (typeof TOPIC_SCHEMAS)[T]
}

// A function of the module, not a closure made per record: decoding runs per record on the hot path.
const reject = (record: MskRecord, reason: Rejection['reason'], detail: string): DecodedRecord => ({
  ok: false,
  rejection: rejectionOf(record, reason, detail),
})

/** Validates one Kafka record against its topic's contract. Pure. `text` is the value as UTF-8. */
export function decodeRecord(record: MskRecord): DecodedRecord {
  if (!isTopicName(record.topic))
    return reject(record, 'unknown_topic', `no contract for topic ${record.topic}`)
  if (record.value === null) return reject(record, 'null_value', 'record value is null (tombstone)')
  // Measured on the base64 text, without decoding: a huge value costs nothing to reject.
  const size = Buffer.byteLength(record.value, 'base64')
  if (size > MAX_VALUE_BYTES)
    return reject(record, 'oversized', `value is ${size} bytes, limit ${MAX_VALUE_BYTES}`)
  const bytes = Buffer.from(record.value, 'base64')
  const text = bytes.toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return reject(record, 'malformed_json', (error as Error).message)
  }
  const parsed = compiledSchemaOf(record.topic).safeParse(json)
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || '(value)'}: ${issue.message}`)
      .join('; ')
    return reject(record, 'schema_violation', detail)
  }
  return { ok: true, topic: record.topic, event: parsed.data, text }
}
