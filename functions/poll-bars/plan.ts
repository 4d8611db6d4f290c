/**
 * What a poll reads: per symbol, the bar starts after its watermark up to the last closed
 * minute (bounded after an outage), plus the trailing settle window; symbols sharing a window
 * share one request.
 */
import { floorMinute, isoSeconds, MINUTE } from '../shared/time.ts'
import type { Watermarks } from './watermark.ts'

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

/** The exclusive end of the closed minutes at `now`: bars starting before it are complete. */
export function closedMinuteEnd(now: Date): Date {
  return new Date(floorMinute(now.getTime()))
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
    start: isoSeconds(group[0]?.from ?? 0),
    end: isoSeconds(group[0]?.to ?? 0),
  }))
  return { plans, requests, upToDate }
}
