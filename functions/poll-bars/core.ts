/**
 * poll-bars: every minute, the closed 1-minute bars of each configured symbol since its
 * watermark, validated, to `crypto.bars` keyed by symbol.
 *
 * - Gap-free: each symbol resumes after its persisted watermark; after an outage the missed
 *   minutes are backfilled, up to a bound (older minutes are counted, not silently skipped).
 * - The in-progress minute is never emitted: a bar is closed once start + 1 min <= now.
 * - Idempotent: a bar's `event_id` is `alpaca:{symbol}:{start}`, so a re-polled window emits
 *   the same ids (sinks dedupe) and the watermark makes a repeated run emit nothing new.
 * - Nothing is dropped silently: malformed bodies and bars are quarantined with a reason.
 * - A failing symbol is recorded and the others go on; the run throws at the very end (so the
 *   Lambda error metric fires) after the others were emitted and their watermarks saved.
 */
import Big from 'big.js'
import {
  type BarEvent,
  BarEventSchema,
  barEventId,
  isoSeconds,
  SCHEMA_VERSION,
  TOPICS,
} from '../shared/contracts.ts'
import type { MalformedBody } from '../shared/http.ts'
import type { EventProducer, OutgoingRecord } from '../shared/kafka.ts'
import type { Counter } from '../shared/observability.ts'
import type { Rejection } from '../shared/quarantine.ts'
import { advanceWatermarks, type WatermarkStore, type Watermarks } from './watermark.ts'

const MINUTE = 60_000

export interface PollBarsConfig {
  symbols: string[]
  /** How far back a poll may reach after an outage (default 1440 = 24 h). */
  backfillMaxMinutes: number
  /** Window of a symbol's very first poll, when it has no watermark yet (default 5). */
  initialLookbackMinutes: number
  /** Records per producer send; the watermark advances per acknowledged chunk. */
  produceChunkSize?: number
  /** Time kept free at the end for quarantine and the watermark write. */
  reserveMs?: number
}

/** One API request: the symbols sharing a window, both ends inclusive bar starts. */
export interface BarRequest {
  symbols: string[]
  start: string
  end: string
}

export interface SymbolPlan {
  symbol: string
  /** First and last bar start wanted, inclusive, epoch ms. */
  from: number
  to: number
  /** Minutes between the watermark and the backfill bound that will never be polled. */
  truncatedMinutes: number
}

export type { MalformedBody }

export interface FetchedBars {
  /** Raw bars per symbol key as the API returned them, pages concatenated in order. */
  bars: Record<string, unknown[]>
  malformed: MalformedBody[]
  /** Set when fetching stopped early; `bars` then holds the pages received before. */
  error?: unknown
}

export type FetchBars = (
  symbols: string[],
  start: string,
  end: string,
  options: { deadline: number },
) => Promise<FetchedBars>

export interface PollBarsDeps {
  fetchBars: FetchBars
  producer: EventProducer
  watermarks: WatermarkStore
  /** Persists rejections (see shared/quarantine.ts); must throw if they cannot be kept. */
  quarantine: (rejections: Rejection[]) => Promise<unknown>
  counter: Counter
  clock: () => Date
  config: PollBarsConfig
  /** Tells whether a fetch failure is the request's own fault (a 4xx): then each symbol is tried alone. */
  isRequestRejected?: (error: unknown) => boolean
  log?: (message: string, fields: Record<string, unknown>) => void
}

export interface PollBarsInput {
  /** The scheduled time of the invocation (EventBridge `time`). */
  scheduledAt: Date
  /** Epoch ms by which the run must be done (Lambda remaining time minus a margin). */
  deadline?: number
}

export interface SymbolSummary {
  status: 'ok' | 'up_to_date' | 'failed'
  /** The window polled, inclusive bar starts. */
  window?: { start: string; end: string }
  emitted: number
  rejected: number
  truncatedMinutes: number
  watermark?: string
  error?: string
}

export interface PollBarsSummary {
  asOf: string
  emitted: number
  rejected: number
  perSymbol: Record<string, SymbolSummary>
}

export class PollBarsError extends Error {
  override name = 'PollBarsError'
  constructor(readonly summary: PollBarsSummary) {
    const failed = Object.entries(summary.perSymbol).filter(([, s]) => s.status === 'failed')
    super(`poll-bars failed for ${failed.map(([symbol, s]) => `${symbol} (${s.error})`).join(', ')}`)
  }
}

const isoMinute = (ms: number) => isoSeconds(ms)

/** The exclusive end of the closed minutes at `now`: bars starting before it are complete. */
export function closedMinuteEnd(now: Date): Date {
  return new Date(Math.floor(now.getTime() / MINUTE) * MINUTE)
}

/**
 * Per symbol, the bar starts to poll: after its watermark (or the initial lookback when it has
 * none) up to the last closed minute, never further back than the backfill bound. Symbols
 * sharing a window share one request (Alpaca's `limit` spans all symbols of a request).
 */
export function planBarRequests(params: {
  symbols: string[]
  watermarks: Watermarks
  now: Date
  backfillMaxMinutes: number
  initialLookbackMinutes: number
}): { plans: SymbolPlan[]; requests: BarRequest[]; upToDate: string[] } {
  const end = closedMinuteEnd(params.now).getTime()
  const to = end - MINUTE
  const earliest = end - params.backfillMaxMinutes * MINUTE
  const plans: SymbolPlan[] = []
  const upToDate: string[] = []
  for (const symbol of params.symbols) {
    const mark = params.watermarks[symbol]
    const wanted =
      mark === undefined ? end - params.initialLookbackMinutes * MINUTE : Date.parse(mark) + MINUTE
    const from = Math.max(wanted, earliest)
    if (from > to) {
      upToDate.push(symbol)
      continue
    }
    // Only a watermark left behind loses minutes; a first poll merely starts later.
    const truncatedMinutes = mark === undefined ? 0 : Math.max(0, (earliest - wanted) / MINUTE)
    plans.push({ symbol, from, to, truncatedMinutes })
  }
  const groups = Map.groupBy(plans, (plan) => `${plan.from}/${plan.to}`)
  const requests = [...groups.values()].map((group) => ({
    symbols: group.map((plan) => plan.symbol),
    start: isoMinute(group[0]?.from ?? 0),
    end: isoMinute(group[0]?.to ?? 0),
  }))
  return { plans, requests, upToDate }
}

const FIELDS = ['t', 'o', 'h', 'l', 'c', 'v', 'n', 'vw'] as const
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

/** A bar that failed validation, and its minute when that much could be read. */
export interface RejectedBar {
  rejection: Rejection
  start?: number
}

class Invalid extends Error {}

/**
 * Exact decimal text of an API number (numbers arrive as their JSON source text, see
 * shared/http.ts). Exponent forms (`8.473e-05`) are written out in full with big.js, so no
 * value ever passes through binary floating point.
 */
function decimalOf(field: string, value: unknown): Big {
  if (typeof value !== 'string') throw new Invalid(`${field} is not a number: ${JSON.stringify(value)}`)
  try {
    return new Big(value)
  } catch {
    throw new Invalid(`${field} is not a finite number: ${JSON.stringify(value)}`)
  }
}

function startOf(value: unknown): number {
  if (typeof value !== 'string' || !RFC3339.test(value))
    throw new Invalid(`t is not an RFC-3339 timestamp: ${JSON.stringify(value)}`)
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) throw new Invalid(`t is not a valid time: ${value}`)
  if (ms % MINUTE !== 0) throw new Invalid(`t is not on the minute: ${value}`)
  return ms
}

function toEvent(symbol: string, raw: unknown, ingestedAt: string): { event: BarEvent; start: number } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Invalid('bar is not an object')
  const bar = raw as Record<string, unknown>
  const missing = FIELDS.filter((field) => bar[field] === undefined || bar[field] === null)
  if (missing.length > 0) throw new Invalid(`missing field(s): ${missing.join(', ')}`)
  const start = startOf(bar.t)
  const [open, high, low, close, volume, vwap] = (['o', 'h', 'l', 'c', 'v', 'vw'] as const).map((field) =>
    decimalOf(field, bar[field]),
  ) as [Big, Big, Big, Big, Big, Big]
  for (const [field, value] of [
    ['o', open],
    ['h', high],
    ['l', low],
    ['c', close],
  ] as const) {
    if (value.lte(0)) throw new Invalid(`${field} is not a positive price: ${value.toFixed()}`)
  }
  if (volume.lt(0)) throw new Invalid(`v is negative: ${volume.toFixed()}`)
  if (vwap.lt(0)) throw new Invalid(`vw is negative: ${vwap.toFixed()}`)
  if (high.lt(low)) throw new Invalid(`high ${high.toFixed()} < low ${low.toFixed()}`)
  for (const [field, value] of [
    ['o', open],
    ['c', close],
  ] as const) {
    if (value.gt(high) || value.lt(low))
      throw new Invalid(`${field} ${value.toFixed()} outside [low ${low.toFixed()}, high ${high.toFixed()}]`)
  }
  if (typeof bar.n !== 'string' || !/^\d{1,15}$/.test(bar.n))
    throw new Invalid(`n is not a trade count: ${JSON.stringify(bar.n)}`)
  const startIso = isoMinute(start)
  const candidate = {
    schema_version: SCHEMA_VERSION,
    event_id: barEventId(symbol, startIso),
    source: 'alpaca',
    symbol,
    timeframe: '1Min',
    start: startIso,
    open: open.toFixed(),
    high: high.toFixed(),
    low: low.toFixed(),
    close: close.toFixed(),
    volume: volume.toFixed(),
    trade_count: Number(bar.n),
    vwap: vwap.toFixed(),
    ingested_at: ingestedAt,
  }
  const parsed = BarEventSchema.safeParse(candidate)
  if (!parsed.success) {
    throw new Invalid(
      `violates the bar contract: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    )
  }
  return { event: parsed.data, start }
}

/** The minute of a raw bar when its `t` is readable and on the minute (for rejected bars). */
function minuteOfRaw(raw: unknown): number | undefined {
  if (raw === null || typeof raw !== 'object') return undefined
  try {
    return startOf((raw as Record<string, unknown>).t)
  } catch {
    return undefined
  }
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

/**
 * Validates the raw bars of one symbol into bar events, sorted by start. Each bar that is not
 * a closed-form valid bar (missing or mistyped field, NaN or non-positive price, high < low,
 * open/close outside [low, high], timestamp not on the minute, a second bar for the same
 * minute) becomes a rejection with its reason instead. Prices are compared as decimals.
 */
export function toBarEvents(
  symbol: string,
  rawBars: unknown[],
  ingestedAt: string,
): { events: BarEvent[]; rejections: Rejection[]; rejected: RejectedBar[] } {
  const byStart = new Map<number, BarEvent>()
  const rejected: RejectedBar[] = []
  for (const raw of rawBars) {
    try {
      const { event, start } = toEvent(symbol, raw, ingestedAt)
      if (byStart.has(start)) throw new Invalid(`duplicate bar for ${event.start}`)
      byStart.set(start, event)
    } catch (error) {
      if (!(error instanceof Invalid)) throw error
      rejected.push({ rejection: barRejection(symbol, raw, error.message), start: minuteOfRaw(raw) })
    }
  }
  const events = [...byStart.entries()].sort(([a], [b]) => a - b).map(([, event]) => event)
  return { events, rejections: rejected.map((r) => r.rejection), rejected }
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * One poll. See the module comment for the guarantees. The watermark of a symbol moves to the
 * last bar start that was dealt with for good: acknowledged by the producer (after
 * `producer.send` resolved), or quarantined (kept with its reason; polling it again would only
 * quarantine it twice) — and never past a bar whose send failed.
 */
export async function pollBars(input: PollBarsInput, deps: PollBarsDeps): Promise<PollBarsSummary> {
  const { config } = deps
  const log = deps.log ?? (() => undefined)
  const chunkSize = config.produceChunkSize ?? 500
  const reserveMs = config.reserveMs ?? 2_000
  const deadline = input.deadline ?? Number.POSITIVE_INFINITY
  const started = deps.clock()
  // A late or replayed event must not widen the window; a clock behind the event must not
  // expose the in-progress minute: the earlier of the two decides.
  const asOf = new Date(Math.min(input.scheduledAt.getTime(), started.getTime()))

  const loaded = await deps.watermarks.load()
  const { plans, requests, upToDate } = planBarRequests({
    symbols: config.symbols,
    watermarks: loaded.marks,
    now: asOf,
    backfillMaxMinutes: config.backfillMaxMinutes,
    initialLookbackMinutes: config.initialLookbackMinutes,
  })
  const planOf = new Map(plans.map((plan) => [plan.symbol, plan]))
  const perSymbol: Record<string, SymbolSummary> = {}
  for (const symbol of upToDate) {
    perSymbol[symbol] = {
      status: 'up_to_date',
      emitted: 0,
      rejected: 0,
      truncatedMinutes: 0,
      watermark: loaded.marks[symbol],
    }
  }
  for (const plan of plans) {
    perSymbol[plan.symbol] = {
      status: 'ok',
      window: { start: isoMinute(plan.from), end: isoMinute(plan.to) },
      emitted: 0,
      rejected: 0,
      truncatedMinutes: plan.truncatedMinutes,
      watermark: loaded.marks[plan.symbol],
    }
    if (plan.truncatedMinutes > 0) {
      deps.counter.count('BarsBackfillTruncatedMinutes', plan.truncatedMinutes)
      log('backfill bound reached: older minutes are not polled', {
        symbol: plan.symbol,
        watermark: loaded.marks[plan.symbol],
        truncatedMinutes: plan.truncatedMinutes,
      })
    }
  }
  const fail = (symbol: string, error: unknown) => {
    const summary = perSymbol[symbol]
    if (summary) {
      summary.status = 'failed'
      summary.error = errorText(error)
    }
  }
  const updates: Watermarks = {}

  /** Quarantines, emits and records one fetched window for `symbols`. */
  async function handle(symbols: string[], fetched: FetchedBars): Promise<void> {
    const ingestedAt = isoSeconds(deps.clock())
    const wanted = new Set(symbols)
    const rejections: Rejection[] = fetched.malformed.map((body) => ({
      reason: 'malformed_json' as const,
      detail: body.detail,
      topic: TOPICS.bars,
      key: null,
      value: body.body,
    }))
    for (const [key, raws] of Object.entries(fetched.bars)) {
      if (wanted.has(key)) continue
      for (const raw of raws) rejections.push(barRejection(key, raw, `unknown symbol ${key}: not requested`))
    }
    const validated = new Map<string, { events: BarEvent[]; rejected: RejectedBar[] }>()
    for (const symbol of symbols) {
      const plan = planOf.get(symbol)
      if (!plan) continue
      const { events, rejected } = toBarEvents(symbol, fetched.bars[symbol] ?? [], ingestedAt)
      // Outside the window: already handled (before) or not closed yet (after); neither is emitted.
      const inWindow = (start: number) => start >= plan.from && start <= plan.to
      const kept = events.filter((event) => inWindow(Date.parse(event.start)))
      const outside = events.length - kept.length
      if (outside > 0) deps.counter.count('BarsOutsideWindow', outside)
      validated.set(symbol, { events: kept, rejected })
      for (const r of rejected) rejections.push(r.rejection)
    }
    if (rejections.length > 0) {
      try {
        await deps.quarantine(rejections)
      } catch (error) {
        // Without the quarantine copy, moving on would lose those records: the whole window fails.
        for (const symbol of symbols) fail(symbol, error)
        return
      }
    }
    for (const symbol of symbols) {
      const entry = validated.get(symbol)
      const summary = perSymbol[symbol]
      if (!entry || !summary) continue
      summary.rejected = entry.rejected.length
      let acked: number | undefined
      let sendFailed = false
      for (let i = 0; i < entry.events.length; i += chunkSize) {
        const chunk = entry.events.slice(i, i + chunkSize)
        const records: OutgoingRecord[] = chunk.map((event) => ({
          topic: TOPICS.bars,
          key: event.symbol,
          value: JSON.stringify(event),
        }))
        try {
          await deps.producer.send(records)
        } catch (error) {
          fail(symbol, error)
          sendFailed = true
          break
        }
        summary.emitted += chunk.length
        acked = Date.parse(chunk.at(-1)?.start ?? '')
      }
      let mark = acked
      if (!sendFailed) {
        const plan = planOf.get(symbol)
        for (const r of entry.rejected) {
          if (r.start !== undefined && plan && r.start <= plan.to && (mark === undefined || r.start > mark))
            mark = r.start
        }
      }
      if (mark !== undefined) updates[symbol] = isoMinute(mark)
    }
    if (fetched.error !== undefined) for (const symbol of symbols) fail(symbol, fetched.error)
  }

  async function fetchAndHandle(request: BarRequest): Promise<void> {
    if (deps.clock().getTime() >= deadline - reserveMs) {
      for (const symbol of request.symbols) fail(symbol, new Error('no time left before the deadline'))
      return
    }
    let fetched: FetchedBars
    try {
      fetched = await deps.fetchBars(request.symbols, request.start, request.end, {
        deadline: deadline - reserveMs,
      })
    } catch (error) {
      fetched = { bars: {}, malformed: [], error }
    }
    const rejectedRequest =
      fetched.error !== undefined &&
      request.symbols.length > 1 &&
      Object.keys(fetched.bars).length === 0 &&
      deps.isRequestRejected?.(fetched.error) === true
    if (rejectedRequest) {
      // One bad symbol can make the API reject the whole request: try each symbol alone.
      if (fetched.malformed.length > 0) await handle([], { bars: {}, malformed: fetched.malformed })
      for (const symbol of request.symbols) await fetchAndHandle({ ...request, symbols: [symbol] })
      return
    }
    await handle(request.symbols, fetched)
  }

  for (const request of requests) {
    try {
      await fetchAndHandle(request)
    } catch (error) {
      for (const symbol of request.symbols) fail(symbol, error)
    }
  }

  let saveError: unknown
  try {
    const stored = await advanceWatermarks(deps.watermarks, loaded, updates)
    for (const [symbol, summary] of Object.entries(perSymbol)) summary.watermark = stored[symbol]
  } catch (error) {
    saveError = error
  }

  const summary: PollBarsSummary = {
    asOf: isoSeconds(asOf),
    emitted: Object.values(perSymbol).reduce((sum, s) => sum + s.emitted, 0),
    rejected: Object.values(perSymbol).reduce((sum, s) => sum + s.rejected, 0),
    perSymbol,
  }
  deps.counter.count('BarsEmitted', summary.emitted)
  const end = closedMinuteEnd(asOf).getTime()
  const lags = config.symbols.map((symbol) => {
    const mark = perSymbol[symbol]?.watermark
    return mark === undefined ? config.backfillMaxMinutes : (end - MINUTE - Date.parse(mark)) / MINUTE
  })
  deps.counter.count('WatermarkLagMinutes', Math.max(0, ...lags))
  const failed = Object.entries(perSymbol).filter(([, s]) => s.status === 'failed')
  for (const [symbol] of failed) deps.counter.count('SymbolPollFailures', 1, { Symbol: symbol })
  if (saveError !== undefined) throw saveError
  if (failed.length > 0) throw new PollBarsError(summary)
  return summary
}
