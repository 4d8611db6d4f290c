/** The Alpaca simulator's bars and latest-quote endpoints, as Alpaca answers them. */
import { describe, expect, it } from 'vitest'
import { type Bar, type BarsBody, barsPath, simulator } from '../helpers/alpaca-simulator.ts'

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
