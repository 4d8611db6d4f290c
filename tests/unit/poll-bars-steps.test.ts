/**
 * The pure steps pollBars is made of, each on its own: what to do with a symbol's bars against
 * the settle state, how far its watermark may move, and which bars under unrequested keys are
 * quarantined. The whole poll is tested in the other poll-bars-*.test.ts files.
 */
import { describe, expect, it } from 'vitest'
import { type RejectedBar, strayBarRejections } from '../../functions/poll-bars/bars.ts'
import type { SymbolPlan } from '../../functions/poll-bars/plan.ts'
import { barDigest, decideBars, lastHandledStart } from '../../functions/poll-bars/settle.ts'
import type { SettledBar } from '../../functions/poll-bars/watermark.ts'
import { bar } from '../helpers/events.ts'

const at = (hhmm: string) => `2026-11-30T${hhmm}:00Z`
const ms = (hhmm: string) => Date.parse(at(hhmm))
const SCHEDULED = ms('08:16')

/** A poll of 08:10..08:15 whose first never-seen minute is 08:13 (08:10..08:12 is the settle re-read). */
const plan: SymbolPlan = {
  symbol: 'BTC/USD',
  from: ms('08:10'),
  to: ms('08:15'),
  truncatedMinutes: 0,
  newFrom: ms('08:13'),
}

const rejectedAt = (hhmm: string | undefined, value: string): RejectedBar => ({
  rejection: { reason: 'upstream_malformed', detail: 'bad', topic: 'crypto.bars', key: 'BTC/USD', value },
  ...(hhmm === undefined ? {} : { start: ms(hhmm), minute: ms(hhmm) }),
})

describe('decideBars', () => {
  const seen = bar('BTC/USD', at('08:10'))
  const recalculated = bar('BTC/USD', at('08:11'), '97001')
  const forgotten = bar('BTC/USD', at('08:12'))
  const fresh = bar('BTC/USD', at('08:13'))
  const notClosed = bar('BTC/USD', at('08:16'))
  const settle: Record<number, SettledBar> = {
    [ms('08:10')]: { digest: barDigest(seen), revision: 100 },
    [ms('08:11')]: { digest: barDigest(bar('BTC/USD', at('08:11'))), revision: 200 },
  }
  const decision = decideBars(
    plan,
    { events: [seen, recalculated, forgotten, fresh, notClosed], rejected: [] },
    (start) => settle[start],
    SCHEDULED,
  )

  it('emits new and changed bars with their revision, and nothing unchanged or out of the window', () => {
    expect(decision.changed.map(({ event, revised }) => [event.start, event.revision, revised])).toEqual([
      [at('08:11'), SCHEDULED, true],
      [at('08:13'), SCHEDULED, false],
    ])
    expect(decision.outside).toBe(1)
  })

  it('counts unchanged re-reads as handled, and adopts a re-read bar it has no memory of', () => {
    expect(decision.unchanged).toEqual([ms('08:10'), ms('08:12')])
    expect(decision.remember).toEqual([
      { minute: ms('08:12'), entry: { digest: barDigest(forgotten), revision: 0 } },
    ])
  })

  it('quarantines a bad bar once per content', () => {
    const bad = rejectedAt('08:14', '{"c":"NaN"}')
    const first = decideBars(plan, { events: [], rejected: [bad] }, () => undefined, SCHEDULED)
    expect(first.quarantine).toEqual([bad.rejection])
    const remembered = first.remember[0]
    expect(remembered?.minute).toBe(ms('08:14'))
    const again = decideBars(plan, { events: [], rejected: [bad] }, () => remembered?.entry, SCHEDULED)
    expect(again.quarantine).toEqual([])
    expect(again.rejected).toEqual([bad])
  })
})

describe('lastHandledStart', () => {
  const decision = {
    changed: [],
    unchanged: [ms('08:10'), ms('08:14')],
    rejected: [rejectedAt('08:12', 'x'), rejectedAt(undefined, 'y')],
    quarantine: [],
    remember: [],
    outside: 0,
  }

  it('is the latest start sent, unchanged or rejected, within the window', () => {
    expect(
      lastHandledStart(decision, [ms('08:11'), ms('08:13')], Number.POSITIVE_INFINITY, ms('08:15')),
    ).toBe(ms('08:14'))
    expect(lastHandledStart(decision, [ms('08:11')], Number.POSITIVE_INFINITY, ms('08:13'))).toBe(ms('08:12'))
  })

  it('stops before the first bar whose send failed', () => {
    expect(lastHandledStart(decision, [ms('08:11')], ms('08:13'), ms('08:15'))).toBe(ms('08:12'))
    expect(lastHandledStart(decision, [], ms('08:10'), ms('08:15'))).toBeUndefined()
  })
})

describe('strayBarRejections', () => {
  it('quarantines bars under keys nobody asked for, except minutes an earlier poll already read', () => {
    const bars = {
      'BTC/USD': [{ t: at('08:14') }],
      'ZZZ/USD': [{ t: at('08:12') }, { t: at('08:13') }, { t: 'soon' }],
    }
    const rejections = strayBarRejections(bars, new Set(['BTC/USD']), ms('08:13'))
    expect(rejections.map((r) => [r.key, r.value, r.detail])).toEqual([
      ['ZZZ/USD', JSON.stringify({ t: at('08:13') }), 'unknown symbol ZZZ/USD: not requested'],
      ['ZZZ/USD', JSON.stringify({ t: 'soon' }), 'unknown symbol ZZZ/USD: not requested'],
    ])
  })
})
