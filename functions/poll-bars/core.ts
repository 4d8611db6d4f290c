/**
 * poll-bars: every minute, the closed 1-minute bars of each configured symbol since its
 * watermark, validated, to `crypto.bars` keyed by symbol, plus a new revision of every bar of
 * the trailing settle window that Alpaca recalculated since it was emitted.
 *
 * - Fresh, then final: Alpaca publishes a minute bar a second or so after the minute closes
 *   and recalculates it about 30 s later when late trades arrive (same `t`, new values). A bar
 *   is emitted as soon as it is seen; each poll also re-reads the last `settleWindowMinutes`
 *   (default 3) and emits a bar again only when its content changed. Each emitted content
 *   carries `revision` = max(the poll's scheduled time in epoch ms, previous revision + 1):
 *   strictly increasing per bar, so every sink keeps the highest revision and the raw zone
 *   keeps all; and the same for two deliveries of one scheduled event that see the same
 *   content, so a double-fired schedule emits the same record twice, which every sink dedupes.
 *   The digest and revision of each bar inside the window live in the watermark document
 *   (watermark.ts), pruned as bars leave the window; overlapping invocations merge them
 *   keeping the higher revision.
 * - Polled a few seconds past the minute: with `pollAtSecond` the run first waits (bounded by
 *   the deadline) until that second of its scheduled minute, so the bar just closed is there.
 * - Gap-free: each symbol resumes after its persisted watermark; after an outage the missed
 *   minutes are backfilled, up to a bound (older minutes are counted, not silently skipped).
 * - The in-progress minute is never emitted: a bar is closed once start + 1 min <= now.
 * - Idempotent: a bar's `event_id` is `alpaca:{symbol}:{start}`, so a re-polled window emits
 *   the same ids (sinks dedupe) and the watermark makes a repeated run emit nothing new.
 * - Nothing is dropped silently: malformed bodies and bars are quarantined with a reason.
 * - A failing symbol is recorded and the others go on; the run throws at the very end (so the
 *   Lambda error metric fires) after the others were emitted and their watermarks saved.
 */
import { createHash } from 'node:crypto'
import Big from 'big.js'
import { BAR_SCHEMA_VERSION, type BarEvent, BarEventSchema, barEventId, TOPICS } from '../shared/contracts.ts'
import type {
  Counter,
  EventProducer,
  FetchBars,
  FetchedBars,
  OutgoingRecord,
  Rejection,
} from '../shared/ports.ts'
import { isoSeconds } from '../shared/time.ts'
import {
  advanceWatermarks,
  type SettledBar,
  type SettleState,
  type WatermarkStore,
  type Watermarks,
} from './watermark.ts'

const MINUTE = 60_000

/**
 * Alpaca recalculates a bar ~30 s after publishing it (~1-3 s after its minute). Three minutes
 * re-read each bar on the three polls after the one that first saw it could, whatever second
 * the schedule fires at: the recalculation lands before the next poll, and one missed or
 * failed invocation still leaves another re-read.
 */
export const DEFAULT_SETTLE_WINDOW_MINUTES = 3

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
  /** Closed minutes re-read on every poll to catch recalculated bars (default 3; 0 = none). */
  settleWindowMinutes?: number
  /** Second of the scheduled minute to wait for before polling (default 0 = no wait). */
  pollAtSecond?: number
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
  /** The first bar start never handled before (`from` is earlier when the settle window is re-read). */
  newFrom: number
}

export interface PollBarsDeps {
  fetchBars: FetchBars
  producer: EventProducer
  watermarks: WatermarkStore
  /** Persists rejections (see shared/quarantine.ts); must throw if they cannot be kept. */
  quarantine: (rejections: Rejection[]) => Promise<unknown>
  counter: Counter
  clock: () => Date
  /** Waits `ms` (the wait for `pollAtSecond`); a timer by default. */
  sleep?: (ms: number) => Promise<void>
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
  /** Records produced: first versions and new revisions. */
  emitted: number
  /** Of `emitted`, new revisions of a bar emitted before with other content. */
  revised: number
  rejected: number
  truncatedMinutes: number
  watermark?: string
  error?: string
}

export interface PollBarsSummary {
  asOf: string
  emitted: number
  revised: number
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

/** The first bar start of the settle window at `now`: bars from it on are re-read. */
export function settleWindowStart(now: Date, settleWindowMinutes: number): number {
  return closedMinuteEnd(now).getTime() - settleWindowMinutes * MINUTE
}

/**
 * Per symbol, the bar starts to poll: after its watermark (or the initial lookback when it has
 * none) up to the last closed minute, never further back than the backfill bound; a symbol
 * with a watermark also re-reads the settle window. Symbols sharing a window share one request
 * (Alpaca's `limit` spans all symbols of a request).
 */
export function planBarRequests(params: {
  symbols: string[]
  watermarks: Watermarks
  now: Date
  backfillMaxMinutes: number
  initialLookbackMinutes: number
  settleWindowMinutes?: number
}): { plans: SymbolPlan[]; requests: BarRequest[]; upToDate: string[] } {
  const end = closedMinuteEnd(params.now).getTime()
  const to = end - MINUTE
  const earliest = end - params.backfillMaxMinutes * MINUTE
  const settleFrom = settleWindowStart(params.now, params.settleWindowMinutes ?? 0)
  const plans: SymbolPlan[] = []
  const upToDate: string[] = []
  for (const symbol of params.symbols) {
    const mark = params.watermarks[symbol]
    const wanted =
      mark === undefined ? end - params.initialLookbackMinutes * MINUTE : Date.parse(mark) + MINUTE
    const newFrom = Math.max(wanted, earliest)
    // A first poll has nothing to re-read: its lookback is all new.
    const from = mark === undefined ? newFrom : Math.max(Math.min(wanted, settleFrom), earliest)
    if (from > to) {
      upToDate.push(symbol)
      continue
    }
    // Only a watermark left behind loses minutes; a first poll merely starts later.
    const truncatedMinutes = mark === undefined ? 0 : Math.max(0, (earliest - wanted) / MINUTE)
    plans.push({ symbol, from, to, truncatedMinutes, newFrom })
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
  /** The bar's start when `t` is a valid minute. */
  start?: number
  /** The minute `t` falls in when it is a readable time at all (an off-minute `t` too). */
  minute?: number
}

class Invalid extends Error {}

/**
 * Exact decimal text of an API number (numbers arrive as their JSON source text, see
 * shared/adapters/http.ts). Exponent forms (`8.473e-05`) are written out in full with big.js, so no
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

function toEvent(
  symbol: string,
  raw: unknown,
  ingestedAt: string,
  revision: number,
): { event: BarEvent; start: number } {
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
    schema_version: BAR_SCHEMA_VERSION,
    event_id: barEventId(symbol, startIso),
    revision,
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

/** The minute a raw bar's `t` falls in, on the minute or not; undefined when `t` is no time. */
function minuteHintOfRaw(raw: unknown): number | undefined {
  if (raw === null || typeof raw !== 'object') return undefined
  const t = (raw as Record<string, unknown>).t
  if (typeof t !== 'string' || !RFC3339.test(t)) return undefined
  const ms = Date.parse(t)
  return Number.isNaN(ms) ? undefined : Math.floor(ms / MINUTE) * MINUTE
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32)

/**
 * The digest of a bar's content: what Alpaca's recalculation changes (OHLC, volume, trade
 * count, VWAP), not when or how often poll-bars saw it.
 */
export function barDigest(event: BarEvent): string {
  const { open, high, low, close, volume, trade_count, vwap } = event
  return sha(JSON.stringify([open, high, low, close, volume, trade_count, vwap]))
}

/** The digest under which a quarantined version of a bar is remembered (so a re-read does not quarantine it twice). */
const rejectedDigest = (rejection: Rejection) => `rejected:${sha(rejection.value ?? '')}`

/**
 * The revision of a new content of a bar: the scheduled time of the poll that saw it (not the
 * clock: two deliveries of one scheduled event must agree), but always above the revision
 * emitted before (a replayed or late event carries an older time), so revisions strictly increase.
 */
export function nextRevision(scheduledAtMs: number, previous?: SettledBar): number {
  return Math.max(scheduledAtMs, (previous?.revision ?? 0) + 1)
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
 * Validates the raw bars of one symbol into bar events, sorted by start, each with `revision`
 * and `ingested_at` from `observedAt` (the caller sets the revision of what it emits, see
 * {@link nextRevision}). Each bar that is not
 * a closed-form valid bar (missing or mistyped field, NaN or non-positive price, high < low,
 * open/close outside [low, high], timestamp not on the minute, a second bar for the same
 * minute) becomes a rejection with its reason instead. Prices are compared as decimals.
 */
export function toBarEvents(
  symbol: string,
  rawBars: unknown[],
  observedAt: Date,
): { events: BarEvent[]; rejections: Rejection[]; rejected: RejectedBar[] } {
  const byStart = new Map<number, BarEvent>()
  const rejected: RejectedBar[] = []
  const ingestedAt = isoSeconds(observedAt)
  for (const raw of rawBars) {
    try {
      const { event, start } = toEvent(symbol, raw, ingestedAt, observedAt.getTime())
      if (byStart.has(start)) throw new Invalid(`duplicate bar for ${event.start}`)
      byStart.set(start, event)
    } catch (error) {
      if (!(error instanceof Invalid)) throw error
      rejected.push({
        rejection: barRejection(symbol, raw, error.message),
        start: minuteOfRaw(raw),
        minute: minuteHintOfRaw(raw),
      })
    }
  }
  const events = [...byStart.entries()].sort(([a], [b]) => a - b).map(([, event]) => event)
  return { events, rejections: rejected.map((r) => r.rejection), rejected }
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * One poll. See the module comment for the guarantees. The watermark of a symbol moves to the
 * last bar start that was dealt with for good: acknowledged by the producer (after
 * `producer.send` resolved), unchanged since it was emitted, or quarantined (kept with its
 * reason; polling it again would only quarantine it twice) — and never past a bar whose send
 * failed. The settle state records the digest and revision of every bar emitted (or
 * quarantined) inside the settle window, once acknowledged.
 */
export async function pollBars(input: PollBarsInput, deps: PollBarsDeps): Promise<PollBarsSummary> {
  const { config } = deps
  const log = deps.log ?? (() => undefined)
  const chunkSize = config.produceChunkSize ?? 500
  const reserveMs = config.reserveMs ?? 2_000
  const settleMinutes = config.settleWindowMinutes ?? DEFAULT_SETTLE_WINDOW_MINUTES
  const deadline = input.deadline ?? Number.POSITIVE_INFINITY
  await waitForPollSecond(input.scheduledAt, deadline - reserveMs, deps)
  const started = deps.clock()
  // A late or replayed event must not widen the window; a clock behind the event must not
  // expose the in-progress minute: the earlier of the two decides.
  const asOf = new Date(Math.min(input.scheduledAt.getTime(), started.getTime()))
  const settleFrom = settleWindowStart(asOf, settleMinutes)

  const loaded = await deps.watermarks.load()
  const { plans, requests, upToDate } = planBarRequests({
    symbols: config.symbols,
    watermarks: loaded.marks,
    now: asOf,
    backfillMaxMinutes: config.backfillMaxMinutes,
    initialLookbackMinutes: config.initialLookbackMinutes,
    settleWindowMinutes: settleMinutes,
  })
  const planOf = new Map(plans.map((plan) => [plan.symbol, plan]))
  const perSymbol: Record<string, SymbolSummary> = {}
  for (const symbol of upToDate) {
    perSymbol[symbol] = {
      status: 'up_to_date',
      emitted: 0,
      revised: 0,
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
      revised: 0,
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
  const settleUpdates: SettleState = {}
  const settled = (symbol: string, start: number) => loaded.settle[symbol]?.[isoMinute(start)]
  const recordSettled = (symbol: string, start: number, entry: SettledBar) => {
    if (start < settleFrom) return
    settleUpdates[symbol] ??= {}
    ;(settleUpdates[symbol] as Record<string, SettledBar>)[isoMinute(start)] = entry
  }

  /** Quarantines, emits and records one fetched window for `symbols`. */
  async function handle(symbols: string[], fetched: FetchedBars): Promise<void> {
    const observedAt = deps.clock()
    const wanted = new Set(symbols)
    const rejections: Rejection[] = fetched.malformed.map((body) => ({
      reason: 'malformed_json' as const,
      detail: body.detail,
      topic: TOPICS.bars,
      key: null,
      value: body.body,
    }))
    // A bar under a key nobody asked for was quarantined by the poll that first read its
    // minute; re-reads of the settle window must not quarantine it again.
    const firstNew = Math.min(...symbols.map((symbol) => planOf.get(symbol)?.newFrom ?? 0))
    for (const [key, raws] of Object.entries(fetched.bars)) {
      if (wanted.has(key)) continue
      for (const raw of raws) {
        const minute = minuteHintOfRaw(raw)
        if (minute !== undefined && minute < firstNew) continue
        rejections.push(barRejection(key, raw, `unknown symbol ${key}: not requested`))
      }
    }
    const validated = new Map<
      string,
      {
        changed: Array<{ event: BarEvent; digest: string; revised: boolean }>
        unchanged: number[]
        rejected: RejectedBar[]
        quarantined: number
      }
    >()
    const rejectedSettle: Array<{ symbol: string; minute: number; entry: SettledBar }> = []
    const adopted: Array<{ symbol: string; minute: number; entry: SettledBar }> = []
    for (const symbol of symbols) {
      const plan = planOf.get(symbol)
      if (!plan) continue
      const { events, rejected } = toBarEvents(symbol, fetched.bars[symbol] ?? [], observedAt)
      // Outside the window: already handled (before) or not closed yet (after); neither is emitted.
      const inWindow = (start: number) => start >= plan.from && start <= plan.to
      const kept = events.filter((event) => inWindow(Date.parse(event.start)))
      const outside = events.length - kept.length
      if (outside > 0) deps.counter.count('BarsOutsideWindow', outside)
      const changed: Array<{ event: BarEvent; digest: string; revised: boolean }> = []
      const unchanged: number[] = []
      for (const event of kept) {
        const start = Date.parse(event.start)
        const previous = settled(symbol, start)
        const digest = barDigest(event)
        if (previous?.digest === digest) {
          unchanged.push(start)
          continue
        }
        if (previous === undefined && start < plan.newFrom) {
          // Handled before, but nothing remembered of it: a document written before revisions,
          // or a minute before the symbol's first poll. Remember it; emit only what changes next.
          unchanged.push(start)
          adopted.push({ symbol, minute: start, entry: { digest, revision: 0 } })
          continue
        }
        const revision = nextRevision(input.scheduledAt.getTime(), previous)
        // A revision of a bar emitted before (not of one only ever quarantined).
        const revised = previous !== undefined && !previous.digest.startsWith('rejected:')
        changed.push({ event: { ...event, revision }, digest, revised })
      }
      const validStarts = new Set(kept.map((event) => Date.parse(event.start)))
      let quarantined = 0
      for (const r of rejected) {
        const minute = r.minute
        // Only a minute without a valid bar this time has one remembered version to compare with.
        const remembered = minute !== undefined && !validStarts.has(minute)
        if (remembered) {
          const previous = settled(symbol, minute)
          const digest = rejectedDigest(r.rejection)
          if (previous?.digest === digest) continue
          rejectedSettle.push({ symbol, minute, entry: { digest, revision: previous?.revision ?? 0 } })
        }
        rejections.push(r.rejection)
        quarantined++
      }
      validated.set(symbol, { changed, unchanged, rejected, quarantined })
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
    for (const { symbol, minute, entry } of [...rejectedSettle, ...adopted])
      recordSettled(symbol, minute, entry)
    for (const symbol of symbols) {
      const entry = validated.get(symbol)
      const summary = perSymbol[symbol]
      const plan = planOf.get(symbol)
      if (!entry || !summary || !plan) continue
      summary.rejected += entry.quarantined
      let firstUnsent = Number.POSITIVE_INFINITY
      const handled: number[] = []
      for (let i = 0; i < entry.changed.length; i += chunkSize) {
        const chunk = entry.changed.slice(i, i + chunkSize)
        const records: OutgoingRecord[] = chunk.map(({ event }) => ({
          topic: TOPICS.bars,
          key: event.symbol,
          value: JSON.stringify(event),
        }))
        try {
          await deps.producer.send(records)
        } catch (error) {
          fail(symbol, error)
          firstUnsent = Date.parse(chunk[0]?.event.start ?? '')
          break
        }
        for (const { event, digest, revised } of chunk) {
          const start = Date.parse(event.start)
          handled.push(start)
          recordSettled(symbol, start, { digest, revision: event.revision })
          summary.emitted++
          if (revised) summary.revised++
        }
      }
      for (const start of entry.unchanged) if (start < firstUnsent) handled.push(start)
      for (const r of entry.rejected)
        if (r.start !== undefined && r.start < firstUnsent) handled.push(r.start)
      const mark = Math.max(...handled.filter((start) => start <= plan.to))
      if (Number.isFinite(mark)) updates[symbol] = isoMinute(mark)
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
    const stored = await advanceWatermarks(
      deps.watermarks,
      loaded,
      { marks: updates, settle: settleUpdates },
      settleFrom,
    )
    for (const [symbol, summary] of Object.entries(perSymbol)) summary.watermark = stored.marks[symbol]
  } catch (error) {
    saveError = error
  }

  const total = (field: 'emitted' | 'revised' | 'rejected') =>
    Object.values(perSymbol).reduce((sum, s) => sum + s[field], 0)
  const summary: PollBarsSummary = {
    asOf: isoSeconds(asOf),
    emitted: total('emitted'),
    revised: total('revised'),
    rejected: total('rejected'),
    perSymbol,
  }
  deps.counter.count('BarsEmitted', summary.emitted)
  deps.counter.count('BarsRevised', summary.revised)
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

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Waits until `pollAtSecond` past the scheduled minute, when the clock is already in that
 * minute (a clock behind the event, or a replay long after it, does not wait), and never for
 * more than half the time left before `deadline`: EventBridge fires within the minute, Alpaca
 * publishes the bar ~1-3 s after it, so a poll at :00 would mostly find the previous bar only.
 */
export async function waitForPollSecond(
  scheduledAt: Date,
  deadline: number,
  deps: Pick<PollBarsDeps, 'clock' | 'sleep' | 'config'>,
): Promise<number> {
  const second = deps.config.pollAtSecond ?? 0
  if (second <= 0) return 0
  const now = deps.clock().getTime()
  const pollAt = closedMinuteEnd(scheduledAt).getTime() + second * 1000
  const ms = Math.min(pollAt - now, (deadline - now) / 2)
  if (!(ms > 0) || pollAt - now > second * 1000) return 0
  await (deps.sleep ?? timer)(ms)
  return ms
}
