/**
 * simulate-trades: every minute, a deterministic batch of BUY/SELL trades by the simulated
 * population, priced at the live Alpaca quote, to `crypto.trades` keyed by user.
 *
 * - Deterministic: everything but the price comes from (population seed, scheduled minute):
 *   trade ids `{yyyyMMddHHmm}-{sequence}`, users, symbols, sides, quantities and execution
 *   seconds. A double-fired or retried schedule re-emits the same trade ids (sinks dedupe on
 *   `event_id`); within the same quote the events are byte-identical. If the quote moved
 *   between two firings, the same trade carries the newer price and the sinks keep the last
 *   version of that id (index by `_id`, MERGE on `event_id`): never a second trade.
 * - Executed in the minute before the scheduled one: the run of minute M stands for the trades
 *   executed in [M - 1 min, M), at their planned seconds. So `executed_at` is never after the
 *   emission (the run starts at M or later; a trade the clock has not reached yet is held back,
 *   `TradesSkipped{Reason=not_yet_executed}`) and, with the schedule firing at the start of
 *   the minute, at most about a minute before the quote that prices it: the spread of one
 *   minute's trades, no more. It stays a pure function of (seed, minute): a re-fired minute
 *   lands its trades in the same raw partition and monthly index whatever the quote.
 * - Priced at the quote: ask for BUY, bid for SELL; notional = price x quantity in decimal
 *   arithmetic (big.js), never binary floating point.
 * - A symbol without a usable quote gets no trades: missing or stale quotes are logged and
 *   counted (`TradesSkipped` by reason); malformed quotes (bid >= ask, non-numeric, bad time)
 *   are also quarantined. Nothing invalid is emitted.
 *
 * The steps live beside this orchestrator: plan.ts (who trades what, when), latest-quote.ts
 * (reading a raw quote), pricing.ts (a symbol's trades at its quote), summary.ts (what became of
 * the minute, its metrics).
 */
import { TOPICS, type TradeEvent } from '../shared/contracts.ts'
import type { Counter, EventProducer, FetchedQuotes, FetchQuotes, Quarantine } from '../shared/ports.ts'
import { eventRecord, produceInChunks } from '../shared/produce.ts'
import { malformedBodyRejections } from '../shared/quarantine.ts'
import { planTrades, scheduledMinute } from './plan.ts'
import type { SimUser } from './population.ts'
import { priceSymbol, skipWarnings } from './pricing.ts'
import {
  countSummary,
  recordEmitted,
  SimulateTradesError,
  type SimulateTradesSummary,
  summarize,
  unpriced,
} from './summary.ts'

export { SimulateTradesError, type SimulateTradesSummary } from './summary.ts'

export interface SimulateTradesConfig {
  symbols: string[]
  tradesPerMinute: number
  populationSeed: string
  quoteMaxAgeSeconds: number
  /** Records per producer send (default 500). */
  produceChunkSize?: number
}

export interface SimulateTradesDeps {
  fetchQuotes: FetchQuotes
  producer: EventProducer
  quarantine: Quarantine
  counter: Counter
  clock: () => Date
  log?: (message: string, fields: Record<string, unknown>) => void
  population: SimUser[]
  config: SimulateTradesConfig
}

export interface SimulateTradesInput {
  /** The scheduled time of the invocation (EventBridge `time`). */
  scheduledAt: Date
  /** Epoch ms by which the quote fetch must have given up. */
  deadline?: number
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** The latest quotes; a fetch that throws is a fetch that failed, not a crash of the run. */
const fetchQuotes = (deps: SimulateTradesDeps, deadline: number | undefined): Promise<FetchedQuotes> =>
  deps
    .fetchQuotes(deps.config.symbols, { deadline: deadline ?? Number.POSITIVE_INFINITY })
    .catch((error: unknown) => ({ quotes: {}, malformed: [], error }))

/** Sends the events in chunks, adding each acknowledged chunk to the summary, then counts the run. */
async function emitTrades(events: TradeEvent[], summary: SimulateTradesSummary, deps: SimulateTradesDeps) {
  try {
    await produceInChunks(deps.producer, events, (event) => eventRecord(TOPICS.trades, event), {
      chunkSize: deps.config.produceChunkSize,
      onAcknowledged: (chunk) => recordEmitted(summary, chunk),
    })
  } catch (error) {
    countSummary(deps.counter, summary)
    throw new SimulateTradesError(
      `producing trades failed after ${summary.emitted} of ${events.length}: ${errorText(error)}`,
      summary,
      error,
    )
  }
  countSummary(deps.counter, summary)
}

/** One scheduled minute. See the module comment for the guarantees. */
export async function simulateTrades(
  input: SimulateTradesInput,
  deps: SimulateTradesDeps,
): Promise<SimulateTradesSummary> {
  const { config } = deps
  const minute = scheduledMinute(input.scheduledAt)
  const plan = planTrades(minute, {
    symbols: config.symbols,
    tradesPerMinute: config.tradesPerMinute,
    seed: config.populationSeed,
    population: deps.population,
  })
  const bySymbol = Map.groupBy(plan, (trade) => trade.symbol)
  const tradesOf = (symbol: string) => bySymbol.get(symbol) ?? []
  const fetched = await fetchQuotes(deps, input.deadline)
  const malformed = malformedBodyRejections(TOPICS.trades, fetched.malformed)

  if (fetched.error !== undefined) {
    const why = errorText(fetched.error)
    const outcomes = config.symbols.map((symbol) =>
      unpriced(symbol, tradesOf(symbol).length, 'quote_fetch_failed', why),
    )
    const summary = summarize(minute, plan.length, outcomes)
    if (malformed.length > 0) await deps.quarantine(malformed)
    countSummary(deps.counter, summary)
    throw new SimulateTradesError(`latest quotes unavailable: ${why}`, summary, fetched.error)
  }

  const time = { minute, fetchedAt: deps.clock(), quoteMaxAgeSeconds: config.quoteMaxAgeSeconds }
  const outcomes = config.symbols.map((symbol) =>
    priceSymbol(symbol, tradesOf(symbol), fetched.quotes[symbol], time),
  )
  for (const [message, fields] of skipWarnings(outcomes)) deps.log?.(message, fields)
  const summary = summarize(minute, plan.length, outcomes)
  const rejections = [...malformed, ...outcomes.flatMap((outcome) => outcome.rejections)]
  // Kept before anything is emitted: without its quarantine copy a rejection would be lost.
  if (rejections.length > 0) await deps.quarantine(rejections)
  await emitTrades(
    outcomes.flatMap((outcome) => outcome.events),
    summary,
    deps,
  )
  return summary
}
