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
 */
import Big from 'big.js'
import {
  SCHEMA_VERSION,
  TOPICS,
  type TradeEvent,
  TradeEventSchema,
  tradeEventId,
} from '../shared/contracts.ts'
import type {
  Counter,
  EventProducer,
  FetchedQuotes,
  FetchQuotes,
  OutgoingRecord,
  Rejection,
} from '../shared/ports.ts'
import { pick, seededRandom } from '../shared/seeded-random.ts'
import { isoSeconds } from '../shared/time.ts'
import type { SimUser } from './population.ts'

const MINUTE = 60_000
export const MAX_TRADES_PER_MINUTE = 9_999

/**
 * Order sizes per base asset: the increment (a lot) and the largest order in lots. Sizes are
 * log-uniform in [1, maxLots] lots, so small retail orders dominate and large ones are rare;
 * they never depend on the price, which keeps quantities deterministic.
 */
export const LOT_SIZES: Record<string, { lot: string; maxLots: number }> = {
  BTC: { lot: '0.0001', maxLots: 500 },
  ETH: { lot: '0.001', maxLots: 1_000 },
  LTC: { lot: '0.01', maxLots: 2_000 },
  SOL: { lot: '0.01', maxLots: 1_000 },
  AVAX: { lot: '0.01', maxLots: 2_000 },
  LINK: { lot: '0.1', maxLots: 1_000 },
  DOGE: { lot: '1', maxLots: 10_000 },
}
const DEFAULT_LOT = { lot: '0.01', maxLots: 1_000 }

export const lotSizeOf = (symbol: string) => LOT_SIZES[symbol.split('/')[0] ?? ''] ?? DEFAULT_LOT

export interface PlannedTrade {
  trade_id: string
  sequence: number
  scheduled_at: string
  executed_at: string
  user: SimUser
  symbol: string
  side: 'BUY' | 'SELL'
  quantity: string
}

/** The scheduled minute: EventBridge may stamp seconds; the minute is what identifies the run. */
export function scheduledMinute(at: Date): Date {
  return new Date(Math.floor(at.getTime() / MINUTE) * MINUTE)
}

/** `2026-11-30T10:07:00Z`, 12 -> `202611301007-0012`. */
export function tradeId(minute: Date, sequence: number): string {
  const iso = minute.toISOString()
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}`
  return `${stamp}-${String(sequence).padStart(4, '0')}`
}

/**
 * The trades of one scheduled minute, without prices: a pure function of (seed, minute, symbols,
 * count, population). They execute in the minute before the scheduled one (see the module
 * comment). Sequence numbers follow execution time, so ids sort like the trades.
 */
export function planTrades(
  scheduledAt: Date,
  params: { symbols: string[]; tradesPerMinute: number; seed: string; population: SimUser[] },
): PlannedTrade[] {
  const { symbols, tradesPerMinute, population } = params
  if (!Number.isInteger(tradesPerMinute) || tradesPerMinute < 0 || tradesPerMinute > MAX_TRADES_PER_MINUTE)
    throw new Error(`trades per minute must be 0..${MAX_TRADES_PER_MINUTE}: the sequence has four digits`)
  if (symbols.length === 0 || population.length === 0) return []
  const minute = scheduledMinute(scheduledAt)
  const random = seededRandom(params.seed, 'trades', isoSeconds(minute))
  const drawn = Array.from({ length: tradesPerMinute }, (_, draw) => {
    const second = Math.floor(random() * 60)
    const user = pick(random, population)
    const symbol = pick(random, symbols)
    const side = random() < 0.5 ? ('BUY' as const) : ('SELL' as const)
    const { lot, maxLots } = lotSizeOf(symbol)
    const lots = Math.min(maxLots, Math.max(1, Math.floor(Math.exp(random() * Math.log(maxLots + 1)))))
    return { draw, second, user, symbol, side, quantity: new Big(lot).times(lots).toFixed() }
  })
  drawn.sort((a, b) => a.second - b.second || a.draw - b.draw)
  return drawn.map((trade, index) => ({
    trade_id: tradeId(minute, index + 1),
    sequence: index + 1,
    scheduled_at: isoSeconds(minute),
    executed_at: isoSeconds(minute.getTime() - MINUTE + trade.second * 1000),
    user: trade.user,
    symbol: trade.symbol,
    side: trade.side,
    quantity: trade.quantity,
  }))
}

export interface Quote {
  bid: string
  ask: string
  /** Epoch ms of the quote. */
  at: number
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

function decimal(field: string, value: unknown): Big {
  if (typeof value !== 'string') throw new Error(`${field} is not a number: ${JSON.stringify(value)}`)
  try {
    return new Big(value)
  } catch {
    throw new Error(`${field} is not a finite number: ${JSON.stringify(value)}`)
  }
}

/**
 * Validates a raw Alpaca quote (`{t, bp, bs, ap, as}`, numbers as source text). Returns the
 * quote, or why it cannot be used: a missing or non-numeric price, a non-positive price, a
 * crossed or locked book (bid >= ask), or a time that is not RFC-3339.
 */
export function readQuote(raw: unknown): { quote: Quote } | { invalid: string } {
  try {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new Error('quote is not an object')
    const { t, bp, ap } = raw as Record<string, unknown>
    if (typeof t !== 'string' || !RFC3339.test(t) || Number.isNaN(Date.parse(t)))
      throw new Error(`t is not an RFC-3339 timestamp: ${JSON.stringify(t)}`)
    const bid = decimal('bp', bp)
    const ask = decimal('ap', ap)
    if (bid.lte(0)) throw new Error(`bid ${bid.toFixed()} is not positive`)
    if (ask.lte(0)) throw new Error(`ask ${ask.toFixed()} is not positive`)
    if (bid.gte(ask)) throw new Error(`bid ${bid.toFixed()} >= ask ${ask.toFixed()}`)
    return { quote: { bid: bid.toFixed(), ask: ask.toFixed(), at: Date.parse(t) } }
  } catch (error) {
    return { invalid: (error as Error).message }
  }
}

/**
 * Whether a quote may price the trades of `minute`: at most `maxAgeMs` old when fetched (the
 * feed has not stalled) and within `maxAgeMs` of the scheduled minute (a schedule replayed
 * long after its minute must not price that minute at today's quote).
 */
export function isFreshQuote(quoteAt: number, minute: Date, fetchedAt: Date, maxAgeMs: number): boolean {
  return fetchedAt.getTime() - quoteAt <= maxAgeMs && Math.abs(quoteAt - minute.getTime()) <= maxAgeMs
}

/** The event of a planned trade at a quote: ask for BUY, bid for SELL, notional in decimals. */
export function priceTrade(plan: PlannedTrade, quote: Quote): TradeEvent {
  const price = plan.side === 'BUY' ? quote.ask : quote.bid
  return {
    schema_version: SCHEMA_VERSION,
    event_id: tradeEventId(plan.trade_id),
    source: 'simulator',
    trade_id: plan.trade_id,
    scheduled_at: plan.scheduled_at,
    executed_at: plan.executed_at,
    user_id: plan.user.user_id,
    user_name: plan.user.user_name,
    user_email: plan.user.user_email,
    document_id: plan.user.document_id,
    symbol: plan.symbol,
    side: plan.side,
    price,
    quantity: plan.quantity,
    notional: new Big(price).times(plan.quantity).toFixed(),
    quote_at: isoSeconds(quote.at),
  }
}

export type SkipReason =
  | 'missing_quote'
  | 'stale_quote'
  | 'malformed_quote'
  | 'quote_fetch_failed'
  | 'schema_violation'
  | 'not_yet_executed'

export interface SymbolSummary {
  status: 'ok' | SkipReason
  planned: number
  emitted: number
  quote_at?: string
  detail?: string
}

export interface SimulateTradesSummary {
  scheduledAt: string
  planned: number
  emitted: number
  skipped: Partial<Record<SkipReason, number>>
  perSymbol: Record<string, SymbolSummary>
}

export class SimulateTradesError extends Error {
  override name = 'SimulateTradesError'
  constructor(
    message: string,
    readonly summary: SimulateTradesSummary,
    cause?: unknown,
  ) {
    super(message, { cause })
  }
}

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
  quarantine: (rejections: Rejection[]) => Promise<unknown>
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

/** One scheduled minute. See the module comment for the guarantees. */
export async function simulateTrades(
  input: SimulateTradesInput,
  deps: SimulateTradesDeps,
): Promise<SimulateTradesSummary> {
  const { config } = deps
  const log = deps.log ?? (() => undefined)
  const minute = scheduledMinute(input.scheduledAt)
  const plan = planTrades(minute, {
    symbols: config.symbols,
    tradesPerMinute: config.tradesPerMinute,
    seed: config.populationSeed,
    population: deps.population,
  })
  const bySymbol = Map.groupBy(plan, (trade) => trade.symbol)
  const summary: SimulateTradesSummary = {
    scheduledAt: isoSeconds(minute),
    planned: plan.length,
    emitted: 0,
    skipped: {},
    perSymbol: Object.fromEntries(
      config.symbols.map((symbol) => [
        symbol,
        { status: 'ok', planned: bySymbol.get(symbol)?.length ?? 0, emitted: 0 },
      ]),
    ),
  }
  const skip = (symbol: string, reason: SkipReason, detail: string, count: number) => {
    const entry = summary.perSymbol[symbol]
    if (entry) {
      entry.status = reason
      entry.detail = detail
    }
    summary.skipped[reason] = (summary.skipped[reason] ?? 0) + count
  }
  const finish = () => {
    deps.counter.count('TradesEmitted', summary.emitted)
    for (const [reason, count] of Object.entries(summary.skipped)) {
      if (count > 0) deps.counter.count('TradesSkipped', count, { Reason: reason })
    }
  }

  const fetched: FetchedQuotes = await deps
    .fetchQuotes(config.symbols, { deadline: input.deadline ?? Number.POSITIVE_INFINITY })
    .catch((error: unknown) => ({ quotes: {}, malformed: [], error }))
  const rejections: Rejection[] = fetched.malformed.map((body) => ({
    reason: 'malformed_json' as const,
    detail: body.detail,
    topic: TOPICS.trades,
    key: null,
    value: body.body,
  }))

  if (fetched.error !== undefined) {
    for (const symbol of config.symbols)
      skip(symbol, 'quote_fetch_failed', errorText(fetched.error), bySymbol.get(symbol)?.length ?? 0)
    if (rejections.length > 0) await deps.quarantine(rejections)
    finish()
    throw new SimulateTradesError(
      `latest quotes unavailable: ${errorText(fetched.error)}`,
      summary,
      fetched.error,
    )
  }

  const fetchedAt = deps.clock()
  const events: TradeEvent[] = []
  for (const symbol of config.symbols) {
    const trades = bySymbol.get(symbol) ?? []
    const raw = fetched.quotes[symbol]
    if (raw === undefined) {
      skip(symbol, 'missing_quote', 'the API returned no quote for the symbol', trades.length)
      log('no quote: no trades for the symbol this minute', { symbol, trades: trades.length })
      continue
    }
    const read = readQuote(raw)
    if ('invalid' in read) {
      skip(symbol, 'malformed_quote', read.invalid, trades.length)
      rejections.push({
        reason: 'upstream_malformed',
        detail: `quote of ${symbol}: ${read.invalid}`,
        topic: TOPICS.trades,
        key: symbol,
        value: JSON.stringify(raw) ?? null,
      })
      continue
    }
    const quoteAt = isoSeconds(read.quote.at)
    const entry = summary.perSymbol[symbol]
    if (entry) entry.quote_at = quoteAt
    if (!isFreshQuote(read.quote.at, minute, fetchedAt, config.quoteMaxAgeSeconds * 1000)) {
      const detail = `quote of ${quoteAt} is more than ${config.quoteMaxAgeSeconds} s from ${isoSeconds(fetchedAt)} or from the scheduled ${summary.scheduledAt}`
      skip(symbol, 'stale_quote', detail, trades.length)
      log('stale quote: no trades for the symbol this minute', { symbol, quoteAt, trades: trades.length })
      continue
    }
    for (const trade of trades) {
      // Only with a clock behind the scheduled minute: a trade is never emitted before it happened.
      if (Date.parse(trade.executed_at) > fetchedAt.getTime()) {
        summary.skipped.not_yet_executed = (summary.skipped.not_yet_executed ?? 0) + 1
        continue
      }
      const candidate = priceTrade(trade, read.quote)
      const parsed = TradeEventSchema.safeParse(candidate)
      if (parsed.success) {
        events.push(parsed.data)
        continue
      }
      const detail = parsed.error.issues
        .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
        .join('; ')
      summary.skipped.schema_violation = (summary.skipped.schema_violation ?? 0) + 1
      rejections.push({
        reason: 'schema_violation',
        detail: `trade ${trade.trade_id} violates the trade contract: ${detail}`,
        topic: TOPICS.trades,
        key: candidate.user_id,
        value: JSON.stringify(candidate),
      })
    }
  }

  // Kept before anything is emitted: without its quarantine copy a rejection would be lost.
  if (rejections.length > 0) await deps.quarantine(rejections)

  const chunkSize = config.produceChunkSize ?? 500
  try {
    for (let i = 0; i < events.length; i += chunkSize) {
      const chunk = events.slice(i, i + chunkSize)
      const records: OutgoingRecord[] = chunk.map((event) => ({
        topic: TOPICS.trades,
        key: event.user_id,
        value: JSON.stringify(event),
      }))
      await deps.producer.send(records)
      summary.emitted += chunk.length
      for (const event of chunk) {
        const entry = summary.perSymbol[event.symbol]
        if (entry) entry.emitted++
      }
    }
  } catch (error) {
    finish()
    throw new SimulateTradesError(
      `producing trades failed after ${summary.emitted} of ${events.length}: ${errorText(error)}`,
      summary,
      error,
    )
  }
  finish()
  return summary
}
