import { afterEach, describe, expect, it } from 'vitest'
import { createCoinApiClient } from '../../functions/refresh-assets/coinapi.ts'
import {
  type CoinApiSimulator,
  type CoinApiSimulatorOptions,
  iconHash,
  parseCoinApiFaults,
  startCoinApiSimulator,
} from '../../local/simulators/coinapi.ts'

const started: CoinApiSimulator[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((sim) => sim.close()))
})

async function simulator(options: CoinApiSimulatorOptions = {}) {
  const sim = await startCoinApiSimulator({ faults: {}, assets: ['BTC', 'LTC', 'USD', 'ETH'], ...options })
  started.push(sim)
  const get = async (path: string, key: string | undefined = 'sim-key') => {
    const response = await fetch(`${sim.url}${path}`, {
      headers: key === undefined ? {} : { 'X-CoinAPI-Key': key },
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  }
  return { sim, get }
}

describe('coinapi simulator: icons', () => {
  it('lists {asset_id, url} for every asset, URLs pointing back at a PNG it serves', async () => {
    const { sim, get } = await simulator({ seed: 7 })
    const response = await get('/v1/assets/icons/32')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('application/json')
    const body = JSON.parse(response.text) as Array<{ asset_id: string; url: string }>
    expect(body.map((entry) => entry.asset_id)).toEqual(['BTC', 'LTC', 'USD', 'ETH'])
    expect(body[0]?.url).toBe(`${sim.url}/static/icons/png_32/${iconHash(7, 'BTC')}.png`)
    const png = await fetch(body[0]?.url ?? '')
    expect(png.status).toBe(200)
    expect(png.headers.get('content-type')).toBe('image/png')
    const bytes = new Uint8Array(await png.arrayBuffer())
    // The PNG signature: 0x89 'P' 'N' 'G'
    expect([...bytes.slice(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47])
  })

  it('keeps icon names stable per seed and asset', () => {
    expect(iconHash(7, 'BTC')).toBe(iconHash(7, 'BTC'))
    expect(iconHash(7, 'BTC')).not.toBe(iconHash(8, 'BTC'))
    expect(iconHash(7, 'BTC')).toMatch(/^[0-9a-f]{32}$/)
  })

  it('answers 401 without a key or with a key it does not accept, 403 for a restricted key', async () => {
    const { get } = await simulator({ apiKeys: ['good'], restrictedKeys: ['basic'] })
    expect((await get('/v1/assets/icons/32', undefined)).status).toBe(401)
    const wrong = await get('/v1/assets/icons/32', 'bad')
    expect(wrong.status).toBe(401)
    expect(JSON.parse(wrong.text)).toEqual({ error: 'Invalid API key' })
    expect((await get('/v1/assets/icons/32', 'basic')).status).toBe(403)
    expect((await get('/v1/assets/icons/32', 'good')).status).toBe(200)
  })

  it('answers 400 for a size that is not a positive integer and 550 for one it has no data for', async () => {
    const { get } = await simulator()
    expect((await get('/v1/assets/icons/big')).status).toBe(400)
    expect((await get('/v1/assets/icons/0')).status).toBe(400)
    const none = await get('/v1/assets/icons/4096')
    expect(none.status).toBe(550)
    expect(JSON.parse(none.text)).toEqual({
      error: 'No data: the requested item is not available at this moment',
    })
    expect((await get('/v1/nothing')).status).toBe(404)
  })
})

describe('coinapi simulator: faults', () => {
  it('injects 429 with Retry-After every Nth request', async () => {
    const { sim, get } = await simulator({ faults: { rateLimitEvery: 2, retryAfterSeconds: 3 } })
    expect((await get('/v1/assets/icons/32')).status).toBe(200)
    const limited = await get('/v1/assets/icons/32')
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('3')
    expect((await get('/v1/assets/icons/32')).status).toBe(200)
    expect(sim.stats().rateLimited).toBe(1)
  })

  it('a storm that passes: faults hit only the first faultRequests requests', async () => {
    const { sim, get } = await simulator({
      faults: { serverErrorEvery: 1, serverErrorStatus: 503, faultRequests: 2 },
    })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await get('/v1/assets/icons/32')).status)
    expect(statuses).toEqual([503, 503, 200, 200])
    expect(sim.stats().serverErrors).toBe(2)
  })

  it('injects any CoinAPI error status, with its error body', async () => {
    const { sim, get } = await simulator()
    for (const status of [400, 401, 403, 429, 550]) {
      sim.setFaults({ errorStatus: status })
      const response = await get('/v1/assets/icons/32')
      expect(response.status).toBe(status)
      expect(typeof (JSON.parse(response.text) as { error: unknown }).error).toBe('string')
    }
    expect(sim.stats().injectedErrors).toBe(5)
  })

  it('injects 5xx, slow answers and bodies cut short', async () => {
    const { sim, get } = await simulator()
    sim.setFaults({ serverErrorEvery: 1, serverErrorStatus: 503 })
    expect((await get('/v1/assets/icons/32')).status).toBe(503)
    sim.setFaults({ malformedEvery: 1 })
    const cut = await get('/v1/assets/icons/32')
    expect(cut.status).toBe(200)
    expect(() => JSON.parse(cut.text)).toThrow(SyntaxError)
    sim.setFaults({ slowMs: 300 })
    const started = Date.now()
    expect((await get('/v1/assets/icons/32')).status).toBe(200)
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(sim.stats()).toMatchObject({ serverErrors: 1, malformed: 1, slowed: 1 })
  })

  it('spoils chosen icon entries', async () => {
    const { get } = await simulator({
      faults: {
        badIcons: { BTC: 'missing_url', LTC: 'empty_url', USD: 'not_a_url', ETH: 'missing_asset_id' },
      },
    })
    const body = JSON.parse((await get('/v1/assets/icons/32')).text) as Array<Record<string, unknown>>
    expect(body[0]).toEqual({ asset_id: 'BTC' })
    expect(body[1]).toMatchObject({ asset_id: 'LTC', url: '' })
    expect(body[2]).toMatchObject({ asset_id: 'USD', url: 'icon-not-available' })
    expect(Object.keys(body[3] ?? {})).toEqual(['url'])
  })

  it('parses faults from JSON or the compact form, and refuses unknown ones', () => {
    expect(
      parseCoinApiFaults('rateLimitEvery=3,retryAfterSeconds=2,badIcons=BTC:missing_url+LTC:not_a_url'),
    ).toEqual({
      rateLimitEvery: 3,
      retryAfterSeconds: 2,
      badIcons: { BTC: 'missing_url', LTC: 'not_a_url' },
    })
    expect(parseCoinApiFaults('{"errorStatus":550}')).toEqual({ errorStatus: 550 })
    expect(parseCoinApiFaults(undefined)).toEqual({})
    expect(() => parseCoinApiFaults('explode=1')).toThrow(/cannot read/)
    expect(() => parseCoinApiFaults('{"errorStatus":200}')).toThrow(/400..599/)
    expect(() => parseCoinApiFaults('badIcons=BTC:gone')).toThrow(/kind must be one of/)
  })

  it('is what the refresh-assets client expects: a 429 then the list', async () => {
    const { sim } = await simulator({ faults: { rateLimitEvery: 1, retryAfterSeconds: 0 } })
    sim.setFaults({ rateLimitEvery: 2, retryAfterSeconds: 0 })
    await fetch(`${sim.url}/v1/assets/icons/32`, { headers: { 'X-CoinAPI-Key': 'k' } })
    const client = createCoinApiClient({
      baseUrl: sim.url,
      apiKey: 'k',
      timeoutMs: 2_000,
      retries: 2,
      baseDelayMs: 1,
    })
    const fetched = await client.fetchIcons(32, { deadline: Date.now() + 10_000 })
    expect(fetched.error).toBeUndefined()
    expect(fetched.icons).toHaveLength(4)
    expect(sim.stats().statuses).toEqual({ 200: 2, 429: 1 })
  })
})
