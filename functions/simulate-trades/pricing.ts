/**
 * Pricing a symbol's planned trades at its latest quote: ask for BUY, bid for SELL, notional =
 * price x quantity in decimal arithmetic (big.js), never binary floating point. A symbol without
 * a usable quote gets no trades; a malformed quote is also quarantined. Nothing invalid is
 * emitted: each priced trade is checked against the trade contract.
 */
import Big from 'big.js'
import {
  describeIssues,
  SCHEMA_VERSION,
  TOPICS,
  type TradeEvent,
  TradeEventSchema,
  tradeEventId,
} from '../shared/contracts.ts'
import type { Rejection } from '../shared/ports.ts'
import { isoSeconds } from '../shared/time.ts'
import { isFreshQuote, type Quote, readQuote } from './latest-quote.ts'
import type { PlannedTrade } from './plan.ts'
import { type SymbolOutcome, unpriced } from './summary.ts'

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

/** When the quotes were fetched, for which minute, and how old a quote may be. */
export interface PricingTime {
  minute: Date
  fetchedAt: Date
  quoteMaxAgeSeconds: number
}

/**
 * The executed trades priced at `quote`, each held to the trade contract. A trade after
 * `fetchedAt` happens only with a clock behind the scheduled minute: it is held back, because a
 * trade is never emitted before it happened.
 */
function priceExecuted(trades: PlannedTrade[], quote: Quote, fetchedAt: Date) {
  const executed = trades.filter((trade) => Date.parse(trade.executed_at) <= fetchedAt.getTime())
  const events: TradeEvent[] = []
  const rejections: Rejection[] = []
  for (const trade of executed) {
    const candidate = priceTrade(trade, quote)
    const parsed = TradeEventSchema.safeParse(candidate)
    if (parsed.success) events.push(parsed.data)
    else
      rejections.push({
        reason: 'schema_violation',
        detail: `trade ${trade.trade_id} violates the trade contract: ${describeIssues(parsed.error)}`,
        topic: TOPICS.trades,
        key: candidate.user_id,
        value: JSON.stringify(candidate),
      })
  }
  return {
    events,
    rejections,
    notYetExecuted: trades.length - executed.length,
    violations: rejections.length,
  }
}

/** One symbol's trades of the minute at its raw quote (`undefined`: the API returned none). */
export function priceSymbol(
  symbol: string,
  trades: PlannedTrade[],
  raw: unknown,
  time: PricingTime,
): SymbolOutcome {
  if (raw === undefined)
    return unpriced(symbol, trades.length, 'missing_quote', 'the API returned no quote for the symbol')
  const read = readQuote(raw)
  if ('invalid' in read) {
    const rejection: Rejection = {
      reason: 'upstream_malformed',
      detail: `quote of ${symbol}: ${read.invalid}`,
      topic: TOPICS.trades,
      key: symbol,
      value: JSON.stringify(raw) ?? null,
    }
    return unpriced(symbol, trades.length, 'malformed_quote', read.invalid, { rejections: [rejection] })
  }
  const quote_at = isoSeconds(read.quote.at)
  const { minute, fetchedAt, quoteMaxAgeSeconds } = time
  if (!isFreshQuote(read.quote.at, minute, fetchedAt, quoteMaxAgeSeconds * 1000)) {
    const detail = `quote of ${quote_at} is more than ${quoteMaxAgeSeconds} s from ${isoSeconds(fetchedAt)} or from the scheduled ${isoSeconds(minute)}`
    return unpriced(symbol, trades.length, 'stale_quote', detail, { quote_at })
  }
  return {
    symbol,
    planned: trades.length,
    status: 'ok',
    quote_at,
    ...priceExecuted(trades, read.quote, fetchedAt),
  }
}

/** A log line: the message and its fields. */
export type Warning = [message: string, fields: Record<string, unknown>]

/** The warnings of the symbols skipped for want of a quote (a malformed one is quarantined instead). */
export function skipWarnings(outcomes: SymbolOutcome[]): Warning[] {
  return outcomes.flatMap((outcome): Warning[] => {
    const { symbol, planned: trades } = outcome
    if (outcome.status === 'missing_quote')
      return [['no quote: no trades for the symbol this minute', { symbol, trades }]]
    if (outcome.status === 'stale_quote') {
      const fields = { symbol, quoteAt: outcome.quote_at, trades }
      return [['stale quote: no trades for the symbol this minute', fields]]
    }
    return []
  })
}
