/**
 * Raw Alpaca bars -> bar events. The raw bar is read by a zod schema over the JSON as
 * shared/adapters/http.ts hands it over (numbers as their source text, so prices stay exact),
 * then checked against the bar contract. A bar that fails either becomes a quarantine entry
 * whose detail says what was wrong, and, when its `t` can be read, the minute it belongs to.
 */
import type Big from 'big.js'
import * as z from 'zod'
import {
  BAR_SCHEMA_VERSION,
  type BarEvent,
  barEventId,
  describeIssues,
  type Ohlc,
  ohlcViolation,
  TOPICS,
} from '../shared/contracts.ts'
import { compiledSchemaOf } from '../shared/decode-record.ts'
import type { Rejection } from '../shared/ports.ts'
import { floorMinute, isoSeconds, MINUTE } from '../shared/time.ts'
import { alpacaDecimal, alpacaTime } from '../shared/upstream-fields.ts'

/** The instant as written in a detail: ISO-8601 UTC, milliseconds only when there are some. */
const isoInstant = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z')

/** A bar's start: a readable time, on the minute. */
const BarStart = alpacaTime('t').refine((ms) => ms % MINUTE === 0, {
  error: (issue) => `t is not on the minute: ${isoInstant(issue.input as number)}`,
})

const price = (field: string) =>
  alpacaDecimal(field).refine((value) => value.gt(0), {
    error: (issue) => `${field} is not a positive price: ${(issue.input as Big).toFixed()}`,
  })

const amount = (field: string) =>
  alpacaDecimal(field).refine((value) => value.gte(0), {
    error: (issue) => `${field} is negative: ${(issue.input as Big).toFixed()}`,
  })

const notTradeCount = (issue: { input?: unknown }) => `n is not a trade count: ${JSON.stringify(issue.input)}`

/** How the raw bar names open and close in a detail. */
const RAW_NAMES = { open: 'o', close: 'c' }

/** One raw bar of Alpaca's `bars` response, read into its contract fields (prices written out in full). */
const RawBarSchema = z
  .object(
    {
      t: BarStart,
      o: price('o'),
      h: price('h'),
      l: price('l'),
      c: price('c'),
      v: amount('v'),
      n: z
        .string({ error: notTradeCount })
        .regex(/^\d{1,15}$/, { error: notTradeCount })
        .transform(Number),
      vw: amount('vw'),
    },
    { error: (issue) => (issue.code === 'invalid_type' ? 'bar is not an object' : undefined) },
  )
  .transform((bar) => ({
    start: bar.t,
    open: bar.o.toFixed(),
    high: bar.h.toFixed(),
    low: bar.l.toFixed(),
    close: bar.c.toFixed(),
    volume: bar.v.toFixed(),
    trade_count: bar.n,
    vwap: bar.vw.toFixed(),
  }))
  // The contract's own OHLC rule, worded with the raw field names.
  .refine((bar) => ohlcViolation(bar, RAW_NAMES) === undefined, {
    error: (issue) => ohlcViolation(issue.input as Ohlc, RAW_NAMES),
  })

/**
 * The raw bar schema compiled by zod into straight-line code (about twice as fast over a
 * 30,000-bar backfill chunk), on the first bars read rather than at import: backfill-bars' plan
 * and landed Tasks load this module and read none.
 */
let compiledRawBar: typeof RawBarSchema | undefined
const rawBarSchema = () => {
  compiledRawBar ??= z.compile(RawBarSchema)
  return compiledRawBar
}

/**
 * The issues of a raw bar as one line. Absent (or null) fields are named together first, as
 * `missing field(s): c, v`; every other message already names its field.
 */
function describeRawBar(error: z.ZodError): string {
  const isMissing = (issue: z.core.$ZodIssue) =>
    issue.code === 'invalid_type' && issue.path.length === 1 && issue.input == null
  const missing = error.issues.filter(isMissing).map((issue) => issue.path.join('.'))
  const others = error.issues.filter((issue) => !isMissing(issue)).map((issue) => issue.message)
  return [...(missing.length > 0 ? [`missing field(s): ${missing.join(', ')}`] : []), ...others].join('; ')
}

/** A bar that failed validation, and its minute when that much could be read. */
export interface RejectedBar {
  rejection: Rejection
  /** The bar's start when `t` is a valid minute. */
  start?: number
  /** The minute `t` falls in when it is a readable time at all (an off-minute `t` too). */
  minute?: number
}

const tOf = (raw: unknown) =>
  raw !== null && typeof raw === 'object' ? (raw as { t?: unknown }).t : undefined

/** The start of a raw bar when its `t` is readable and on the minute (for rejected bars). */
const startOfRaw = (raw: unknown): number | undefined => BarStart.safeParse(tOf(raw)).data

/** The minute a raw bar's `t` falls in, on the minute or not; undefined when `t` is no time. */
export function minuteOfRaw(raw: unknown): number | undefined {
  const time = alpacaTime('t').safeParse(tOf(raw))
  return time.success ? floorMinute(time.data) : undefined
}

export function barRejection(symbol: string, raw: unknown, detail: string): Rejection {
  return {
    reason: 'upstream_malformed',
    detail,
    topic: TOPICS.bars,
    key: symbol,
    value: JSON.stringify(raw) ?? null,
  }
}

/** One raw bar as a bar event, or why it is none. */
function toEvent(
  symbol: string,
  raw: unknown,
  ingestedAt: string,
  revision: number,
): { event: BarEvent } | { detail: string } {
  const read = rawBarSchema().safeParse(raw, { reportInput: true })
  if (!read.success) return { detail: describeRawBar(read.error) }
  const { start, ...fields } = read.data
  const startIso = isoSeconds(start)
  // The very validator the consumers decode with (decode-record.ts): what is emitted, they accept.
  const parsed = compiledSchemaOf(TOPICS.bars).safeParse({
    schema_version: BAR_SCHEMA_VERSION,
    event_id: barEventId(symbol, startIso),
    revision,
    source: 'alpaca',
    symbol,
    timeframe: '1Min',
    start: startIso,
    ...fields,
    ingested_at: ingestedAt,
  })
  if (!parsed.success) return { detail: `violates the bar contract: ${describeIssues(parsed.error)}` }
  return { event: parsed.data }
}

/**
 * Validates the raw bars of one symbol into bar events, sorted by start, each with `revision`
 * and `ingested_at` from `observedAt` (the caller sets the revision of what it emits, see
 * settle.ts `nextRevision`). Each bar that is not a valid closed bar (missing or mistyped field,
 * NaN or non-positive price, high < low, open/close outside [low, high], timestamp not on the
 * minute, a second bar for the same minute) becomes a rejection with its reason instead.
 * Prices are compared as decimals.
 */
export function toBarEvents(
  symbol: string,
  rawBars: unknown[],
  observedAt: Date,
): { events: BarEvent[]; rejections: Rejection[]; rejected: RejectedBar[] } {
  const byStart = new Map<string, BarEvent>()
  const rejected: RejectedBar[] = []
  const ingestedAt = isoSeconds(observedAt)
  for (const raw of rawBars) {
    const result = toEvent(symbol, raw, ingestedAt, observedAt.getTime())
    if ('event' in result && !byStart.has(result.event.start)) {
      byStart.set(result.event.start, result.event)
      continue
    }
    const detail = 'detail' in result ? result.detail : `duplicate bar for ${result.event.start}`
    rejected.push({
      rejection: barRejection(symbol, raw, detail),
      start: startOfRaw(raw),
      minute: minuteOfRaw(raw),
    })
  }
  // ISO minutes in one format sort as strings.
  const events = [...byStart.values()].sort((a, b) => a.start.localeCompare(b.start))
  return { events, rejections: rejected.map((r) => r.rejection), rejected }
}

/**
 * The rejections of bars under a symbol key nobody asked for. A bar of a minute before
 * `firstNew` was quarantined by the poll that first read that minute: a re-read of the settle
 * window does not quarantine it again.
 */
export function strayBarRejections(
  bars: Record<string, unknown[]>,
  wanted: ReadonlySet<string>,
  firstNew: number,
): Rejection[] {
  return Object.entries(bars)
    .filter(([key]) => !wanted.has(key))
    .flatMap(([key, raws]) =>
      raws
        .filter((raw) => {
          const minute = minuteOfRaw(raw)
          return minute === undefined || minute >= firstNew
        })
        .map((raw) => barRejection(key, raw, `unknown symbol ${key}: not requested`)),
    )
}
