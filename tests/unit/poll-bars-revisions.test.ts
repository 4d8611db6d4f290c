/**
 * Bar revisions inside the settle window: a bar emitted at first sight, re-read for a few
 * minutes, emitted again with a higher revision only when Alpaca recalculated it.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_SETTLE_WINDOW_MINUTES } from '../../functions/poll-bars/core.ts'
import { at, btcAndLtc, harness, ms, recalculated, settled } from '../helpers/poll-bars.ts'

describe('bar revisions (settle window)', () => {
  it('the default settle window is 3 minutes', () => {
    expect(DEFAULT_SETTLE_WINDOW_MINUTES).toBe(3)
  })

  it('emits a bar at first sight, nothing on an unchanged re-read, a higher revision on a changed one', async () => {
    const market = btcAndLtc('08:00', '08:20')
    const h = harness({
      market,
      now: '2026-11-30T08:15:02.500Z',
      watermarks: { 'BTC/USD': at('08:13'), 'LTC/USD': at('08:13') },
      config: settled,
    })
    const first = await h.run()
    // The re-read window 08:12..08:14 (3 minutes) plus nothing older: the marks are recent.
    expect(h.api.calls).toEqual([{ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:12'), end: at('08:14') }])
    // No settle state yet (a document written before revisions): 08:12 and 08:13 were handled
    // before, so they are remembered, not emitted again; 08:14 is new.
    expect(first.emitted).toBe(2)
    expect(h.events().map((e) => [e.symbol, e.start, e.revision])).toEqual([
      ['BTC/USD', at('08:14'), ms('2026-11-30T08:15:02.500Z')],
      ['LTC/USD', at('08:14'), ms('2026-11-30T08:15:02.500Z')],
    ])
    expect(h.watermarks.settle()['BTC/USD']?.[at('08:13')]?.revision).toBe(0)

    // 08:15:33: nothing changed upstream: no record at all.
    h.setNow('2026-11-30T08:15:33Z')
    const unchanged = await h.run()
    expect(unchanged).toMatchObject({ emitted: 0, revised: 0 })
    expect(unchanged.perSymbol['BTC/USD']).toMatchObject({ status: 'ok', window: { start: at('08:12') } })
    expect(h.producer.sent).toHaveLength(2)

    // 08:16:03: BTC's 08:14 was recalculated; 08:15 is new.
    market['BTC/USD'][14] = recalculated(at('08:14'))
    h.setNow('2026-11-30T08:16:03Z')
    const changed = await h.run()
    const fresh = h.events().slice(2)
    expect(fresh.map((e) => [e.symbol, e.start, e.revision, e.close])).toEqual([
      ['BTC/USD', at('08:14'), ms('2026-11-30T08:16:03Z'), '101.4'],
      ['BTC/USD', at('08:15'), ms('2026-11-30T08:16:03Z'), '100.75'],
      ['LTC/USD', at('08:15'), ms('2026-11-30T08:16:03Z'), '90.2'],
    ])
    expect(changed).toMatchObject({ emitted: 3, revised: 1 })
    expect(h.counter.total('BarsRevised')).toBe(1)
    expect(h.watermarks.settle()['BTC/USD']?.[at('08:14')]?.revision).toBe(ms('2026-11-30T08:16:03Z'))
  })

  it('a revision is above the previous one even when this clock is behind the one that emitted it', async () => {
    const market = btcAndLtc('08:00', '08:20')
    const h = harness({ market, now: '2026-11-30T08:15:30Z', config: { ...settled, symbols: ['BTC/USD'] } })
    await h.run()
    market['BTC/USD'][14] = recalculated(at('08:14'))
    // A firing with an earlier scheduled time (a late or replayed event): that time alone would regress.
    h.setNow('2026-11-30T08:15:20Z')
    await h.run({ scheduledAt: '2026-11-30T08:15:20Z' })
    const revisions = h
      .events()
      .filter((e) => e.start === at('08:14'))
      .map((e) => e.revision)
    expect(revisions).toEqual([ms('2026-11-30T08:15:30Z'), ms('2026-11-30T08:15:30Z') + 1])
  })

  it('keeps digests only for the bars inside the window, pruned as they leave it', async () => {
    const market = btcAndLtc('08:00', '08:30')
    const h = harness({ market, now: '2026-11-30T08:15:30Z', config: { ...settled, symbols: ['BTC/USD'] } })
    await h.run()
    // First poll: lookback 08:10..08:14; only 08:12..08:14 are in the window.
    expect(Object.keys(h.watermarks.settle()['BTC/USD'] ?? {})).toEqual([
      at('08:12'),
      at('08:13'),
      at('08:14'),
    ])
    h.setNow('2026-11-30T08:17:04Z')
    await h.run()
    expect(Object.keys(h.watermarks.settle()['BTC/USD'] ?? {})).toEqual([
      at('08:14'),
      at('08:15'),
      at('08:16'),
    ])
    // A change after a bar left the window is not polled any more: 08:12 stays as first emitted.
    market['BTC/USD'][12] = recalculated(at('08:12'))
    h.setNow('2026-11-30T08:17:40Z')
    expect((await h.run()).emitted).toBe(0)
  })

  it('backfills an outage exactly once per bar content, then re-reads only the window', async () => {
    const market = btcAndLtc('08:00', '09:00')
    const h = harness({
      market,
      watermarks: { 'BTC/USD': at('08:14'), 'LTC/USD': at('08:14') },
      now: '2026-11-30T08:45:03Z',
      config: settled,
    })
    expect((await h.run()).emitted).toBe(60)
    h.setNow('2026-11-30T08:45:40Z')
    expect((await h.run()).emitted).toBe(0)
    expect(h.api.calls[1]).toEqual({ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:42'), end: at('08:44') })
    h.setNow('2026-11-30T08:46:03Z')
    expect((await h.run()).emitted).toBe(2)
    const ids = h.events().map((e) => e.event_id)
    expect(ids).toHaveLength(62)
    expect(new Set(ids).size).toBe(62)
  })

  it('a re-read never reaches back to emit the minutes before the first poll', async () => {
    const market = btcAndLtc('08:00', '08:20')
    const h = harness({
      market,
      now: '2026-11-30T08:15:03Z',
      config: { ...settled, symbols: ['BTC/USD'], initialLookbackMinutes: 1 },
    })
    await h.run()
    h.setNow('2026-11-30T08:16:03Z')
    await h.run()
    // The second poll re-reads 08:13..08:15; 08:13 is before the first poll's lookback.
    expect(h.api.calls.at(-1)).toMatchObject({ start: at('08:13'), end: at('08:15') })
    expect(h.events().map((e) => e.start)).toEqual([at('08:14'), at('08:15')])
    // Had it changed later, 08:13 would be emitted then: it is remembered now.
    market['BTC/USD'][13] = recalculated(at('08:13'))
    h.setNow('2026-11-30T08:16:33Z')
    await h.run()
    expect(h.events().map((e) => [e.start, e.revision])).toEqual([
      [at('08:14'), ms('2026-11-30T08:15:03Z')],
      [at('08:15'), ms('2026-11-30T08:16:03Z')],
      [at('08:13'), ms('2026-11-30T08:16:33Z')],
    ])
  })
})
