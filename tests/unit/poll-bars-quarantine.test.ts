/**
 * What pollBars quarantines (malformed bars, bars of unrequested symbols, garbled bodies), that it
 * moves past them, quarantines each content once across settle re-reads, and emits nothing when
 * the quarantine cannot be written.
 */
import { describe, expect, it } from 'vitest'
import type { PollBarsError } from '../../functions/poll-bars/summary.ts'
import type { FetchBars } from '../../functions/shared/ports.ts'
import { at, btcAndLtc, harness, minutes, ms, raw, settled } from '../helpers/poll-bars.ts'

describe('pollBars', () => {
  it('quarantines malformed bars with their reason and moves past them; emits the rest', async () => {
    const market = btcAndLtc('08:10', '08:14')
    market['BTC/USD'][1] = raw(at('08:11'), { h: '99', l: '101' })
    market['BTC/USD'][4] = raw(at('08:14'), { c: 'NaN' })
    const h = harness({ market, now: '2026-11-30T08:15:30Z' })
    const summary = await h.run()
    expect(
      h
        .events()
        .filter((e) => e.symbol === 'BTC/USD')
        .map((e) => e.start),
    ).toEqual([at('08:10'), at('08:12'), at('08:13')])
    expect(h.quarantined.map((r) => [r.reason, r.key, r.detail])).toEqual([
      ['upstream_malformed', 'BTC/USD', 'high 99 < low 101'],
      ['upstream_malformed', 'BTC/USD', 'c is not a finite number: "NaN"'],
    ])
    expect(summary.perSymbol['BTC/USD']).toMatchObject({ status: 'ok', emitted: 3, rejected: 2 })
    expect(summary.rejected).toBe(2)
    // The trailing bad bar is kept in quarantine; polling it again would only quarantine it twice.
    expect(h.watermarks.current()['BTC/USD']).toBe(at('08:14'))
    h.setNow('2026-11-30T08:15:50Z')
    await h.run()
    expect(h.quarantined).toHaveLength(2)
  })

  it('quarantines bars of symbols it did not ask for, and garbled bodies', async () => {
    const fetchBars: FetchBars = async () => ({
      bars: { 'BTC/USD': [raw(at('08:14'))], 'ZZZ/USD': [raw(at('08:14'))] },
      malformed: [{ detail: 'page 1 of BTC/USD: not JSON', body: '{"bars":' }],
    })
    const h = harness({
      fetchBars,
      now: '2026-11-30T08:15:01Z',
      config: { symbols: ['BTC/USD'], initialLookbackMinutes: 1 },
    })
    const summary = await h.run()
    expect(summary.emitted).toBe(1)
    expect(h.quarantined).toEqual([
      {
        reason: 'malformed_json',
        detail: 'page 1 of BTC/USD: not JSON',
        topic: 'crypto.bars',
        key: null,
        value: '{"bars":',
      },
      {
        reason: 'upstream_malformed',
        detail: 'unknown symbol ZZZ/USD: not requested',
        topic: 'crypto.bars',
        key: 'ZZZ/USD',
        value: JSON.stringify(raw(at('08:14'))),
      },
    ])
  })

  it('emits nothing and keeps the watermark when the quarantine cannot be written', async () => {
    const market = btcAndLtc('08:10', '08:14')
    market['BTC/USD'][0] = raw(at('08:10'), { o: '-1' })
    const h = harness({ market, now: '2026-11-30T08:15:30Z', quarantineFails: true })
    const error = (await h.run().catch((e: unknown) => e)) as PollBarsError
    expect(error.summary.perSymbol['BTC/USD']).toMatchObject({ status: 'failed', error: 'object store down' })
    expect(h.producer.sent).toEqual([])
    expect(h.watermarks.current()).toEqual({})
  })
})

describe('bar revisions (settle window)', () => {
  it('does not quarantine the same bad bar again on a re-read, but does when it changed', async () => {
    const market = btcAndLtc('08:10', '08:20')
    market['BTC/USD'][4] = raw(at('08:14'), { c: 'NaN' })
    const h = harness({ market, now: '2026-11-30T08:15:30Z', config: { ...settled, symbols: ['BTC/USD'] } })
    await h.run()
    h.setNow('2026-11-30T08:16:03Z')
    await h.run()
    expect(h.quarantined.map((r) => r.detail)).toEqual(['c is not a finite number: "NaN"'])
    // Recalculated into a valid bar: emitted, first valid version of it.
    market['BTC/USD'][4] = raw(at('08:14'))
    h.setNow('2026-11-30T08:16:40Z')
    const summary = await h.run()
    expect(h.events().at(-1)).toMatchObject({
      start: at('08:14'),
      revision: ms('2026-11-30T08:16:40Z'),
    })
    expect(summary).toMatchObject({ emitted: 1, revised: 0, rejected: 0 })
  })

  it('quarantines a bar under an unrequested symbol once, not on every re-read', async () => {
    const fetchBars: FetchBars = async (_symbols, start) => ({
      bars: {
        'BTC/USD': minutes('08:12', '08:15')
          .filter((t) => t >= start)
          .map((t) => raw(t)),
        'ZZZ/USD': [raw(at('08:14'))].filter((bar) => String(bar.t) >= start),
      },
      malformed: [],
    })
    const h = harness({
      fetchBars,
      now: '2026-11-30T08:15:30Z',
      watermarks: { 'BTC/USD': at('08:13') },
      config: { ...settled, symbols: ['BTC/USD'] },
    })
    await h.run()
    h.setNow('2026-11-30T08:16:03Z')
    await h.run()
    expect(h.quarantined.map((r) => r.key)).toEqual(['ZZZ/USD'])
  })
})
