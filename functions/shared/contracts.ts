/**
 * The event contracts every part of the pipeline agrees on: producers validate before they
 * emit, consumers validate before they index or land, and the PySpark jobs are tested against
 * the JSON Schema exported from these (tests/fixtures/contracts/).
 *
 * Money and quantities are decimal strings, never JSON numbers: they must not pass through
 * binary floating point on their way to `DECIMAL` columns.
 */
import * as z from 'zod'
import { compareDecimals, PLAIN_DECIMAL } from './decimal-order.ts'

export const SCHEMA_VERSION = 1
/**
 * Version 2 of the bar contract adds `revision`: Alpaca recalculates a published minute bar when
 * late trades arrive (same `start`, new values), and poll-bars emits each new content as a new
 * revision of the same `event_id`. Every sink keeps the highest revision of a bar.
 */
export const BAR_SCHEMA_VERSION = 2

export const TOPICS = {
  bars: 'crypto.bars',
  trades: 'crypto.trades',
  assets: 'crypto.assets',
} as const
export type TopicName = (typeof TOPICS)[keyof typeof TOPICS]

/** `2026-11-30T08:15:00Z`: whole seconds, UTC, no milliseconds — the form used inside ids. */
const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/
const ISO_MINUTE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$/
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/
/** A non-negative decimal written out in full (no exponent, no sign). */
const DECIMAL = /^\d{1,20}(\.\d{1,18})?$/
const POSITIVE_DECIMAL = /^(?!0+(\.0+)?$)\d{1,20}(\.\d{1,18})?$/

export const CryptoSymbol = z
  .string()
  .regex(/^[A-Z0-9]{2,12}\/[A-Z]{3,5}$/, 'symbol must look like BTC/USD')
  .describe('Alpaca crypto pair, BASE/QUOTE')
export const IsoSeconds = z.string().regex(ISO_SECONDS, 'timestamp must be ISO-8601 UTC in whole seconds')
export const IsoMinute = z.string().regex(ISO_MINUTE, 'timestamp must be on the minute, ISO-8601 UTC')
export const Decimal = z.string().regex(DECIMAL, 'must be a non-negative decimal string')
export const PositiveDecimal = z.string().regex(POSITIVE_DECIMAL, 'must be a positive decimal string')

export const barEventId = (symbol: string, start: string) => `alpaca:${symbol}:${start}`
export const tradeEventId = (tradeId: string) => `sim:${tradeId}`
export const assetEventId = (assetId: string, fetchDate: string) => `coinapi:${assetId}:${fetchDate}`

const envelope = {
  schema_version: z.literal(SCHEMA_VERSION),
  event_id: z.string().min(1).max(200),
}

/**
 * A bar's revision: the scheduled time, in epoch milliseconds, of the poll that first saw this
 * content of the bar (at least the previous revision + 1), so it strictly increases from one
 * revision of a bar to the next whichever invocation emitted it, and two deliveries of one
 * scheduled poll emit the same revision. Sinks compare it to keep the newest revision
 * (OpenSearch external version, the lake's MERGE).
 */
export const BarRevision = z
  .int()
  .positive()
  .max(Number.MAX_SAFE_INTEGER)
  .describe('epoch ms of the scheduled poll that first saw this content of the bar; higher = newer revision')

/** The prices of a bar, as decimal strings. */
export interface Ohlc {
  open: string
  high: string
  low: string
  close: string
}

const outside = (price: string, low: string, high: string) =>
  compareDecimals(price, low) < 0 || compareDecimals(price, high) > 0

const OHLC_NAMES = { open: 'open', close: 'close' }

/**
 * The first OHLC invariant a bar breaks (high >= low, then open and close within [low, high]),
 * or undefined. A bar whose prices are not all plain decimals is left to the checks of those
 * fields. `names` label open and close in the message (the raw Alpaca bar calls them `o` and
 * `c`). Cheap on a valid bar, which is what the consumers decode all day: five comparisons, no
 * allocation; the form of the prices is checked only to confirm a violation.
 */
export function ohlcViolation(bar: Ohlc, names = OHLC_NAMES): string | undefined {
  const { open, high, low, close } = bar
  if (
    typeof open !== 'string' ||
    typeof high !== 'string' ||
    typeof low !== 'string' ||
    typeof close !== 'string'
  )
    return undefined
  const violation =
    compareDecimals(high, low) < 0
      ? `high ${high} < low ${low}`
      : outside(open, low, high)
        ? `${names.open} ${open} outside [low ${low}, high ${high}]`
        : outside(close, low, high)
          ? `${names.close} ${close} outside [low ${low}, high ${high}]`
          : undefined
  if (violation === undefined) return undefined
  return [open, high, low, close].every((price) => PLAIN_DECIMAL.test(price)) ? violation : undefined
}

export const BarEventSchema = z
  .object({
    ...envelope,
    schema_version: z.literal(BAR_SCHEMA_VERSION),
    revision: BarRevision,
    source: z.literal('alpaca'),
    symbol: CryptoSymbol,
    timeframe: z.literal('1Min'),
    start: IsoMinute.describe('bar open time; the bar covers [start, start + 1 min)'),
    open: PositiveDecimal,
    high: PositiveDecimal,
    low: PositiveDecimal,
    close: PositiveDecimal,
    volume: Decimal,
    trade_count: z.int().nonnegative(),
    vwap: Decimal,
    ingested_at: IsoSeconds,
  })
  .strict()
  .refine((bar) => bar.event_id === barEventId(bar.symbol, bar.start), {
    message: 'event_id must be alpaca:{symbol}:{start}',
    path: ['event_id'],
  })
  // A plain predicate (no `when`, no ctx) so z.compile keeps it on the generated fast path.
  .refine((bar) => ohlcViolation(bar) === undefined, {
    error: (issue) => ohlcViolation(issue.input as Ohlc),
  })
export type BarEvent = z.infer<typeof BarEventSchema>

export const TradeSide = z.enum(['BUY', 'SELL'])

export const TradeEventSchema = z
  .object({
    ...envelope,
    source: z.literal('simulator'),
    trade_id: z.string().regex(/^\d{12}-\d{4}$/, 'trade_id must be {yyyyMMddHHmm}-{sequence}'),
    scheduled_at: IsoMinute.describe('the scheduled invocation that produced the trade'),
    executed_at: IsoSeconds,
    user_id: z.string().regex(/^u-\d{6}$/),
    // Personal data: exists only in Kafka and the encrypted raw zone; tokenized downstream.
    user_name: z.string().min(1).max(200),
    user_email: z.email(),
    document_id: z.string().regex(/^\d{11}$/, 'document_id must be an 11-digit CPF'),
    symbol: CryptoSymbol,
    side: TradeSide,
    price: PositiveDecimal,
    quantity: PositiveDecimal,
    notional: PositiveDecimal.describe('price x quantity, decimal arithmetic'),
    quote_at: IsoSeconds.describe('timestamp of the quote the price came from'),
  })
  .strict()
  .refine((trade) => trade.event_id === tradeEventId(trade.trade_id), {
    message: 'event_id must be sim:{trade_id}',
    path: ['event_id'],
  })
export type TradeEvent = z.infer<typeof TradeEventSchema>

export const AssetEventSchema = z
  .object({
    ...envelope,
    source: z.literal('coinapi'),
    asset_id: z.string().regex(/^[A-Z0-9]{2,12}$/),
    icon_url: z.url(),
    icon_size: z.int().positive(),
    fetch_date: z.string().regex(ISO_DATE),
    fetched_at: IsoSeconds,
  })
  .strict()
  .refine((asset) => asset.event_id === assetEventId(asset.asset_id, asset.fetch_date), {
    message: 'event_id must be coinapi:{asset_id}:{fetch_date}',
    path: ['event_id'],
  })
export type AssetEvent = z.infer<typeof AssetEventSchema>

/** Which contract each topic carries. */
export const TOPIC_SCHEMAS = {
  [TOPICS.bars]: BarEventSchema,
  [TOPICS.trades]: TradeEventSchema,
  [TOPICS.assets]: AssetEventSchema,
} as const

export const isTopicName = (topic: string): topic is TopicName => Object.hasOwn(TOPIC_SCHEMAS, topic)

/** The event a topic carries. */
export type TopicEvent<T extends TopicName> = z.infer<(typeof TOPIC_SCHEMAS)[T]>

/** Kafka key per topic: bars by symbol, trades by user, assets by asset (compacted topic). */
export const KEY_OF: { [T in TopicName]: (event: TopicEvent<T>) => string } = {
  [TOPICS.bars]: (event) => event.symbol,
  [TOPICS.trades]: (event) => event.user_id,
  [TOPICS.assets]: (event) => event.asset_id,
}

/** A zod error as one line: `path: message; ...`, the path of a top-level issue shown as `root`. */
export function describeIssues(error: z.ZodError, root = 'input'): string {
  return error.issues.map((issue) => `${issue.path.join('.') || root}: ${issue.message}`).join('; ')
}

/** Why a record went to quarantine. Stable strings: they are metric dimensions and report keys. */
export const QuarantineReason = z.enum([
  'malformed_json',
  'schema_violation',
  'unknown_topic',
  'null_value',
  'oversized',
  'index_rejected',
  'upstream_malformed',
])
export type QuarantineReason = z.infer<typeof QuarantineReason>

export const QuarantineRecordSchema = z
  .object({
    reason: QuarantineReason,
    detail: z.string(),
    stage: z.string().describe('which function rejected it'),
    topic: z.string(),
    partition: z.int().nonnegative().optional(),
    offset: z.string().optional().describe('Kafka offset as a decimal string'),
    timestamp: IsoSeconds.or(z.iso.datetime()).optional().describe('when the record was produced'),
    key: z.string().nullable().optional(),
    value: z.string().nullable().describe('the value as received (base64 for Kafka records)'),
    quarantined_at: IsoSeconds,
  })
  .strict()
export type QuarantineRecord = z.infer<typeof QuarantineRecordSchema>

/**
 * Kafka record header naming the sinks a record is for. Absent: every sink. `lake-only`: the raw
 * zone and the lake, not the search index (a backfill's old months: see backfill-bars).
 */
export const SINK_HEADER = 'crypto-sink'
export const LAKE_ONLY = 'lake-only'

/** The contracts exported as JSON Schema, keyed by file name under tests/fixtures/contracts/. */
export const EXPORTED_CONTRACTS = {
  'crypto.bars.schema.json': BarEventSchema,
  'crypto.trades.schema.json': TradeEventSchema,
  'crypto.assets.schema.json': AssetEventSchema,
  'quarantine.schema.json': QuarantineRecordSchema,
} as const
