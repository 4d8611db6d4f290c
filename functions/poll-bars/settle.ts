/**
 * Fresh, then final: what a poll does with the bars it read, against what it remembers of the
 * settle window (the digest and revision of each bar emitted or quarantined there, kept in the
 * watermark document). A bar is emitted when it is new or its content changed; an unchanged
 * re-read is handled without a send; a bad bar is quarantined once per content.
 */
import { createHash } from 'node:crypto'
import type { BarEvent } from '../shared/contracts.ts'
import type { Rejection } from '../shared/ports.ts'
import type { RejectedBar } from './bars.ts'
import type { SymbolPlan } from './plan.ts'
import type { SettledBar } from './watermark.ts'

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

/** A bar to emit: its event (with its revision), its digest and whether it revises an emitted one. */
export interface ChangedBar {
  event: BarEvent
  digest: string
  /** A revision of a bar emitted before (not of one only ever quarantined). */
  revised: boolean
}

/** A settle entry to record once the quarantine is kept. */
export interface RememberedBar {
  minute: number
  entry: SettledBar
}

export interface BarDecision {
  /** New contents to emit, in start order. */
  changed: ChangedBar[]
  /** Starts handled without a send: unchanged since emitted, or adopted. */
  unchanged: number[]
  /** Every rejected bar, quarantined now or before (the watermark may move past them). */
  rejected: RejectedBar[]
  /** The rejections to quarantine now: bad bars not quarantined before in this content. */
  quarantine: Rejection[]
  /** Settle entries of quarantined versions and adopted bars. */
  remember: RememberedBar[]
  /** Valid bars outside the plan's window: handled before, or not closed yet; never emitted. */
  outside: number
}

type Settled = (start: number) => SettledBar | undefined

/** The valid bars inside the window, sorted into changed, unchanged and adopted. */
function decideValid(plan: SymbolPlan, kept: BarEvent[], settled: Settled, scheduledAtMs: number) {
  const changed: ChangedBar[] = []
  const unchanged: number[] = []
  const adopted: RememberedBar[] = []
  for (const event of kept) {
    const start = Date.parse(event.start)
    const previous = settled(start)
    const digest = barDigest(event)
    if (previous?.digest === digest) {
      unchanged.push(start)
    } else if (previous === undefined && start < plan.newFrom) {
      // Handled before, but nothing remembered of it: a document written before revisions,
      // or a minute before the symbol's first poll. Remember it; emit only what changes next.
      unchanged.push(start)
      adopted.push({ minute: start, entry: { digest, revision: 0 } })
    } else {
      const revision = nextRevision(scheduledAtMs, previous)
      const revised = previous !== undefined && !previous.digest.startsWith('rejected:')
      changed.push({ event: { ...event, revision }, digest, revised })
    }
  }
  return { changed, unchanged, adopted }
}

/** The rejected bars to quarantine now, and the quarantined versions to remember. */
function decideRejected(rejected: RejectedBar[], validStarts: ReadonlySet<number>, settled: Settled) {
  const quarantine: Rejection[] = []
  const remembered: RememberedBar[] = []
  for (const { rejection, minute } of rejected) {
    // Only a minute without a valid bar this time has one remembered version to compare with.
    if (minute !== undefined && !validStarts.has(minute)) {
      const previous = settled(minute)
      const digest = rejectedDigest(rejection)
      if (previous?.digest === digest) continue
      remembered.push({ minute, entry: { digest, revision: previous?.revision ?? 0 } })
    }
    quarantine.push(rejection)
  }
  return { quarantine, remembered }
}

/**
 * What to do with one symbol's validated bars: valid bars outside the plan's window are
 * dropped (counted), the rest compared with `settled` (the remembered entry of a bar start).
 */
export function decideBars(
  plan: SymbolPlan,
  bars: { events: BarEvent[]; rejected: RejectedBar[] },
  settled: Settled,
  scheduledAtMs: number,
): BarDecision {
  const kept = bars.events.filter((event) => {
    const start = Date.parse(event.start)
    return start >= plan.from && start <= plan.to
  })
  const valid = decideValid(plan, kept, settled, scheduledAtMs)
  const validStarts = new Set(kept.map((event) => Date.parse(event.start)))
  const { quarantine, remembered } = decideRejected(bars.rejected, validStarts, settled)
  return {
    changed: valid.changed,
    unchanged: valid.unchanged,
    rejected: bars.rejected,
    quarantine,
    remember: [...remembered, ...valid.adopted],
    outside: bars.events.length - kept.length,
  }
}

/**
 * The last bar start of the window dealt with for good: sent and acknowledged, unchanged since
 * emitted, or quarantined (polling it again would only quarantine it twice), but nothing at or
 * after `firstUnsent`, the first bar whose send failed. Undefined when there is none.
 */
export function lastHandledStart(
  decision: BarDecision,
  sent: number[],
  firstUnsent: number,
  to: number,
): number | undefined {
  const before = (start: number | undefined): start is number => start !== undefined && start < firstUnsent
  const handled = [
    ...sent,
    ...decision.unchanged.filter(before),
    ...decision.rejected.map((r) => r.start).filter(before),
  ]
  const last = handled.reduce(
    (max, start) => (start <= to && start > max ? start : max),
    Number.NEGATIVE_INFINITY,
  )
  return Number.isFinite(last) ? last : undefined
}
