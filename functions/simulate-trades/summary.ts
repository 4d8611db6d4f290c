/**
 * What became of a scheduled minute: per symbol, whether its trades were priced and emitted or
 * why not, summed into the run's summary and its metrics (`TradesEmitted`, `TradesSkipped` by
 * reason).
 */
import type { TradeEvent } from '../shared/contracts.ts'
import type { Counter, Rejection } from '../shared/ports.ts'
import { isoSeconds } from '../shared/time.ts'

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

/** One symbol's trades of the minute after pricing: the events to emit and what was refused. */
export interface SymbolOutcome {
  symbol: string
  planned: number
  /** `ok`, or why none of the symbol's trades is emitted. */
  status: SymbolSummary['status']
  detail?: string
  quote_at?: string
  events: TradeEvent[]
  rejections: Rejection[]
  /** Trades the clock has not reached yet: held back, never emitted before they happened. */
  notYetExecuted: number
  /** Priced trades the trade contract refused (quarantined). */
  violations: number
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

/** A symbol none of whose trades can be priced. */
export function unpriced(
  symbol: string,
  planned: number,
  status: SkipReason,
  detail: string,
  extra: { quote_at?: string; rejections?: Rejection[] } = {},
): SymbolOutcome {
  const { quote_at, rejections = [] } = extra
  return {
    symbol,
    planned,
    status,
    detail,
    ...(quote_at === undefined ? {} : { quote_at }),
    events: [],
    rejections,
    notYetExecuted: 0,
    violations: 0,
  }
}

function symbolSummary(outcome: SymbolOutcome): SymbolSummary {
  const { status, planned, quote_at, detail } = outcome
  return {
    status,
    planned,
    emitted: 0,
    ...(quote_at === undefined ? {} : { quote_at }),
    ...(detail === undefined ? {} : { detail }),
  }
}

/**
 * The minute's summary before anything is emitted. A skipped symbol counts all its planned trades
 * under its reason (zero included, so the reason shows); held-back and refused trades count one each.
 */
export function summarize(minute: Date, planned: number, outcomes: SymbolOutcome[]): SimulateTradesSummary {
  const skipped: SimulateTradesSummary['skipped'] = {}
  const add = (reason: SkipReason, count: number) => {
    skipped[reason] = (skipped[reason] ?? 0) + count
  }
  for (const outcome of outcomes) {
    if (outcome.status !== 'ok') add(outcome.status, outcome.planned)
    if (outcome.notYetExecuted > 0) add('not_yet_executed', outcome.notYetExecuted)
    if (outcome.violations > 0) add('schema_violation', outcome.violations)
  }
  return {
    scheduledAt: isoSeconds(minute),
    planned,
    emitted: 0,
    skipped,
    perSymbol: Object.fromEntries(outcomes.map((outcome) => [outcome.symbol, symbolSummary(outcome)])),
  }
}

/** Adds a chunk the broker acknowledged to the summary. */
export function recordEmitted(summary: SimulateTradesSummary, events: TradeEvent[]): void {
  summary.emitted += events.length
  for (const event of events) {
    const entry = summary.perSymbol[event.symbol]
    if (entry) entry.emitted++
  }
}

/** The summary's metrics; a reason with nothing skipped is not counted. */
export function countSummary(counter: Counter, summary: SimulateTradesSummary): void {
  counter.count('TradesEmitted', summary.emitted)
  for (const [reason, count] of Object.entries(summary.skipped)) {
    if (count > 0) counter.count('TradesSkipped', count, { Reason: reason })
  }
}
