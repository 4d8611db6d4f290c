/**
 * index-events: one MSK batch in, every valid event indexed in OpenSearch under its
 * deterministic `_id`, every invalid record quarantined with its reason, and whatever could
 * not be indexed after bounded retries — bounded in number and by the Lambda deadline — reported
 * back as a partial batch failure so the event source resumes from it. One poison record never
 * fails or stalls the batch. Trades carry the icon of their base asset (`asset_icon_url`) when
 * one is known. Bars are versioned by their `revision`: the node keeps the highest, and a
 * redelivered or older revision is skipped. A large batch is decoded slice by slice, each slice's
 * `_bulk` request sent while the next is decoded (bulk-pipeline.ts).
 */

import {
  type AssetEvent,
  type BarEvent,
  LAKE_ONLY,
  SINK_HEADER,
  TOPICS,
  type TopicName,
  type TradeEvent,
} from '../shared/contracts.ts'
import { decodeRecord, rejectionOf } from '../shared/decode-record.ts'
import {
  headerValue,
  type KafkaBatchResponse,
  type MskEvent,
  type MskRecord,
  toBatchResponse,
} from '../shared/msk.ts'
import { tokenize } from '../shared/pii.ts'
import type { BulkDoc, BulkItemResult, Counter, Rejection, SearchIndex } from '../shared/ports.ts'
import { ASSETS_INDEX, BARS_ALIAS, TRADES_ALIAS } from '../shared/search-templates.ts'
import { BULK_SHAPE, type BulkShape, bulkPipeline, type Sent, slicesOf } from './bulk-pipeline.ts'
import { baseAssetOf, type IconSource } from './icons.ts'

// Validation is shared with land-raw (every sink accepts the same records); re-exported for callers.
export { decodeRecord, MAX_VALUE_BYTES } from '../shared/decode-record.ts'

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
  /** Icons attached to trades (`asset_icon_url`); without it trades are indexed without icons. */
  icons?: IconSource
  /** Told when icons could not be looked up: trades are then indexed without them. */
  onIconLookupError?: (error: unknown) => void
  /** Epoch ms now; `Date.now` by default. */
  clock?: () => number
  /**
   * Epoch ms by which the last bulk request must have returned (the Lambda deadline less what
   * the batch needs afterwards). A retry starts only if its backoff and a whole bulk request
   * (`requestTimeoutMs`) fit before it, and any request only if it fits; otherwise the records
   * still pending are reported as batch item failures at once, rather than the invocation timing
   * out and the event source retrying the whole batch. No deadline: the attempts alone bound the
   * retries.
   */
  deadline?: number
  /** The longest one bulk request can take (the client's request timeout). */
  requestTimeoutMs?: number
  /** Documents per `_bulk` request and requests at once; `BULK_SHAPE` by default. */
  bulkShape?: BulkShape
}

interface Pending {
  record: MskRecord
  doc: BulkDoc
}

const monthOf = (iso: string) => `${iso.slice(0, 4)}.${iso.slice(5, 7)}`

/** The OpenSearch document of an event: which index (by event time), which `_id`, which body. Pure. */
export function toBulkDoc(
  topic: TopicName,
  event: BarEvent | TradeEvent | AssetEvent,
  piiKey: string,
  iconUrl?: string,
  token: (value: string) => string = (value) => tokenize(piiKey, value),
): BulkDoc {
  switch (topic) {
    case TOPICS.bars: {
      const bar = event as BarEvent
      // The revision is the external version: a redelivered or older revision cannot replace a newer one.
      return {
        index: `${BARS_ALIAS}-${monthOf(bar.start)}`,
        id: bar.event_id,
        doc: bar,
        version: bar.revision,
      }
    }
    case TOPICS.trades: {
      const { user_name, user_email, document_id, ...trade } = event as TradeEvent
      return {
        index: `${TRADES_ALIAS}-${monthOf(trade.executed_at)}`,
        id: trade.event_id,
        doc: {
          ...trade,
          user_name_token: token(user_name),
          user_email_token: token(user_email),
          document_id_token: token(document_id),
          ...(iconUrl === undefined ? {} : { asset_icon_url: iconUrl }),
        },
      }
    }
    case TOPICS.assets: {
      const asset = event as AssetEvent
      // One document per asset: the latest fetch replaces the previous one.
      return { index: ASSETS_INDEX, id: asset.asset_id, doc: asset }
    }
  }
}

/**
 * `tokenize` with the tokens of one batch remembered: a batch holds many trades of the same
 * users, and an HMAC per personal field per trade was the largest CPU cost after decoding.
 * Per batch, so the memory is bounded by the batch and the key can change between invocations.
 */
export function batchTokenizer(piiKey: string): (value: string) => string {
  const tokens = new Map<string, string>()
  return (value) => {
    let token = tokens.get(value)
    if (token === undefined) {
      token = tokenize(piiKey, value)
      tokens.set(value, token)
    }
    return token
  }
}

/**
 * The icon of each traded asset of one slice. Asset events of the slice are remembered first
 * (they are the freshest icons; an earlier slice's are already remembered). Icons are an
 * enrichment: when the lookup fails the trades are indexed without them rather than held back.
 */
async function iconsForTrades(
  valid: Array<{ topic: TopicName; event: BarEvent | TradeEvent | AssetEvent }>,
  deps: IndexEventsDeps,
): Promise<Map<string, string>> {
  if (!deps.icons) return new Map()
  const assetIds = new Set<string>()
  for (const { topic, event } of valid) {
    if (topic === TOPICS.assets) {
      const asset = event as AssetEvent
      deps.icons.remember(asset.asset_id, asset.icon_url)
    } else if (topic === TOPICS.trades) assetIds.add(baseAssetOf((event as TradeEvent).symbol))
  }
  if (assetIds.size === 0) return new Map()
  try {
    return await deps.icons.iconsFor([...assetIds])
  } catch (error) {
    deps.counter.count('IconLookupFailures', 1)
    deps.onIconLookupError?.(error)
    return new Map()
  }
}

const isRetryable = (result: BulkItemResult) => result.status === 429 || result.status >= 500

/**
 * The node already holds this version of the document or a newer one (external versioning answers
 * 409 `version_conflict_engine_exception`): a redelivery or an older revision, nothing to write.
 * That is success — not an error to retry or quarantine — or the partition would stall on it.
 */
const isNotNewer = (result: BulkItemResult, doc: BulkDoc) =>
  doc.version !== undefined &&
  result.status === 409 &&
  result.error?.type === 'version_conflict_engine_exception'

/** What one batch came to so far: rejections to quarantine, and the counts of the metrics. */
interface Tally {
  rejections: Rejection[]
  lakeOnly: number
  indexed: number
  notNewer: number
}

/**
 * One slice of the batch decoded into its documents: invalid records become rejections,
 * lake-only ones are counted and left to the raw zone, trades get their icons.
 */
async function documentsOf(
  records: MskRecord[],
  deps: IndexEventsDeps,
  token: (value: string) => string,
  tally: Tally,
): Promise<Pending[]> {
  const valid: Array<{ record: MskRecord; topic: TopicName; event: BarEvent | TradeEvent | AssetEvent }> = []
  for (const record of records) {
    const decoded = decodeRecord(record)
    if (!decoded.ok) tally.rejections.push(decoded.rejection)
    // Valid, and meant for the raw zone and the lake only (a backfill's old months): done here.
    else if (record.headers.length > 0 && headerValue(record.headers, SINK_HEADER) === LAKE_ONLY)
      tally.lakeOnly++
    else valid.push({ record, topic: decoded.topic, event: decoded.event })
  }
  const icons = await iconsForTrades(valid, deps)
  return valid.map(({ record, topic, event }) => ({
    record,
    doc: toBulkDoc(
      topic,
      event,
      deps.piiKey,
      topic === TOPICS.trades ? icons.get(baseAssetOf((event as TradeEvent).symbol)) : undefined,
      token,
    ),
  }))
}

/** The items of an attempt still to retry; the others counted as done or rejected. */
function settle(sent: Array<Sent<Pending>>, tally: Tally): Pending[] {
  const retry: Pending[] = []
  for (const { items, results } of sent) {
    results.forEach((result, i) => {
      const item = items[i] as Pending
      if (result.status >= 200 && result.status < 300) tally.indexed++
      else if (isNotNewer(result, item.doc)) tally.notNewer++
      else if (isRetryable(result)) retry.push(item)
      else
        tally.rejections.push(
          rejectionOf(
            item.record,
            'index_rejected',
            `${result.status} ${result.error?.type}: ${result.error?.reason}`,
          ),
        )
    })
  }
  return retry
}

export async function indexEvents(event: MskEvent, deps: IndexEventsDeps): Promise<KafkaBatchResponse> {
  const attempts = deps.attempts ?? 4
  const baseDelayMs = deps.baseDelayMs ?? 200
  const shape = deps.bulkShape ?? BULK_SHAPE
  const clock = deps.clock ?? Date.now
  const deadline = deps.deadline ?? Number.POSITIVE_INFINITY
  const requestTimeoutMs = deps.requestTimeoutMs ?? 0
  // A request starts only if it can return before the deadline; the items it would have held
  // are retried, or reported as batch item failures when no retry fits either.
  const pipeline = () =>
    bulkPipeline<Pending>(deps.index, shape, () => clock() + requestTimeoutMs <= deadline)
  const tally: Tally = { rejections: [], lakeOnly: 0, indexed: 0, notNewer: 0 }

  // The first attempt sends each slice while the next is decoded.
  const token = batchTokenizer(deps.piiKey)
  const first = pipeline()
  for (const records of slicesOf(Object.values(event.records).flat(), shape.docsPerRequest)) {
    await first.add(await documentsOf(records, deps, token, tally))
  }
  let pending = settle(await first.done(), tally)

  for (let attempt = 2; attempt <= attempts && pending.length > 0; attempt++) {
    const delayMs = baseDelayMs * 2 ** (attempt - 2) * (0.5 + Math.random())
    if (clock() + delayMs + requestTimeoutMs > deadline) {
      deps.counter.count('RetriesStoppedByDeadline', 1)
      break
    }
    deps.counter.count('IndexRetries', pending.length)
    await deps.sleep(delayMs)
    const retry = pipeline()
    for (const items of slicesOf(pending, shape.docsPerRequest)) await retry.add(items)
    pending = settle(await retry.done(), tally)
  }

  await deps.quarantine(tally.rejections)
  if (tally.lakeOnly > 0) deps.counter.count('LakeOnlySkipped', tally.lakeOnly)
  deps.counter.count('EventsIndexed', tally.indexed)
  if (tally.notNewer > 0) deps.counter.count('StaleRevisionsSkipped', tally.notNewer)
  if (pending.length > 0) deps.counter.count('BatchItemFailures', pending.length)
  return toBatchResponse(pending.map((item) => item.record))
}
