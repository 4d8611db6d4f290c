/** pollBars through the real Alpaca adapter against the simulator with every fault turned on. */
import { describe, expect, it } from 'vitest'
import { createAlpacaClient } from '../../functions/poll-bars/alpaca.ts'
import { simulator } from '../helpers/alpaca-simulator.ts'
import { at, harness } from '../helpers/poll-bars.ts'

describe('pollBars against the simulator with faults', () => {
  it('gets every closed minute exactly once through 429s, 5xx, garbled bodies, slow answers and small pages', async () => {
    const { sim, setNow } = await simulator({
      seed: 3,
      at: '2026-11-30T10:00:20Z',
      // Faults, not timing, are under test here: every closed minute at once, final.
      timing: 'ideal',
      faults: {
        rateLimitEvery: 4,
        retryAfterSeconds: 1,
        serverErrorEvery: 5,
        malformedEvery: 7,
        slowMs: 400,
        slowEvery: 6,
        missingMinutes: ['2026-11-30T09:30:00Z'],
        badBars: [{ minute: '2026-11-30T09:40:00Z', symbol: 'LTC/USD', kind: 'off_minute' }],
      },
    })
    const sleeps: number[] = []
    const client = createAlpacaClient({
      baseUrl: sim.url,
      location: 'us',
      // Generous against a loaded machine, far below slowMs: slow answers always time out.
      timeoutMs: 100,
      pageLimit: 7,
      // Requests 4..8 all fail (429, 500, slow, garbled, 429): a page may need six attempts.
      retries: 10,
      sleep: async (ms) => {
        sleeps.push(ms)
      },
    })
    const h = harness({
      fetchBars: client.fetchBars,
      now: '2026-11-30T10:00:20Z',
      watermarks: { 'BTC/USD': at('09:00'), 'LTC/USD': at('09:00') },
    })
    const summary = await h.run()
    // 09:01..09:59 = 59 minutes per symbol; 09:30 has no bar; LTC's 09:40 is off the minute.
    expect(summary.perSymbol['BTC/USD']).toMatchObject({
      status: 'ok',
      emitted: 58,
      rejected: 0,
      watermark: at('09:59'),
    })
    expect(summary.perSymbol['LTC/USD']).toMatchObject({
      status: 'ok',
      emitted: 57,
      rejected: 1,
      watermark: at('09:59'),
    })
    const ids = h.events().map((e) => e.event_id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(h.quarantined.filter((r) => r.reason === 'upstream_malformed').map((r) => r.detail)).toEqual([
      't is not on the minute: 2026-11-30T09:40:17Z',
    ])
    expect(h.quarantined.filter((r) => r.reason === 'malformed_json').length).toBe(sim.stats().malformed)
    const stats = sim.stats()
    expect(stats.rateLimited).toBeGreaterThan(0)
    expect(stats.serverErrors).toBeGreaterThan(0)
    expect(stats.malformed).toBeGreaterThan(0)
    expect(stats.slowed).toBeGreaterThan(0)
    expect(sleeps.some((ms) => ms >= 1000)).toBe(true)

    setNow('2026-11-30T10:01:05Z')
    h.setNow('2026-11-30T10:01:05Z')
    const next = await h.run()
    expect(next.emitted).toBe(2)
  })
})
