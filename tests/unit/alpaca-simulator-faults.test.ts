/** The Alpaca simulator's injected faults: each fails the way the real API does. */
import { describe, expect, it } from 'vitest'
import {
  type FaultConfig,
  parseFaults,
  simulatedBar,
  startAlpacaSimulator,
  UNKNOWN_SYMBOL,
} from '../../local/simulators/alpaca.ts'
import { type Bar, barsPath, simulator, started } from '../helpers/alpaca-simulator.ts'

describe('alpaca simulator: faults', () => {
  const path = barsPath('symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:04:00Z')

  it('rateLimitEvery: every Nth request is a 429 with Retry-After and X-RateLimit-Reset', async () => {
    const { get, sim } = await simulator({ faults: { rateLimitEvery: 2, retryAfterSeconds: 3 } })
    const statuses: number[] = []
    let limited: Headers | undefined
    for (let i = 0; i < 4; i++) {
      const response = await get(path)
      statuses.push(response.status)
      if (response.status === 429) limited = response.headers
    }
    expect(statuses).toEqual([200, 429, 200, 429])
    expect(limited?.get('retry-after')).toBe('3')
    expect(limited?.get('x-ratelimit-remaining')).toBe('0')
    expect(Number(limited?.get('x-ratelimit-reset'))).toBe(Date.parse('2026-11-30T08:10:30Z') / 1000 + 3)
    expect(sim.stats().rateLimited).toBe(2)
  })

  it('rateLimitPerMinute: a real budget per clock minute', async () => {
    const { get, setNow } = await simulator({ faults: { rateLimitPerMinute: 2 } })
    expect([(await get(path)).status, (await get(path)).status]).toEqual([200, 200])
    const over = await get(path)
    expect(over.status).toBe(429)
    // 08:10:30 -> the budget resets at 08:11:00, 30 s away.
    expect(over.headers.get('retry-after')).toBe('30')
    setNow('2026-11-30T08:11:00Z')
    expect((await get(path)).status).toBe(200)
  })

  it('serverErrorEvery: every Nth request fails with the configured status', async () => {
    const { get, sim } = await simulator({ faults: { serverErrorEvery: 3, serverErrorStatus: 503 } })
    const statuses = []
    for (let i = 0; i < 6; i++) statuses.push((await get(path)).status)
    expect(statuses).toEqual([200, 200, 503, 200, 200, 503])
    expect(sim.stats().serverErrors).toBe(2)
  })

  it('slowMs: answers late (every slowEvery-th request)', async () => {
    const { get, sim } = await simulator({ faults: { slowMs: 250, slowEvery: 2 } })
    const times = []
    for (let i = 0; i < 2; i++) {
      const begin = performance.now()
      expect((await get(path)).status).toBe(200)
      times.push(performance.now() - begin)
    }
    expect(times[0]).toBeLessThan(200)
    expect(times[1]).toBeGreaterThanOrEqual(245)
    expect(sim.stats().slowed).toBe(1)
  })

  it('malformedEvery: a 200 whose body is cut short', async () => {
    const { get, sim } = await simulator({ faults: { malformedEvery: 2 } })
    const good = await get(path)
    const bad = await get(path)
    expect(() => JSON.parse(good.text)).not.toThrow()
    expect(bad.status).toBe(200)
    expect(() => JSON.parse(bad.text)).toThrow(SyntaxError)
    expect(good.text.startsWith(bad.text)).toBe(true)
    expect(sim.stats().malformed).toBe(1)
  })

  it('badBars (list): spoils the named bars, one kind each', async () => {
    const minute = (m: number) => `2026-11-30T08:0${m}:00Z`
    const faults: FaultConfig = {
      badBars: [
        { minute: minute(0), kind: 'nan_price' },
        { minute: minute(1), kind: 'negative_price' },
        { minute: minute(2), kind: 'high_below_low' },
        { minute: minute(3), kind: 'missing_field' },
        { minute: minute(4), kind: 'mistyped_field' },
        { minute: minute(5), kind: 'off_minute' },
        { minute: minute(6), kind: 'unknown_symbol', symbol: 'BTC/USD' },
      ],
    }
    const { get, sim } = await simulator({ faults })
    const clean = await simulator()
    const query = barsPath('symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:07:00Z')
    const bad = JSON.parse((await get(query)).text).bars
    const good = JSON.parse((await clean.get(query)).text).bars
    const [b0, b1, b2, b3, b4, b5, b7] = bad['BTC/USD']
    const [g0, g1, g2, , , , , g7] = good['BTC/USD']
    expect(bad['BTC/USD']).toHaveLength(7)
    expect(b0.c).toBe('NaN')
    expect(b1.l).toBe(-g1.l)
    expect([b2.h, b2.l]).toEqual([g2.l, g2.h])
    expect(b2.h).toBeLessThan(b2.l)
    expect(b3).not.toHaveProperty('o')
    expect(b4.v).toBe(true)
    expect(b5.t).toBe('2026-11-30T08:05:17Z')
    expect(bad[UNKNOWN_SYMBOL]).toEqual([good['BTC/USD'][6]])
    expect(b7).toEqual(g7)
    expect(g0.c).toEqual(expect.any(Number))
    expect(sim.stats().badBarsServed).toBe(7)
  })

  it('high_below_low spoils a flat bar too (no trades: high = low, so a swap alone would be valid)', async () => {
    const first = Date.parse('2026-11-30T00:00:00Z') / 60_000
    const flat = Array.from({ length: 600 }, (_, i) => first + i).find(
      (m) => simulatedBar(0, 'BTC/USD', m).v === '0',
    )
    if (flat === undefined) throw new Error('no flat bar in ten hours: the simulator changed')
    const t = new Date(flat * 60_000).toISOString().replace('.000Z', 'Z')
    const { get } = await simulator({
      seed: 0,
      at: '2026-11-30T12:00:00Z',
      faults: { badBars: [{ minute: t, kind: 'high_below_low' }] },
    })
    const [bar] = JSON.parse((await get(barsPath(`symbols=BTC/USD&start=${t}&end=${t}`))).text).bars[
      'BTC/USD'
    ]
    expect(bar.t).toBe(t)
    expect(bar.h).toBeLessThan(bar.l)
  })

  it('badBars (fraction): a deterministic share of bars, the same on every request', async () => {
    const { get } = await simulator({
      at: '2026-11-30T12:00:00Z',
      faults: { badBars: 0.1, badBarKinds: ['high_below_low'] },
    })
    const query = barsPath('symbols=BTC/USD&start=2026-11-30T10:00:00Z&end=2026-11-30T11:59:00Z')
    const first = JSON.parse((await get(query)).text).bars['BTC/USD'] as Bar[]
    const second = JSON.parse((await get(query)).text).bars['BTC/USD'] as Bar[]
    expect(second).toEqual(first)
    const spoiled = first.filter((bar) => bar.h < bar.l).length
    expect(spoiled).toBeGreaterThan(3)
    expect(spoiled).toBeLessThan(30)
  })

  it('missingMinutes: explicit minutes and ranges have no bar; a fraction drops some', async () => {
    const { get } = await simulator({
      faults: {
        missingMinutes: [
          '2026-11-30T08:01:00Z',
          { from: '2026-11-30T08:03:00Z', to: '2026-11-30T08:05:00Z', symbol: 'BTC/USD' },
        ],
      },
    })
    const body = JSON.parse(
      (await get(barsPath('symbols=BTC/USD,LTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:06:00Z')))
        .text,
    )
    expect(body.bars['BTC/USD'].map((bar: Bar) => bar.t.slice(14, 16))).toEqual(['00', '02', '06'])
    expect(body.bars['LTC/USD'].map((bar: Bar) => bar.t.slice(14, 16))).toEqual([
      '00',
      '02',
      '03',
      '04',
      '05',
      '06',
    ])

    const sparse = await simulator({ at: '2026-11-30T12:00:00Z', faults: { missingMinutes: 0.2 } })
    const kept = JSON.parse(
      (await sparse.get(barsPath('symbols=BTC/USD&start=2026-11-30T10:00:00Z&end=2026-11-30T11:59:00Z')))
        .text,
    ).bars['BTC/USD'].length
    expect(kept).toBeGreaterThan(80)
    expect(kept).toBeLessThan(112)
  })

  it('setFaults replaces the faults and restarts their count; stats count requests and keys', async () => {
    const { get, sim } = await simulator({ faults: { serverErrorEvery: 2 } })
    expect((await get(path)).status).toBe(200)
    sim.setFaults({ serverErrorEvery: 3 })
    const statuses = []
    for (let i = 0; i < 3; i++)
      statuses.push((await get(path, { 'APCA-API-KEY-ID': 'k', 'APCA-API-SECRET-KEY': 's' })).status)
    expect(statuses).toEqual([200, 200, 500])
    const stats = sim.stats()
    expect(stats.requests).toBe(4)
    expect(stats.authenticated).toBe(3)
    expect(stats.byEndpoint.bars).toBe(4)
    expect(stats.log.map((entry) => entry.status)).toEqual([200, 200, 200, 500])
  })

  it('parseFaults reads JSON and the compact form, and refuses what it does not know', () => {
    expect(parseFaults('rateLimitEvery=5,slowMs=200,badBars=0.05,badBarKinds=nan_price+off_minute')).toEqual({
      rateLimitEvery: 5,
      slowMs: 200,
      badBars: 0.05,
      badBarKinds: ['nan_price', 'off_minute'],
    })
    expect(parseFaults('{"missingMinutes":["2026-11-30T08:01:00Z"],"malformedEvery":3}')).toEqual({
      missingMinutes: ['2026-11-30T08:01:00Z'],
      malformedEvery: 3,
    })
    expect(parseFaults('')).toEqual({})
    expect(parseFaults(undefined)).toEqual({})
    expect(() => parseFaults('explodeEvery=2')).toThrow(/explodeEvery/)
    expect(() => parseFaults('serverErrorEvery=0')).toThrow(/serverErrorEvery/)
    expect(() => parseFaults('badBars=1.5')).toThrow(/badBars/)
    expect(() => parseFaults('badBarKinds=sideways')).toThrow(/badBarKinds/)
    expect(() => parseFaults('{"missingMinutes":["2026-11-30T08:01:30Z"]}')).toThrow(/minute/)
  })

  it('reads ALPACA_SIM_FAULTS when no faults are given', async () => {
    const previous = process.env.ALPACA_SIM_FAULTS
    process.env.ALPACA_SIM_FAULTS = 'serverErrorEvery=1'
    try {
      const sim = await startAlpacaSimulator({ now: () => new Date('2026-11-30T08:10:30Z') })
      started.push(sim)
      expect((await fetch(`${sim.url}${path}`)).status).toBe(500)
    } finally {
      if (previous === undefined) delete process.env.ALPACA_SIM_FAULTS
      else process.env.ALPACA_SIM_FAULTS = previous
    }
  })
})
