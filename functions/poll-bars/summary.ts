/**
 * What a poll reports: per symbol, the window polled, what was emitted, revised and
 * quarantined, and where its watermark stands; totals and the poller's metrics from it.
 */
import type { Counter } from '../shared/ports.ts'
import { isoSeconds, MINUTE } from '../shared/time.ts'
import { closedMinuteEnd, type SymbolPlan } from './plan.ts'
import type { Watermarks } from './watermark.ts'

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

const failedOf = (summary: PollBarsSummary) =>
  Object.entries(summary.perSymbol).filter(([, s]) => s.status === 'failed')

export class PollBarsError extends Error {
  override name = 'PollBarsError'
  constructor(readonly summary: PollBarsSummary) {
    super(
      `poll-bars failed for ${failedOf(summary)
        .map(([symbol, s]) => `${symbol} (${s.error})`)
        .join(', ')}`,
    )
  }
}

/** Each symbol's summary before anything is fetched: up to date, or about to poll its window. */
export function startingSummaries(
  planned: { plans: SymbolPlan[]; upToDate: string[] },
  marks: Watermarks,
): Record<string, SymbolSummary> {
  const perSymbol: Record<string, SymbolSummary> = {}
  const zero = { emitted: 0, revised: 0, rejected: 0 }
  for (const symbol of planned.upToDate)
    perSymbol[symbol] = { status: 'up_to_date', ...zero, truncatedMinutes: 0, watermark: marks[symbol] }
  for (const plan of planned.plans) {
    perSymbol[plan.symbol] = {
      status: 'ok',
      window: { start: isoSeconds(plan.from), end: isoSeconds(plan.to) },
      ...zero,
      truncatedMinutes: plan.truncatedMinutes,
      watermark: marks[plan.symbol],
    }
  }
  return perSymbol
}

/** Marks a symbol failed with the error's message (the run throws at the end). */
export function failSymbol(perSymbol: Record<string, SymbolSummary>, symbol: string, error: unknown): void {
  const summary = perSymbol[symbol]
  if (summary === undefined) return
  summary.status = 'failed'
  summary.error = error instanceof Error ? error.message : String(error)
}

export function summarize(asOf: Date, perSymbol: Record<string, SymbolSummary>): PollBarsSummary {
  const total = (field: 'emitted' | 'revised' | 'rejected') =>
    Object.values(perSymbol).reduce((sum, s) => sum + s[field], 0)
  return {
    asOf: isoSeconds(asOf),
    emitted: total('emitted'),
    revised: total('revised'),
    rejected: total('rejected'),
    perSymbol,
  }
}

/**
 * The poll's metrics: bars emitted and revised, the lag of the furthest-behind watermark in
 * minutes (a symbol without one counts as the whole backfill bound), one failure per symbol.
 */
export function countPoll(
  counter: Counter,
  summary: PollBarsSummary,
  config: { symbols: string[]; backfillMaxMinutes: number },
  asOf: Date,
): void {
  counter.count('BarsEmitted', summary.emitted)
  counter.count('BarsRevised', summary.revised)
  const lastClosed = closedMinuteEnd(asOf).getTime() - MINUTE
  const lags = config.symbols.map((symbol) => {
    const mark = summary.perSymbol[symbol]?.watermark
    return mark === undefined ? config.backfillMaxMinutes : (lastClosed - Date.parse(mark)) / MINUTE
  })
  counter.count('WatermarkLagMinutes', Math.max(0, ...lags))
  for (const [symbol] of failedOf(summary)) counter.count('SymbolPollFailures', 1, { Symbol: symbol })
}

/** True when some symbol failed: the run throws {@link PollBarsError} after saving the rest. */
export const anyFailed = (summary: PollBarsSummary) => failedOf(summary).length > 0
