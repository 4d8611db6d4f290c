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
 *
 * This file does the I/O in order; the decisions are pure steps beside it: plan.ts (the windows
 * to read), bars.ts (raw bar -> bar event or rejection), settle.ts (what changed since it was
 * emitted, how far the watermark may move), summary.ts (what the run reports and counts).
 */
import { TOPICS } from '../shared/contracts.ts'
import type { Counter, EventProducer, FetchBars, FetchedBars, Quarantine } from '../shared/ports.ts'
import { DEFAULT_PRODUCE_CHUNK, eventRecord, produceInChunks } from '../shared/produce.ts'
import { malformedBodyRejections } from '../shared/quarantine.ts'
import { isoSeconds } from '../shared/time.ts'
import { strayBarRejections, toBarEvents } from './bars.ts'
import {
  type BarRequest,
  closedMinuteEnd,
  planBarRequests,
  type SymbolPlan,
  settleWindowStart,
} from './plan.ts'
import { type BarDecision, decideBars, lastHandledStart } from './settle.ts'
import {
  anyFailed,
  countPoll,
  failSymbol,
  PollBarsError,
  type PollBarsSummary,
  type SymbolSummary,
  startingSummaries,
  summarize,
} from './summary.ts'
import {
  advanceWatermarks,
  type LoadedWatermarks,
  type SettledBar,
  type SettleState,
  type WatermarkStore,
  type Watermarks,
} from './watermark.ts'

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

export interface PollBarsDeps {
  fetchBars: FetchBars
  producer: EventProducer
  watermarks: WatermarkStore
  quarantine: Quarantine
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

/** One poll as it runs: what it planned, what it remembers, what it has moved so far. */
interface Poll {
  deps: PollBarsDeps
  scheduledAtMs: number
  /** When fetching must stop: the deadline minus the time kept for quarantine and watermarks. */
  fetchDeadline: number
  settleFrom: number
  loaded: LoadedWatermarks
  planOf: Map<string, SymbolPlan>
  perSymbol: Record<string, SymbolSummary>
  /** The marks to advance and the settle entries to merge once every window is handled. */
  updates: { marks: Watermarks; settle: SettleState }
}

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
  const settleMinutes = config.settleWindowMinutes ?? DEFAULT_SETTLE_WINDOW_MINUTES
  const fetchDeadline = (input.deadline ?? Number.POSITIVE_INFINITY) - (config.reserveMs ?? 2_000)
  await waitForPollSecond(input.scheduledAt, fetchDeadline, deps)
  // A late or replayed event must not widen the window; a clock behind the event must not
  // expose the in-progress minute: the earlier of the two decides.
  const asOf = new Date(Math.min(input.scheduledAt.getTime(), deps.clock().getTime()))
  const loaded = await deps.watermarks.load()
  const planned = planBarRequests({
    symbols: config.symbols,
    watermarks: loaded.marks,
    now: asOf,
    backfillMaxMinutes: config.backfillMaxMinutes,
    initialLookbackMinutes: config.initialLookbackMinutes,
    settleWindowMinutes: settleMinutes,
  })
  const poll: Poll = {
    deps,
    scheduledAtMs: input.scheduledAt.getTime(),
    fetchDeadline,
    settleFrom: settleWindowStart(asOf, settleMinutes),
    loaded,
    planOf: new Map(planned.plans.map((plan) => [plan.symbol, plan])),
    perSymbol: startingSummaries(planned, loaded.marks),
    updates: { marks: {}, settle: {} },
  }
  reportTruncation(poll, planned.plans)
  for (const request of planned.requests) {
    try {
      await fetchAndHandle(poll, request)
    } catch (error) {
      for (const symbol of request.symbols) failSymbol(poll.perSymbol, symbol, error)
    }
  }
  const saveError = await saveWatermarks(poll)
  const summary = summarize(asOf, poll.perSymbol)
  countPoll(deps.counter, summary, config, asOf)
  if (saveError !== undefined) throw saveError
  if (anyFailed(summary)) throw new PollBarsError(summary)
  return summary
}

/** Counts and logs the minutes a watermark left behind the backfill bound will never poll. */
function reportTruncation(poll: Poll, plans: SymbolPlan[]): void {
  for (const plan of plans) {
    if (plan.truncatedMinutes <= 0) continue
    poll.deps.counter.count('BarsBackfillTruncatedMinutes', plan.truncatedMinutes)
    poll.deps.log?.('backfill bound reached: older minutes are not polled', {
      symbol: plan.symbol,
      watermark: poll.loaded.marks[plan.symbol],
      truncatedMinutes: plan.truncatedMinutes,
    })
  }
}

/** Remembers a bar's settle entry when it is inside the settle window. */
function recordSettled(poll: Poll, symbol: string, start: number, entry: SettledBar): void {
  if (start < poll.settleFrom) return
  poll.updates.settle[symbol] ??= {}
  ;(poll.updates.settle[symbol] as Record<string, SettledBar>)[isoSeconds(start)] = entry
}

/** Fetches one request's window and handles it; a request the API rejects is split per symbol. */
async function fetchAndHandle(poll: Poll, request: BarRequest): Promise<void> {
  const { deps } = poll
  if (deps.clock().getTime() >= poll.fetchDeadline) {
    for (const symbol of request.symbols)
      failSymbol(poll.perSymbol, symbol, new Error('no time left before the deadline'))
    return
  }
  let fetched: FetchedBars
  try {
    fetched = await deps.fetchBars(request.symbols, request.start, request.end, {
      deadline: poll.fetchDeadline,
    })
  } catch (error) {
    fetched = { bars: {}, malformed: [], error }
  }
  const rejectedRequest =
    fetched.error !== undefined &&
    request.symbols.length > 1 &&
    Object.keys(fetched.bars).length === 0 &&
    deps.isRequestRejected?.(fetched.error) === true
  if (!rejectedRequest) return handleWindow(poll, request.symbols, fetched)
  // One bad symbol can make the API reject the whole request: try each symbol alone.
  if (fetched.malformed.length > 0) await handleWindow(poll, [], { bars: {}, malformed: fetched.malformed })
  for (const symbol of request.symbols) await fetchAndHandle(poll, { ...request, symbols: [symbol] })
}

/**
 * Quarantines, emits and records one fetched window for `symbols`. Nothing is emitted before
 * the window's rejections are kept: without the quarantine copy, moving on would lose them.
 */
async function handleWindow(poll: Poll, symbols: string[], fetched: FetchedBars): Promise<void> {
  const { deps } = poll
  const observedAt = deps.clock()
  const firstNew = Math.min(...symbols.map((symbol) => poll.planOf.get(symbol)?.newFrom ?? 0))
  const rejections = [
    ...malformedBodyRejections(TOPICS.bars, fetched.malformed),
    ...strayBarRejections(fetched.bars, new Set(symbols), firstNew),
  ]
  const decisions = new Map<string, BarDecision>()
  for (const symbol of symbols) {
    const plan = poll.planOf.get(symbol)
    if (!plan) continue
    const bars = toBarEvents(symbol, fetched.bars[symbol] ?? [], observedAt)
    const settled = (start: number) => poll.loaded.settle[symbol]?.[isoSeconds(start)]
    const decision = decideBars(plan, bars, settled, poll.scheduledAtMs)
    if (decision.outside > 0) deps.counter.count('BarsOutsideWindow', decision.outside)
    rejections.push(...decision.quarantine)
    decisions.set(symbol, decision)
  }
  if (rejections.length > 0) {
    try {
      await deps.quarantine(rejections)
    } catch (error) {
      for (const symbol of symbols) failSymbol(poll.perSymbol, symbol, error)
      return
    }
  }
  for (const [symbol, decision] of decisions)
    for (const { minute, entry } of decision.remember) recordSettled(poll, symbol, minute, entry)
  for (const [symbol, decision] of decisions) await emitSymbol(poll, symbol, decision)
  if (fetched.error !== undefined)
    for (const symbol of symbols) failSymbol(poll.perSymbol, symbol, fetched.error)
}

/**
 * Produces a symbol's changed bars in chunks, recording each acknowledged bar, and moves its
 * watermark to the last start handled for good (never past a bar whose send failed).
 */
async function emitSymbol(poll: Poll, symbol: string, decision: BarDecision): Promise<void> {
  const summary = poll.perSymbol[symbol]
  const plan = poll.planOf.get(symbol)
  if (!summary || !plan) return
  summary.rejected += decision.quarantine.length
  const sent: number[] = []
  let firstUnsent = Number.POSITIVE_INFINITY
  try {
    await produceInChunks(
      poll.deps.producer,
      decision.changed,
      ({ event }) => eventRecord(TOPICS.bars, event),
      {
        chunkSize: poll.deps.config.produceChunkSize ?? DEFAULT_PRODUCE_CHUNK,
        onAcknowledged: (chunk) => {
          for (const { event, digest, revised } of chunk) {
            const start = Date.parse(event.start)
            sent.push(start)
            recordSettled(poll, symbol, start, { digest, revision: event.revision })
            summary.emitted++
            if (revised) summary.revised++
          }
        },
      },
    )
  } catch (error) {
    failSymbol(poll.perSymbol, symbol, error)
    firstUnsent = Date.parse(decision.changed[sent.length]?.event.start ?? '')
  }
  const mark = lastHandledStart(decision, sent, firstUnsent, plan.to)
  if (mark !== undefined) poll.updates.marks[symbol] = isoSeconds(mark)
}

/** Advances the stored watermarks; returns the error instead of throwing, so the summary still counts. */
async function saveWatermarks(poll: Poll): Promise<unknown> {
  try {
    const stored = await advanceWatermarks(poll.deps.watermarks, poll.loaded, poll.updates, poll.settleFrom)
    for (const [symbol, summary] of Object.entries(poll.perSymbol)) summary.watermark = stored.marks[symbol]
    return undefined
  } catch (error) {
    return error
  }
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
