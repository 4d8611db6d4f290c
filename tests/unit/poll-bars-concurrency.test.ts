/**
 * Overlapping and repeated invocations: a watermark never moves backwards, a double-fired
 * schedule emits one record per recalculated bar, a re-polled window the same event ids.
 */
import { describe, expect, it } from 'vitest'
import { pollBars } from '../../functions/poll-bars/core.ts'
import type { BarEvent } from '../../functions/shared/contracts.ts'
import { at, btcAndLtc, harness, ms, recalculated, settled } from '../helpers/poll-bars.ts'

describe('pollBars', () => {
  it('never moves a watermark backwards when another invocation wrote in between', async () => {
    const h = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:30Z' })
    const load = h.watermarks.load.bind(h.watermarks)
    let first = true
    h.watermarks.load = async () => {
      const loaded = await load()
      if (first) {
        first = false
        // A concurrent run saves BTC further ahead right after we read.
        await h.watermarks.set({ 'BTC/USD': at('08:20') })
      }
      return loaded
    }
    await h.run()
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:20'), 'LTC/USD': at('08:14') })
  })

  it('re-polling a window emits the same event ids (sinks dedupe)', async () => {
    const first = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:30Z' })
    const second = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:59Z' })
    await first.run()
    await second.run()
    // Only when it was seen differs: `ingested_at` and `revision` (sinks keep the higher).
    const strip = (events: BarEvent[]) =>
      events.map(({ ingested_at: _at, revision: _revision, ...rest }) => rest)
    expect(strip(second.events())).toEqual(strip(first.events()))
  })
})

describe('bar revisions (settle window)', () => {
  it('a double-fired schedule: both emit the recalculated bar with one revision, the scheduled time', async () => {
    const market = btcAndLtc('08:00', '08:20')
    const shared = harness({
      market,
      now: '2026-11-30T08:15:30Z',
      config: { ...settled, symbols: ['BTC/USD'] },
    })
    await shared.run()
    market['BTC/USD'][14] = recalculated(at('08:14'))
    // Invocation A reads the document, then B (later clock) runs whole and saves before A does.
    const b = {
      ...shared.deps,
      clock: () => new Date('2026-11-30T08:16:04Z'),
    }
    const load = shared.watermarks.load.bind(shared.watermarks)
    let interleaved = false
    shared.watermarks.load = async () => {
      const loaded = await load()
      if (!interleaved) {
        interleaved = true
        await pollBars({ scheduledAt: new Date('2026-11-30T08:16:00Z') }, b)
      }
      return loaded
    }
    shared.setNow('2026-11-30T08:16:02Z')
    await shared.run({ scheduledAt: '2026-11-30T08:16:00Z' })
    const revisions = shared
      .events()
      .filter((e) => e.start === at('08:14'))
      .map((e) => e.revision)
    // First version, then B's and A's sightings of the recalculated content: seen at different
    // instants, but for the same scheduled time, so the same record (every sink dedupes it).
    expect(revisions).toEqual([
      ms('2026-11-30T08:15:30Z'),
      ms('2026-11-30T08:16:00Z'),
      ms('2026-11-30T08:16:00Z'),
    ])
    const recalculatedEvents = shared
      .events()
      .filter((e) => e.start === at('08:14'))
      .slice(1)
    expect(recalculatedEvents[0]).toEqual({
      ...recalculatedEvents[1],
      ingested_at: recalculatedEvents[0]?.ingested_at,
    })
    expect(shared.watermarks.settle()['BTC/USD']?.[at('08:14')]?.revision).toBe(ms('2026-11-30T08:16:00Z'))
    expect(shared.watermarks.current()['BTC/USD']).toBe(at('08:15'))
    shared.watermarks.load = load
    shared.setNow('2026-11-30T08:16:30Z')
    expect((await shared.run()).emitted).toBe(0)
  })
})
