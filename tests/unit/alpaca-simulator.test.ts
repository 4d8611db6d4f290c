import { afterEach, describe, expect, it } from 'vitest'
import {
  type AlpacaSimulator,
  DEFAULT_TIMING,
  type FaultConfig,
  isRecalculated,
  parseFaults,
  resolveTiming,
  type SimulatorOptions,
  simulatedBar,
  startAlpacaSimulator,
  UNKNOWN_SYMBOL,
} from '../../local/simulators/alpaca.ts'

const started: AlpacaSimulator[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((sim) => sim.close()))
})

/**
 * A simulator whose clock the test sets. Ideal timing (every closed minute at once, final)
 * unless the test pins `timing`: the realistic timing has its own tests below.
 */
async function simulator(options: SimulatorOptions & { at?: string } = {}) {
  let now = new Date(options.at ?? '2026-11-30T08:10:30Z')
  const sim = await startAlpacaSimulator({ faults: {}, timing: 'ideal', ...options, now: () => now })
  started.push(sim)
  return {
    sim,
    setNow: (iso: string) => {
      now = new Date(iso)
    },
    get: async (path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${sim.url}${path}`, { headers })
      return { status: response.status, headers: response.headers, text: await response.text() }
    },
  }
}

type Bar = { t: string; o: number; h: number; l: number; c: number; v: number; n: number; vw: number }
type BarsBody = { bars: Record<string, Bar[]>; next_page_token: string | null }

const barsPath = (query: string) => `/v1beta3/crypto/us/bars?timeframe=1Min&${query}`

describe('alpaca simulator: bars', () => {
  it('answers the v1beta3 shape with numbers as JSON numbers', async () => {
    const { get } = await simulator()
    const response = await get(
      barsPath('symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:01:00Z'),
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('application/json')
    expect(response.headers.get('x-ratelimit-limit')).toBe('200')
    const body = JSON.parse(response.text) as BarsBody
    expect(Object.keys(body)).toEqual(['bars', 'next_page_token'])
    expect(body.next_page_token).toBeNull()
    expect(body.bars['BTC/USD']?.map((bar) => bar.t)).toEqual([
      '2026-11-30T08:00:00Z',
      '2026-11-30T08:01:00Z',
    ])
    for (const bar of body.bars['BTC/USD'] ?? []) {
      expect(Object.keys(bar)).toEqual(['t', 'o', 'h', 'l', 'c', 'v', 'n', 'vw'])
      for (const key of ['o', 'h', 'l', 'c', 'v', 'n', 'vw'] as const) expect(typeof bar[key]).toBe('number')
      expect(bar.h).toBeGreaterThanOrEqual(Math.max(bar.o, bar.c, bar.l))
      expect(bar.l).toBeLessThanOrEqual(Math.min(bar.o, bar.c))
    }
    // Prices are written with a fixed number of decimals, never an exponent.
    expect(response.text).not.toMatch(/\de[-+]?\d/i)
  })

  it('serves closed minutes only', async () => {
    const { get, setNow } = await simulator({ at: '2026-11-30T08:10:30Z' })
    const query = 'symbols=BTC/USD&start=2026-11-30T08:05:00Z&end=2026-11-30T08:30:00Z'
    let body = JSON.parse((await get(barsPath(query))).text) as BarsBody
    // At 08:10:30 the 08:10 bar is in progress: the last closed one starts at 08:09.
    expect(body.bars['BTC/USD']?.map((bar) => bar.t.slice(11, 16))).toEqual([
      '08:05',
      '08:06',
      '08:07',
      '08:08',
      '08:09',
    ])
    setNow('2026-11-30T08:11:00Z')
    body = JSON.parse((await get(barsPath(query))).text) as BarsBody
    expect(body.bars['BTC/USD']?.at(-1)?.t).toBe('2026-11-30T08:10:00Z')
  })

  it('pages with an opaque next_page_token, limit spanning all symbols', async () => {
    const { get } = await simulator({ at: '2026-11-30T09:00:00Z' })
    const query = 'symbols=LTC/USD,BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:09:00Z'
    const whole = JSON.parse((await get(barsPath(`${query}&limit=10000`))).text) as BarsBody
    expect(whole.bars['BTC/USD']).toHaveLength(10)
    expect(whole.bars['LTC/USD']).toHaveLength(10)
    const pages: BarsBody[] = []
    let token: string | null = null
    do {
      const page = JSON.parse(
        (await get(barsPath(`${query}&limit=7${token ? `&page_token=${token}` : ''}`))).text,
      ) as BarsBody
      pages.push(page)
      token = page.next_page_token
    } while (token)
    expect(pages.map((page) => Object.values(page.bars).flat().length)).toEqual([7, 7, 6])
    const joined: Record<string, Bar[]> = {}
    for (const page of pages) {
      for (const [symbol, bars] of Object.entries(page.bars))
        joined[symbol] = [...(joined[symbol] ?? []), ...bars]
    }
    expect(joined).toEqual(whole.bars)
    // 20 bars in pages of 7 ends exactly: no token after the last page.
    expect(pages.at(-1)?.next_page_token).toBeNull()
  })

  it('yields the same bar for the same minute whatever the request or the simulator instance', async () => {
    const a = await simulator({ seed: 7, at: '2026-11-30T09:00:00Z' })
    const b = await simulator({ seed: 7, at: '2026-12-01T00:00:00Z' })
    const c = await simulator({ seed: 8, at: '2026-11-30T09:00:00Z' })
    const one = JSON.parse(
      (await a.get(barsPath('symbols=BTC/USD&start=2026-11-30T08:30:00Z&end=2026-11-30T08:30:00Z'))).text,
    )
    const wide = JSON.parse(
      (await b.get(barsPath('symbols=ETH/USD,BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:59:00Z')))
        .text,
    )
    const other = JSON.parse(
      (await c.get(barsPath('symbols=BTC/USD&start=2026-11-30T08:30:00Z&end=2026-11-30T08:30:00Z'))).text,
    )
    const minute = (body: BarsBody) => body.bars['BTC/USD']?.find((bar) => bar.t === '2026-11-30T08:30:00Z')
    expect(minute(one)).toBeDefined()
    expect(minute(wide)).toEqual(minute(one))
    expect(minute(other)).not.toEqual(minute(one))
  })

  it('walks at realistic levels, with some zero-volume bars', async () => {
    const { get } = await simulator({ at: '2026-12-01T00:00:00Z' })
    const body = JSON.parse(
      (
        await get(
          barsPath(
            'symbols=BTC/USD,LTC/USD,ETH/USD,XYZ/USD&start=2026-11-30T00:00:00Z&end=2026-11-30T23:59:00Z&limit=10000',
          ),
        )
      ).text,
    ) as BarsBody
    const closes = (symbol: string) => (body.bars[symbol] ?? []).map((bar) => bar.c)
    const within = (symbol: string, low: number, high: number) => {
      expect(closes(symbol)).toHaveLength(1440)
      expect(Math.min(...closes(symbol))).toBeGreaterThan(low)
      expect(Math.max(...closes(symbol))).toBeLessThan(high)
    }
    within('BTC/USD', 75_000, 105_000)
    within('LTC/USD', 75, 105)
    within('ETH/USD', 2_500, 3_500)
    within('XYZ/USD', 80, 120)
    const zero = (body.bars['BTC/USD'] ?? []).filter((bar) => bar.v === 0)
    expect(zero.length).toBeGreaterThan(20)
    expect(zero.length).toBeLessThan(150)
    for (const bar of zero) expect([bar.o, bar.h, bar.l, bar.n]).toEqual([bar.c, bar.c, bar.c, 0])
    // Consecutive traded bars connect: a close is the next bar's open.
    const btc = body.bars['BTC/USD'] ?? []
    const connected = btc
      .slice(1)
      .filter((bar, i) => bar.v > 0 && (btc[i]?.v ?? 0) > 0 && bar.o === btc[i]?.c)
    expect(connected.length).toBeGreaterThan(1000)
  })

  it('sorts descending on request', async () => {
    const { get } = await simulator({ at: '2026-11-30T09:00:00Z' })
    const body = JSON.parse(
      (
        await get(
          barsPath('symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:04:00Z&sort=desc&limit=3'),
        )
      ).text,
    ) as BarsBody
    expect(body.bars['BTC/USD']?.map((bar) => bar.t.slice(11, 16))).toEqual(['08:04', '08:03', '08:02'])
    const rest = JSON.parse(
      (
        await get(
          barsPath(
            `symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:04:00Z&sort=desc&limit=3&page_token=${body.next_page_token}`,
          ),
        )
      ).text,
    ) as BarsBody
    expect(rest.bars['BTC/USD']?.map((bar) => bar.t.slice(11, 16))).toEqual(['08:01', '08:00'])
  })

  it('omits symbols it does not serve and rejects bad requests like Alpaca', async () => {
    const { get } = await simulator({ symbols: ['BTC/USD'] })
    const body = JSON.parse(
      (await get(barsPath('symbols=BTC/USD,DOGE/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T08:00:00Z')))
        .text,
    )
    expect(Object.keys(body.bars)).toEqual(['BTC/USD'])
    expect((await get(barsPath('start=2026-11-30T08:00:00Z'))).status).toBe(400)
    expect((await get(barsPath('symbols=BTC/USD&limit=10001'))).status).toBe(400)
    expect((await get('/v1beta3/crypto/us/bars?symbols=BTC/USD&timeframe=1Week')).status).toBe(400)
    expect((await get(barsPath('symbols=BTC/USD&page_token=%%%'))).status).toBe(400)
    expect((await get(barsPath('symbols=BTC/USD&start=yesterday'))).status).toBe(400)
    expect((await get('/v1beta3/crypto/mars/bars?symbols=BTC/USD&timeframe=1Min')).status).toBe(404)
    expect((await get('/v1beta3/crypto/us-1/bars?symbols=BTC/USD&timeframe=1Min')).status).toBe(200)
  })
})

describe('alpaca simulator: latest', () => {
  it('latest/bars is the last closed bar', async () => {
    const { get } = await simulator({ at: '2026-11-30T08:10:30Z' })
    const latest = JSON.parse((await get('/v1beta3/crypto/us/latest/bars?symbols=BTC/USD,LTC/USD')).text)
    const bars = JSON.parse(
      (await get(barsPath('symbols=BTC/USD,LTC/USD&start=2026-11-30T08:09:00Z&end=2026-11-30T08:09:00Z')))
        .text,
    )
    expect(latest.bars['BTC/USD']).toEqual(bars.bars['BTC/USD'][0])
    expect(latest.bars['LTC/USD']).toEqual(bars.bars['LTC/USD'][0])
  })

  it('latest/quotes has bid < ask around the last close', async () => {
    const { get } = await simulator({ at: '2026-11-30T08:10:30Z' })
    const latest = JSON.parse(
      (await get('/v1beta3/crypto/us/latest/bars?symbols=BTC/USD,LTC/USD,DOGE/USD')).text,
    )
    const body = JSON.parse(
      (await get('/v1beta3/crypto/us/latest/quotes?symbols=BTC/USD,LTC/USD,DOGE/USD')).text,
    )
    expect(Object.keys(body)).toEqual(['quotes'])
    for (const symbol of ['BTC/USD', 'LTC/USD', 'DOGE/USD']) {
      const quote = body.quotes[symbol]
      expect(Object.keys(quote).sort()).toEqual(['ap', 'as', 'bp', 'bs', 't'])
      expect(quote.t).toBe('2026-11-30T08:10:30.000Z')
      expect(quote.bp).toBeLessThan(quote.ap)
      expect(quote.bs).toBeGreaterThan(0)
      expect(quote.as).toBeGreaterThan(0)
      const close = latest.bars[symbol].c
      expect(Math.abs(quote.bp - close) / close).toBeLessThan(0.001)
      expect(Math.abs(quote.ap - close) / close).toBeLessThan(0.001)
    }
  })
})

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

describe('alpaca simulator: realistic timing (like Alpaca)', () => {
  const minute = (hhmm: string) =>
    barsPath(`symbols=BTC/USD&start=2026-11-30T${hhmm}:00Z&end=2026-11-30T${hhmm}:00Z`)
  const barOf = async (get: (path: string) => Promise<{ text: string }>, hhmm: string) =>
    (JSON.parse((await get(minute(hhmm))).text) as BarsBody).bars['BTC/USD']?.[0]
  // Seed 1, BTC/USD: 08:01 is one of the recalculated bars, 08:03 is not.
  const PRELIMINARY_0801 = {
    o: 92340.39,
    h: 92345.7,
    l: 92278.91,
    c: 92291.13,
    v: 0.06861805,
    n: 6,
    vw: 92319.61,
  }
  const FINAL_0801 = { o: 92340.39, h: 92360.91, l: 92240.6, c: 92276.43, v: 0.09738049, n: 7, vw: 92269.31 }
  const FINAL_0803 = { o: 92306.13, h: 92351.52, l: 92277.49, c: 92324.66, v: 0.47275126, n: 15, vw: 92346.8 }

  it('is the default: 1 s publication delay, 30 % recalculated 30 s later', async () => {
    expect(DEFAULT_TIMING).toEqual({
      mode: 'realistic',
      publishDelayMs: 1000,
      recalcDelayMs: 30000,
      recalcFraction: 0.3,
    })
    expect(resolveTiming(undefined)).toEqual(DEFAULT_TIMING)
    expect(resolveTiming('ideal')).toEqual({
      mode: 'ideal',
      publishDelayMs: 0,
      recalcDelayMs: 0,
      recalcFraction: 0,
    })
    expect(() => resolveTiming({ mode: 'realistic', recalcFraction: 2 })).toThrow(/recalcFraction/)
  })

  it('serves a bar only publishDelayMs after its minute closed', async () => {
    const { get, setNow } = await simulator({
      seed: 1,
      timing: { mode: 'realistic' },
      at: '2026-11-30T08:04:00.999Z',
    })
    expect(await barOf(get, '08:03')).toBeUndefined()
    setNow('2026-11-30T08:04:01Z')
    expect(await barOf(get, '08:03')).toEqual({ t: '2026-11-30T08:03:00Z', ...FINAL_0803 })
    // Not recalculated: the same bar a minute later.
    setNow('2026-11-30T08:05:10Z')
    expect(await barOf(get, '08:03')).toEqual({ t: '2026-11-30T08:03:00Z', ...FINAL_0803 })
  })

  it('serves a recalculated bar first in its preliminary version, then in its final one', async () => {
    const { sim, get, setNow } = await simulator({
      seed: 1,
      timing: { mode: 'realistic' },
      at: '2026-11-30T08:02:01Z',
    })
    expect(await barOf(get, '08:01')).toEqual({ t: '2026-11-30T08:01:00Z', ...PRELIMINARY_0801 })
    setNow('2026-11-30T08:02:30.999Z')
    expect(await barOf(get, '08:01')).toEqual({ t: '2026-11-30T08:01:00Z', ...PRELIMINARY_0801 })
    setNow('2026-11-30T08:02:31Z')
    expect(await barOf(get, '08:01')).toEqual({ t: '2026-11-30T08:01:00Z', ...FINAL_0801 })
    // The preliminary version is a valid bar too: open and close within [low, high].
    expect(PRELIMINARY_0801.l).toBeLessThanOrEqual(Math.min(PRELIMINARY_0801.o, PRELIMINARY_0801.c))
    expect(PRELIMINARY_0801.h).toBeGreaterThanOrEqual(Math.max(PRELIMINARY_0801.o, PRELIMINARY_0801.c))
    expect(sim.stats()).toMatchObject({ preliminaryBarsServed: 2, recalculatedBarsServed: 1 })
  })

  it('delays and recalculation are options', async () => {
    const { get, setNow } = await simulator({
      seed: 1,
      timing: { mode: 'realistic', publishDelayMs: 3000, recalcDelayMs: 10000 },
      at: '2026-11-30T08:02:02.999Z',
    })
    expect(await barOf(get, '08:01')).toBeUndefined()
    setNow('2026-11-30T08:02:03Z')
    expect(await barOf(get, '08:01')).toMatchObject(PRELIMINARY_0801)
    setNow('2026-11-30T08:02:13Z')
    expect(await barOf(get, '08:01')).toMatchObject(FINAL_0801)
  })

  it('recalculates about the configured fraction of the minutes, the same ones every time', async () => {
    const { get } = await simulator({ seed: 1, timing: { mode: 'realistic' }, at: '2026-11-30T12:00:00Z' })
    const { sim: other } = await simulator({
      seed: 1,
      timing: { mode: 'realistic' },
      at: '2026-11-30T12:00:00Z',
    })
    const body = async (url: string) =>
      JSON.parse(
        await (
          await fetch(
            `${url}${barsPath('symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T11:19:00Z')}`,
          )
        ).text(),
      )
    // All 200 minutes are long past their recalculation: both simulators serve the final bars.
    expect(
      JSON.parse(
        (await get(barsPath('symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T11:19:00Z'))).text,
      ),
    ).toEqual(await body(other.url))
    const recalculated = Array.from({ length: 200 }, (_, i) => i).filter((i) =>
      isRecalculated(1, 'BTC/USD', Date.parse('2026-11-30T08:00:00Z') / 60_000 + i, 0.3),
    )
    expect(recalculated.length).toBe(61)
  })

  it('latest/bars and latest/quotes follow the version being served', async () => {
    const { get, setNow } = await simulator({
      seed: 1,
      timing: { mode: 'realistic' },
      at: '2026-11-30T08:02:00.500Z',
    })
    // 08:01 is not published yet: the latest bar is 08:00's.
    let latest = JSON.parse((await get('/v1beta3/crypto/us/latest/bars?symbols=BTC/USD')).text)
    expect(latest.bars['BTC/USD'].t).toBe('2026-11-30T08:00:00Z')
    setNow('2026-11-30T08:02:05Z')
    latest = JSON.parse((await get('/v1beta3/crypto/us/latest/bars?symbols=BTC/USD')).text)
    expect(latest.bars['BTC/USD']).toEqual({ t: '2026-11-30T08:01:00Z', ...PRELIMINARY_0801 })
    let quote = JSON.parse((await get('/v1beta3/crypto/us/latest/quotes?symbols=BTC/USD')).text).quotes[
      'BTC/USD'
    ]
    expect(quote.bp).toBeLessThan(PRELIMINARY_0801.c)
    expect(quote.ap).toBeGreaterThan(PRELIMINARY_0801.c)
    setNow('2026-11-30T08:02:40Z')
    latest = JSON.parse((await get('/v1beta3/crypto/us/latest/bars?symbols=BTC/USD')).text)
    expect(latest.bars['BTC/USD']).toEqual({ t: '2026-11-30T08:01:00Z', ...FINAL_0801 })
    quote = JSON.parse((await get('/v1beta3/crypto/us/latest/quotes?symbols=BTC/USD')).text).quotes['BTC/USD']
    expect(quote.bp).toBeLessThan(FINAL_0801.c)
    expect(quote.ap).toBeGreaterThan(FINAL_0801.c)
  })
})
