/**
 * The whole poll on the happy path: the closed minutes of each window emitted once, a repeated
 * invocation emitting nothing new, an outage backfilled once, the backfill bound counted.
 */
import { describe, expect, it } from 'vitest'
import type { PollBarsSummary } from '../../functions/poll-bars/summary.ts'
import { at, btcAndLtc, harness, minutes } from '../helpers/poll-bars.ts'

describe('pollBars', () => {
  it('emits the closed minutes of the first window to crypto.bars keyed by symbol, never the in-progress one', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '08:15'),
      now: '2026-11-30T08:15:30Z',
      leakInProgress: true,
    })
    const summary = await h.run()
    expect(h.api.calls).toEqual([{ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:10'), end: at('08:14') }])
    expect(h.producer.sent.map((r) => [r.topic, r.key, JSON.parse(r.value).start])).toEqual([
      ...minutes('08:10', '08:14').map((t) => ['crypto.bars', 'BTC/USD', t]),
      ...minutes('08:10', '08:14').map((t) => ['crypto.bars', 'LTC/USD', t]),
    ])
    expect(h.events()[0]).toEqual({
      schema_version: 2,
      event_id: 'alpaca:BTC/USD:2026-11-30T08:10:00Z',
      revision: 1796026530000,
      source: 'alpaca',
      symbol: 'BTC/USD',
      timeframe: '1Min',
      start: '2026-11-30T08:10:00Z',
      open: '100.5',
      high: '101.25',
      low: '100',
      close: '100.75',
      volume: '1.5',
      trade_count: 3,
      vwap: '100.6',
      ingested_at: '2026-11-30T08:15:30Z',
    })
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:14'), 'LTC/USD': at('08:14') })
    expect(summary).toEqual({
      asOf: '2026-11-30T08:15:30Z',
      emitted: 10,
      revised: 0,
      rejected: 0,
      perSymbol: {
        'BTC/USD': {
          status: 'ok',
          window: { start: at('08:10'), end: at('08:14') },
          emitted: 5,
          revised: 0,
          rejected: 0,
          truncatedMinutes: 0,
          watermark: at('08:14'),
        },
        'LTC/USD': {
          status: 'ok',
          window: { start: at('08:10'), end: at('08:14') },
          emitted: 5,
          revised: 0,
          rejected: 0,
          truncatedMinutes: 0,
          watermark: at('08:14'),
        },
      },
    } satisfies PollBarsSummary)
    expect(h.counter.total('BarsEmitted')).toBe(10)
    expect(h.counter.total('BarsOutsideWindow')).toBe(2)
    expect(h.counter.total('WatermarkLagMinutes')).toBe(0)
  })

  it('a repeated invocation emits nothing new; the next minute emits just that minute', async () => {
    const h = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:30Z' })
    await h.run()
    const again = await h.run()
    expect(again.emitted).toBe(0)
    expect(again.perSymbol['BTC/USD']?.status).toBe('up_to_date')
    expect(h.api.calls).toHaveLength(1)
    expect(h.producer.sent).toHaveLength(10)
    h.setNow('2026-11-30T08:16:02Z')
    const next = await h.run()
    expect(next.emitted).toBe(2)
    expect(
      h
        .events()
        .slice(10)
        .map((e) => e.event_id),
    ).toEqual(['alpaca:BTC/USD:2026-11-30T08:15:00Z', 'alpaca:LTC/USD:2026-11-30T08:15:00Z'])
  })

  it('backfills a 30-minute outage exactly once', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '09:00'),
      watermarks: { 'BTC/USD': at('08:14'), 'LTC/USD': at('08:14') },
      now: '2026-11-30T08:45:10Z',
    })
    const summary = await h.run()
    expect(summary.emitted).toBe(60)
    const btc = h
      .events()
      .filter((e) => e.symbol === 'BTC/USD')
      .map((e) => e.start)
    expect(btc).toEqual(minutes('08:15', '08:44'))
    expect((await h.run()).emitted).toBe(0)
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:44'), 'LTC/USD': at('08:44') })
  })

  it('counts the minutes beyond the backfill bound instead of skipping them silently', async () => {
    const h = harness({
      market: btcAndLtc('06:00', '09:00'),
      watermarks: { 'BTC/USD': at('06:00'), 'LTC/USD': at('08:10') },
      now: '2026-11-30T08:15:00Z',
      config: { backfillMaxMinutes: 60 },
    })
    const summary = await h.run()
    expect(summary.perSymbol['BTC/USD']?.truncatedMinutes).toBe(74)
    expect(summary.perSymbol['BTC/USD']?.emitted).toBe(60)
    expect(summary.perSymbol['LTC/USD']?.emitted).toBe(4)
    expect(h.counter.total('BarsBackfillTruncatedMinutes')).toBe(74)
  })

  it('uses the earlier of the scheduled time and the clock', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '08:20'),
      now: '2026-11-30T08:12:30Z',
      leakInProgress: true,
    })
    // An event claiming 08:18 while the clock says 08:12:30: the 08:12 bar is still open.
    await h.run({ scheduledAt: '2026-11-30T08:18:00Z' })
    expect(h.api.calls[0]?.end).toBe(at('08:11'))
    // A late delivery of the 08:13 event at 08:20 polls up to 08:12 only.
    h.setNow('2026-11-30T08:20:00Z')
    await h.run({ scheduledAt: '2026-11-30T08:13:00Z' })
    expect(h.api.calls[1]).toEqual({ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:12'), end: at('08:12') })
  })
})
