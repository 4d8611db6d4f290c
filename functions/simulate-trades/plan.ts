/**
 * The trades of a scheduled minute before any price is known: who trades what, how much, when.
 * Everything here is a pure function of (population seed, scheduled minute), which is what makes
 * a double-fired or retried schedule re-emit the same trade ids.
 */
import Big from 'big.js'
import { pick, seededRandom } from '../shared/seeded-random.ts'
import { floorMinute, isoSeconds, MINUTE } from '../shared/time.ts'
import type { SimUser } from './population.ts'

/** The sequence of a trade id has four digits. */
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

export interface PlanParams {
  symbols: string[]
  tradesPerMinute: number
  seed: string
  population: SimUser[]
}

/** The scheduled minute: EventBridge may stamp seconds; the minute is what identifies the run. */
export const scheduledMinute = (at: Date): Date => new Date(floorMinute(at.getTime()))

/** `2026-11-30T10:07:00Z`, 12 -> `202611301007-0012`. */
export function tradeId(minute: Date, sequence: number): string {
  const iso = minute.toISOString()
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}`
  return `${stamp}-${String(sequence).padStart(4, '0')}`
}

/** One draw of the minute's generator: the trade's second in the minute and what it trades. */
function drawTrade(random: () => number, draw: number, params: PlanParams) {
  const second = Math.floor(random() * 60)
  const user = pick(random, params.population)
  const symbol = pick(random, params.symbols)
  const side = random() < 0.5 ? ('BUY' as const) : ('SELL' as const)
  const { lot, maxLots } = lotSizeOf(symbol)
  const lots = Math.min(maxLots, Math.max(1, Math.floor(Math.exp(random() * Math.log(maxLots + 1)))))
  return { draw, second, user, symbol, side, quantity: new Big(lot).times(lots).toFixed() }
}

/**
 * The trades of one scheduled minute, without prices: a pure function of (seed, minute, symbols,
 * count, population). They execute in the minute before the scheduled one (see core.ts).
 * Sequence numbers follow execution time, so ids sort like the trades.
 */
export function planTrades(scheduledAt: Date, params: PlanParams): PlannedTrade[] {
  const { tradesPerMinute } = params
  if (!Number.isInteger(tradesPerMinute) || tradesPerMinute < 0 || tradesPerMinute > MAX_TRADES_PER_MINUTE)
    throw new Error(`trades per minute must be 0..${MAX_TRADES_PER_MINUTE}: the sequence has four digits`)
  if (params.symbols.length === 0 || params.population.length === 0) return []
  const minute = scheduledMinute(scheduledAt)
  const random = seededRandom(params.seed, 'trades', isoSeconds(minute))
  const drawn = Array.from({ length: tradesPerMinute }, (_, draw) => drawTrade(random, draw, params))
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
