import Big from 'big.js'
import { afterEach, describe, expect, it } from 'vitest'
import { isFreshQuote, readQuote } from '../../functions/simulate-trades/latest-quote.ts'
import { createQuotesClient, latestQuotesUrl } from '../../functions/simulate-trades/quotes.ts'
import { type AlpacaSimulator, startAlpacaSimulator } from '../../local/simulators/alpaca.ts'
import { MINUTE, rawQuote } from '../helpers/alpaca-quote.ts'

describe('readQuote', () => {
  it('reads a quote, prices as exact decimal text', () => {
    expect(readQuote(rawQuote('97001.25', '97003.5'))).toEqual({
      quote: { bid: '97001.25', ask: '97003.5', at: Date.parse('2026-11-30T10:07:01.250Z') },
    })
  })

  it('refuses a locked or crossed book (bid >= ask)', () => {
    expect(readQuote(rawQuote('100', '100'))).toEqual({ invalid: 'bid 100 >= ask 100' })
    expect(readQuote(rawQuote('100.5', '100.25'))).toEqual({ invalid: 'bid 100.5 >= ask 100.25' })
  })

  it('refuses non-numeric, non-positive or missing prices and bad times', () => {
    expect(readQuote({ ...rawQuote('1', '2'), bp: 'NaN' })).toEqual({
      invalid: 'bp is not a finite number: "NaN"',
    })
    expect(readQuote({ ...rawQuote('1', '2'), ap: true })).toEqual({ invalid: 'ap is not a number: true' })
    expect(readQuote({ t: '2026-11-30T10:07:01Z', bp: '1' })).toEqual({
      invalid: 'ap is not a number: undefined',
    })
    expect(readQuote(rawQuote('0', '2'))).toEqual({ invalid: 'bid 0 is not positive' })
    expect(readQuote(rawQuote('1', '2', 'yesterday'))).toEqual({
      invalid: 't is not an RFC-3339 timestamp: "yesterday"',
    })
    expect(readQuote(null)).toEqual({ invalid: 'quote is not an object' })
  })
})

describe('isFreshQuote', () => {
  const fetchedAt = new Date('2026-11-30T10:07:03Z')
  it('accepts a quote up to the maximum age, at fetch time and around the scheduled minute', () => {
    expect(isFreshQuote(Date.parse('2026-11-30T10:05:03Z'), MINUTE, fetchedAt, 120_000)).toBe(true)
    expect(isFreshQuote(Date.parse('2026-11-30T10:07:02Z'), MINUTE, fetchedAt, 120_000)).toBe(true)
  })

  it('refuses a quote older than the maximum age when fetched', () => {
    expect(isFreshQuote(Date.parse('2026-11-30T10:05:02Z'), MINUTE, fetchedAt, 120_000)).toBe(false)
  })

  it('refuses a live quote for a minute replayed long after it', () => {
    const late = new Date('2026-11-30T11:00:05Z')
    expect(isFreshQuote(Date.parse('2026-11-30T11:00:04Z'), MINUTE, late, 120_000)).toBe(false)
  })
})

describe('latest quotes client against the Alpaca simulator', () => {
  let sim: AlpacaSimulator | undefined
  afterEach(async () => {
    await sim?.close()
    sim = undefined
  })

  it('builds the v1beta3 latest/quotes URL', () => {
    expect(
      latestQuotesUrl({ baseUrl: 'https://data.alpaca.markets/', location: 'us' }, ['BTC/USD', 'LTC/USD']),
    ).toBe('https://data.alpaca.markets/v1beta3/crypto/us/latest/quotes?symbols=BTC%2FUSD%2CLTC%2FUSD')
  })

  it('reads a body without quotes as no quotes, and keeps a wrongly shaped body for the quarantine', async () => {
    const bodies = ['{}', '{"quotes":[]}', '[]']
    const client = createQuotesClient({
      baseUrl: 'https://data.example',
      location: 'us',
      timeoutMs: 1_000,
      retries: 0,
      fetch: async () => new Response(bodies.shift(), { status: 200 }),
    })
    const fetch = () => client.fetchLatestQuotes(['BTC/USD'], { deadline: Date.now() + 10_000 })
    expect(await fetch()).toEqual({ quotes: {}, malformed: [] })
    const url = 'https://data.example/v1beta3/crypto/us/latest/quotes?…'
    for (const [body, why] of [
      ['{"quotes":[]}', 'quotes is not an object'],
      ['[]', 'the body is not an object'],
    ]) {
      const fetched = await fetch()
      expect(fetched.error).toBeDefined()
      expect(fetched.malformed).toEqual([
        {
          detail: `latest quotes of BTC/USD, attempt 1: GET ${url} returned a body that is not JSON: ${why}`,
          body,
        },
      ])
    }
  })

  it('fetches quotes whose bid < ask, retrying a 429 after its Retry-After', async () => {
    sim = await startAlpacaSimulator({ faults: {}, now: () => new Date('2026-11-30T10:07:02Z') })
    sim.setFaults({ rateLimitEvery: 1, retryAfterSeconds: 0 })
    const client = createQuotesClient({
      baseUrl: sim.url,
      location: 'us',
      timeoutMs: 2_000,
      retries: 2,
      baseDelayMs: 1,
    })
    const first = await client.fetchLatestQuotes(['BTC/USD'], { deadline: Date.now() + 10_000 })
    expect(first.error).toBeDefined()
    sim.setFaults({ rateLimitEvery: 2, retryAfterSeconds: 0 })
    await fetch(`${sim.url}/v1beta3/crypto/us/latest/quotes?symbols=BTC/USD`)
    const fetched = await client.fetchLatestQuotes(['BTC/USD', 'LTC/USD'], { deadline: Date.now() + 10_000 })
    expect(fetched.error).toBeUndefined()
    expect(sim.stats().rateLimited).toBe(3 + 1)
    for (const symbol of ['BTC/USD', 'LTC/USD']) {
      const read = readQuote(fetched.quotes[symbol])
      if (!('quote' in read)) throw new Error(`unexpected invalid quote: ${read.invalid}`)
      expect(new Big(read.quote.bid).lt(read.quote.ask)).toBe(true)
      expect(read.quote.at).toBe(Date.parse('2026-11-30T10:07:02Z'))
    }
  })

  it('keeps a garbled body for the quarantine and succeeds on the retry', async () => {
    sim = await startAlpacaSimulator({
      faults: { malformedEvery: 1 },
      now: () => new Date('2026-11-30T10:07:02Z'),
    })
    const client = createQuotesClient({
      baseUrl: sim.url,
      location: 'us',
      timeoutMs: 2_000,
      retries: 1,
      baseDelayMs: 1,
    })
    sim.setFaults({ malformedEvery: 2 })
    await fetch(`${sim.url}/v1beta3/crypto/us/latest/quotes?symbols=BTC/USD`)
    const fetched = await client.fetchLatestQuotes(['BTC/USD'], { deadline: Date.now() + 10_000 })
    expect(fetched.error).toBeUndefined()
    expect(fetched.malformed).toHaveLength(1)
    expect(fetched.malformed[0]?.detail).toMatch(
      /^latest quotes of BTC\/USD, attempt 1: GET .* returned a body that is not JSON/,
    )
    expect(Object.keys(fetched.quotes)).toEqual(['BTC/USD'])
  })
})
