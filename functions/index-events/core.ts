/**
 * index-events: one MSK batch in, every valid event indexed in OpenSearch under its
 * deterministic `_id`, every invalid record quarantined with its reason, and whatever could
 * not be indexed after bounded retries reported back as a partial batch failure so the event
 * source resumes from it. One poison record never fails or stalls the batch.
 */
import {
  type AssetEvent,
  type BarEvent,
  isTopicName,
  TOPIC_SCHEMAS,
  TOPICS,
  type TopicName,
  type TradeEvent,
} from '../shared/contracts.ts'
import {
  decodeBase64,
  type KafkaBatchResponse,
  type MskEvent,
  type MskRecord,
  toBatchResponse,
} from '../shared/msk.ts'
import type { Counter } from '../shared/observability.ts'
import type { BulkDoc, BulkItemResult, SearchIndex } from '../shared/opensearch.ts'
import { tokenize } from '../shared/pii.ts'
import type { Rejection } from '../shared/quarantine.ts'
import { ASSETS_INDEX, BARS_ALIAS, TRADES_ALIAS } from '../shared/search-templates.ts'

/** Larger values are not events of ours; they are quarantined rather than sent to the index. */
export const MAX_VALUE_BYTES = 64 * 1024

export interface IndexEventsDeps {
  index: SearchIndex
  quarantine: (rejections: Rejection[]) => Promise<unknown>
  counter: Counter
  /** Key of the HMAC that replaces personal fields. */
  piiKey: string
  sleep: (ms: number) => Promise<void>
  /** Bulk attempts for retryable item failures (429, 5xx, connection errors). */
  attempts?: number
  baseDelayMs?: number
}

interface Pending {
  record: MskRecord
  doc: BulkDoc
}

type Decoded =
  | { ok: true; topic: TopicName; event: BarEvent | TradeEvent | AssetEvent }
  | { ok: false; rejection: Rejection }

/** Validates one Kafka record against its topic's contract. Pure. */
export function decodeRecord(record: MskRecord): Decoded {
  const base = {
    topic: record.topic,
    partition: record.partition,
    offset: String(record.offset),
    timestamp: new Date(record.timestamp).toISOString(),
    key: decodeBase64(record.key),
    value: record.value,
  }
  const reject = (reason: Rejection['reason'], detail: string): Decoded => ({
    ok: false,
    rejection: { ...base, reason, detail },
  })
  if (!isTopicName(record.topic)) return reject('unknown_topic', `no contract for topic ${record.topic}`)
  if (record.value === null) return reject('null_value', 'record value is null (tombstone)')
  const text = decodeBase64(record.value) ?? ''
  if (Buffer.byteLength(text) > MAX_VALUE_BYTES) {
    return reject('oversized', `value is ${Buffer.byteLength(text)} bytes, limit ${MAX_VALUE_BYTES}`)
  }
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
  return { ok: true, topic: record.topic, event: parsed.data }
}

const monthOf = (iso: string) => `${iso.slice(0, 4)}.${iso.slice(5, 7)}`

/** The OpenSearch document of an event: which index (by event time), which `_id`, which body. Pure. */
export function toBulkDoc(
  topic: TopicName,
  event: BarEvent | TradeEvent | AssetEvent,
  piiKey: string,
): BulkDoc {
  switch (topic) {
    case TOPICS.bars: {
      const bar = event as BarEvent
      return { index: `${BARS_ALIAS}-${monthOf(bar.start)}`, id: bar.event_id, doc: { ...bar } }
    }
    case TOPICS.trades: {
      const { user_name, user_email, document_id, ...trade } = event as TradeEvent
      return {
        index: `${TRADES_ALIAS}-${monthOf(trade.executed_at)}`,
        id: trade.event_id,
        doc: {
          ...trade,
          user_name_token: tokenize(piiKey, user_name),
          user_email_token: tokenize(piiKey, user_email),
          document_id_token: tokenize(piiKey, document_id),
        },
      }
    }
    case TOPICS.assets: {
      const asset = event as AssetEvent
      // One document per asset: the latest fetch replaces the previous one.
      return { index: ASSETS_INDEX, id: asset.asset_id, doc: { ...asset } }
    }
  }
}

const isRetryable = (result: BulkItemResult) => result.status === 429 || result.status >= 500

export async function indexEvents(event: MskEvent, deps: IndexEventsDeps): Promise<KafkaBatchResponse> {
  const attempts = deps.attempts ?? 4
  const baseDelayMs = deps.baseDelayMs ?? 200
  const rejections: Rejection[] = []
  let pending: Pending[] = []
  for (const records of Object.values(event.records)) {
    for (const record of records) {
      const decoded = decodeRecord(record)
      if (decoded.ok) pending.push({ record, doc: toBulkDoc(decoded.topic, decoded.event, deps.piiKey) })
      else rejections.push(decoded.rejection)
    }
  }

  let indexed = 0
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
    if (attempt > 1) {
      deps.counter.count('IndexRetries', pending.length)
      await deps.sleep(baseDelayMs * 2 ** (attempt - 2) * (0.5 + Math.random()))
    }
    let results: BulkItemResult[]
    try {
      results = await deps.index.bulkIndex(pending.map((item) => item.doc))
    } catch (error) {
      // The whole request failed (node down, timeout): every item is still pending.
      results = pending.map(() => ({ status: 503, error: { type: 'request_failed', reason: String(error) } }))
    }
    const retry: Pending[] = []
    results.forEach((result, i) => {
      const item = pending[i] as Pending
      if (result.status >= 200 && result.status < 300) indexed++
      else if (isRetryable(result)) retry.push(item)
      else
        rejections.push({
          reason: 'index_rejected',
          detail: `${result.status} ${result.error?.type}: ${result.error?.reason}`,
          topic: item.record.topic,
          partition: item.record.partition,
          offset: String(item.record.offset),
          timestamp: new Date(item.record.timestamp).toISOString(),
          key: decodeBase64(item.record.key),
          value: item.record.value,
        })
    })
    pending = retry
  }

  await deps.quarantine(rejections)
  deps.counter.count('EventsIndexed', indexed)
  if (pending.length > 0) deps.counter.count('BatchItemFailures', pending.length)
  return toBatchResponse(pending.map((item) => item.record))
}
