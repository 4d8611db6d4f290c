/**
 * The Alpaca adapter's fetchBars over a fake fetch: paging, keys, retries (429 Retry-After, 5xx,
 * garbled or wrongly shaped bodies), partial results with the error, rejected requests.
 */
import { describe, expect, it } from 'vitest'
import { createAlpacaClient, isRequestRejected } from '../../functions/poll-bars/alpaca.ts'
import { HttpStatusError, MalformedBodyError } from '../../functions/shared/adapters/http.ts'
import { at, raw } from '../helpers/poll-bars.ts'

describe('alpaca adapter (fetchBars)', () => {
  type Handler = (url: URL, headers: Headers) => Response | Promise<Response>
  function fakeFetch(handler: Handler) {
    const urls: URL[] = []
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const url = new URL(String(input))
      urls.push(url)
      return handler(url, new Headers(init?.headers))
    }
    return { fetch, urls }
  }
  const json = (body: unknown, init?: ResponseInit) => new Response(JSON.stringify(body), init)
  const noSleep = async () => {}
  const far = Number.MAX_SAFE_INTEGER

  it('follows next_page_token with the other parameters unchanged', async () => {
    const pages: Record<string, unknown> = {
      '': { bars: { 'BTC/USD': [raw(at('08:10')), raw(at('08:11'))] }, next_page_token: 'p2' },
      p2: { bars: { 'BTC/USD': [raw(at('08:12'))], 'LTC/USD': [raw(at('08:10'))] }, next_page_token: 'p3' },
      p3: { bars: { 'LTC/USD': [raw(at('08:11'))] }, next_page_token: null },
    }
    const { fetch, urls } = fakeFetch((url) => json(pages[url.searchParams.get('page_token') ?? '']))
    const client = createAlpacaClient({
      baseUrl: 'https://data.example/',
      location: 'us-1',
      timeoutMs: 1000,
      fetch,
    })
    const result = await client.fetchBars(['BTC/USD', 'LTC/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(result.error).toBeUndefined()
    expect(result.bars['BTC/USD']?.map((bar) => (bar as { t: string }).t)).toEqual([
      at('08:10'),
      at('08:11'),
      at('08:12'),
    ])
    expect(result.bars['LTC/USD']?.map((bar) => (bar as { t: string }).t)).toEqual([at('08:10'), at('08:11')])
    expect(urls.map((url) => url.pathname)).toEqual(Array(3).fill('/v1beta3/crypto/us-1/bars'))
    expect(urls.map((url) => Object.fromEntries(url.searchParams))).toEqual([
      {
        symbols: 'BTC/USD,LTC/USD',
        timeframe: '1Min',
        start: at('08:10'),
        end: at('08:14'),
        limit: '10000',
        sort: 'asc',
      },
      {
        symbols: 'BTC/USD,LTC/USD',
        timeframe: '1Min',
        start: at('08:10'),
        end: at('08:14'),
        limit: '10000',
        sort: 'asc',
        page_token: 'p2',
      },
      {
        symbols: 'BTC/USD,LTC/USD',
        timeframe: '1Min',
        start: at('08:10'),
        end: at('08:14'),
        limit: '10000',
        sort: 'asc',
        page_token: 'p3',
      },
    ])
  })

  it('sends the API keys when it has them', async () => {
    let seen: Headers | undefined
    const { fetch } = fakeFetch((_url, headers) => {
      seen = headers
      return json({ bars: {}, next_page_token: null })
    })
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      keys: { keyId: 'AK', secretKey: 'SK' },
    })
    await client.fetchBars(['BTC/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(seen?.get('apca-api-key-id')).toBe('AK')
    expect(seen?.get('apca-api-secret-key')).toBe('SK')
  })

  it('honours 429 Retry-After and retries 5xx and garbled bodies, keeping the garbled ones', async () => {
    const answers = [
      () => json({ message: 'rate limit exceeded' }, { status: 429, headers: { 'retry-after': '2' } }),
      () => json({ message: 'oops' }, { status: 503 }),
      () => new Response('{"bars":{"BTC/USD":[{"t":'),
      () => json({ bars: { 'BTC/USD': [raw(at('08:10'))] }, next_page_token: null }),
    ]
    const { fetch } = fakeFetch(() => (answers.shift() as () => Response)())
    const sleeps: number[] = []
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      sleep: async (ms) => {
        sleeps.push(ms)
      },
      random: () => 0,
    })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:10'), { deadline: far })
    expect(result.error).toBeUndefined()
    expect(result.bars['BTC/USD']).toHaveLength(1)
    expect(sleeps).toEqual([2000, 250, 500])
    expect(result.malformed).toHaveLength(1)
    expect(result.malformed[0]?.body).toBe('{"bars":{"BTC/USD":[{"t":')
    expect(result.malformed[0]?.detail).toContain('page 1 of BTC/USD')
  })

  it('treats a body of the wrong shape like a garbled one', async () => {
    const { fetch } = fakeFetch(() => json({ bars: { 'BTC/USD': { t: 'x' } } }))
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      retries: 1,
      sleep: noSleep,
    })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:10'), { deadline: far })
    expect(result.error).toBeInstanceOf(MalformedBodyError)
    expect(result.malformed.map((m) => m.body)).toEqual(Array(2).fill('{"bars":{"BTC/USD":{"t":"x"}}}'))
  })

  it.each([
    [[], 'the body is not an object'],
    [{ bars: [] }, 'bars is not an object'],
    [{ bars: { 'BTC/USD': { t: 'x' } } }, 'bars of BTC/USD is not a list'],
    // Numbers arrive as their source text (shared/adapters/http.ts): an object is what cannot be a token.
    [{ bars: {}, next_page_token: {} }, 'next_page_token is not a string'],
  ])('says what is wrong with a page of the wrong shape: %j', async (body, why) => {
    const { fetch } = fakeFetch(() => json(body))
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      retries: 0,
    })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:10'), { deadline: far })
    expect(result.malformed.map((m) => m.detail.endsWith(`: ${why}`))).toEqual([true])
  })

  it('returns the pages it got with the error when a later page keeps failing', async () => {
    const { fetch } = fakeFetch((url) =>
      url.searchParams.get('page_token')
        ? json({ message: 'down' }, { status: 500 })
        : json({ bars: { 'BTC/USD': [raw(at('08:10'))] }, next_page_token: 'p2' }),
    )
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      retries: 2,
      sleep: noSleep,
    })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(result.bars['BTC/USD']).toHaveLength(1)
    expect(result.error).toBeInstanceOf(HttpStatusError)
    expect((result.error as HttpStatusError).status).toBe(500)
  })

  it('does not retry a rejected request', async () => {
    const { fetch, urls } = fakeFetch(() => json({ message: 'invalid symbol' }, { status: 400 }))
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      sleep: noSleep,
    })
    const result = await client.fetchBars(['BAD/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(urls).toHaveLength(1)
    expect(isRequestRejected(result.error)).toBe(true)
  })

  it('stops when the API repeats a page token', async () => {
    const { fetch, urls } = fakeFetch(() => json({ bars: {}, next_page_token: 'same' }))
    const client = createAlpacaClient({ baseUrl: 'https://d', location: 'us', timeoutMs: 1000, fetch })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(urls).toHaveLength(2)
    expect(String(result.error)).toContain('repeated page token')
  })
})
