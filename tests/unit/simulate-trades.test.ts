import Big from 'big.js'
import { afterEach, describe, expect, it } from 'vitest'
import { TradeEventSchema } from '../../functions/shared/contracts.ts'
import type { FetchedQuotes, OutgoingRecord, Rejection } from '../../functions/shared/ports.ts'
import {
  type SimulateTradesDeps,
  SimulateTradesError,
  simulateTrades,
} from '../../functions/simulate-trades/core.ts'
import { isValidCpf } from '../../functions/simulate-trades/cpf.ts'
import { isFreshQuote, readQuote } from '../../functions/simulate-trades/latest-quote.ts'
import { type PlannedTrade, planTrades, tradeId } from '../../functions/simulate-trades/plan.ts'
import { buildPopulation, emailLocalPart } from '../../functions/simulate-trades/population.ts'
import { priceTrade } from '../../functions/simulate-trades/pricing.ts'
import { createQuotesClient, latestQuotesUrl } from '../../functions/simulate-trades/quotes.ts'
import { type AlpacaSimulator, startAlpacaSimulator } from '../../local/simulators/alpaca.ts'

const MINUTE = new Date('2026-11-30T10:07:00Z')
const population = buildPopulation(50, 'unit-seed')

/** A raw quote as shared/adapters/http.ts hands it over: numbers as their JSON source text. */
const rawQuote = (bid: string, ask: string, t = '2026-11-30T10:07:01.250Z') => ({
  t,
  bp: bid,
  bs: '0.5',
  ap: ask,
  as: '0.4',
})

function harness(
  quotes: FetchedQuotes | (() => Promise<FetchedQuotes>),
  overrides: Partial<SimulateTradesDeps['config']> = {},
) {
  const sent: OutgoingRecord[][] = []
  const quarantined: Rejection[] = []
  const counts: Array<{ name: string; value: number; dimensions?: Record<string, string> }> = []
  const deps: SimulateTradesDeps = {
    fetchQuotes: typeof quotes === 'function' ? quotes : async () => quotes,
    producer: {
      send: async (records) => {
        sent.push(records)
      },
      close: async () => undefined,
    },
    quarantine: async (rejections) => {
      quarantined.push(...rejections)
    },
    counter: { count: (name, value, dimensions) => counts.push({ name, value, dimensions }) },
    clock: () => new Date('2026-11-30T10:07:03Z'),
    population,
    config: {
      symbols: ['BTC/USD', 'LTC/USD'],
      tradesPerMinute: 40,
      populationSeed: 'unit-seed',
      quoteMaxAgeSeconds: 120,
      ...overrides,
    },
  }
  const records = () => sent.flat()
  const count = (name: string, reason?: string) =>
    counts
      .filter((c) => c.name === name && c.dimensions?.Reason === reason)
      .reduce((sum, c) => sum + c.value, 0)
  return { deps, sent, records, quarantined, count }
}

/**
 * The 40 trades of MINUTE with 'unit-seed' split 22 BTC/USD, 18 LTC/USD (pinned by the planTrades
 * tests); the run's expectations use these figures, never the planner's output.
 */
const PLANNED = { 'BTC/USD': 22, 'LTC/USD': 18 }

/** a x b on the digits with BigInt: a route to the exact product that does not go through big.js. */
function decimalTimes(a: string, b: string): string {
  const [aWhole, aFraction = ''] = a.split('.')
  const [bWhole, bFraction = ''] = b.split('.')
  const scale = aFraction.length + bFraction.length
  const digits = (BigInt(`${aWhole}${aFraction}`) * BigInt(`${bWhole}${bFraction}`))
    .toString()
    .padStart(scale + 1, '0')
  const whole = digits.slice(0, digits.length - scale)
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, '')
  return fraction === '' ? whole : `${whole}.${fraction}`
}

describe('tradeId', () => {
  it('is {yyyyMMddHHmm}-{sequence, 4 digits} of the scheduled minute', () => {
    expect(tradeId(new Date('2026-11-30T10:07:00Z'), 12)).toBe('202611301007-0012')
    expect(tradeId(new Date('2026-01-02T03:04:00Z'), 1)).toBe('202601020304-0001')
    expect(tradeId(new Date('2026-12-31T23:59:00Z'), 9999)).toBe('202612312359-9999')
  })
})

describe('population', () => {
  it('gives each user an id, a pt-BR name, a plain-ASCII e-mail on a reserved domain and a valid CPF', () => {
    expect(population.map((u) => u.user_id).slice(0, 3)).toEqual(['u-000001', 'u-000002', 'u-000003'])
    for (const user of population) {
      expect(user.user_name).toMatch(/^\p{Lu}\p{Ll}+( \p{Lu}\p{Ll}+){1,2}$/u)
      expect(user.user_email).toMatch(/^[a-z]+(\.[a-z]+)+(\.\d+)?@example\.(com\.br|com|net|org)$/)
      expect(isValidCpf(user.document_id), user.document_id).toBe(true)
    }
  })

  it('has distinct e-mails and CPFs', () => {
    const large = buildPopulation(2000, 'unit-seed')
    expect(new Set(large.map((u) => u.user_email)).size).toBe(2000)
    expect(new Set(large.map((u) => u.document_id)).size).toBe(2000)
  })

  it('is stable: the same seed gives the same people, and growing it only appends', () => {
    expect(buildPopulation(50, 'unit-seed')).toEqual(population)
    expect(buildPopulation(80, 'unit-seed').slice(0, 50)).toEqual(population)
    expect(buildPopulation(50, 'other-seed')).not.toEqual(population)
  })

  it('strips accents for e-mail local parts', () => {
    expect(emailLocalPart('Antônia Gonçalves')).toBe('antonia.goncalves')
    expect(emailLocalPart('Heloísa Araújo')).toBe('heloisa.araujo')
  })
})

describe('planTrades', () => {
  const plan = () =>
    planTrades(MINUTE, {
      symbols: ['BTC/USD', 'LTC/USD'],
      tradesPerMinute: 40,
      seed: 'unit-seed',
      population,
    })

  it('plans the configured number of trades with sequential ids in execution order', () => {
    const trades = plan()
    expect(trades).toHaveLength(40)
    expect(trades.filter((t) => t.symbol === 'BTC/USD')).toHaveLength(PLANNED['BTC/USD'])
    expect(trades.filter((t) => t.symbol === 'LTC/USD')).toHaveLength(PLANNED['LTC/USD'])
    expect(trades[0]?.trade_id).toBe('202611301007-0001')
    expect(trades[39]?.trade_id).toBe('202611301007-0040')
    const executed = trades.map((t) => Date.parse(t.executed_at))
    expect(executed).toEqual([...executed].sort((a, b) => a - b))
    for (const trade of trades) {
      expect(trade.scheduled_at).toBe('2026-11-30T10:07:00Z')
      // The minute before the scheduled one: over by the time the run starts.
      expect(trade.executed_at).toMatch(/^2026-11-30T10:06:\d{2}Z$/)
    }
  })

  it('draws the same trades as ever for a seed and minute: a re-fired schedule after a deploy re-emits them', () => {
    const trades = plan()
    expect(trades[0]).toEqual({
      trade_id: '202611301007-0001',
      sequence: 1,
      scheduled_at: '2026-11-30T10:07:00Z',
      executed_at: '2026-11-30T10:06:09Z',
      user: {
        user_id: 'u-000004',
        user_name: 'Márcia Costa Nunes',
        user_email: 'marcia.nunes@example.com.br',
        document_id: '18284452316',
      },
      symbol: 'BTC/USD',
      side: 'BUY',
      quantity: '0.0221',
    })
    expect(trades[39]).toMatchObject({
      trade_id: '202611301007-0040',
      executed_at: '2026-11-30T10:06:58Z',
      user: { user_id: 'u-000036' },
      symbol: 'LTC/USD',
      side: 'SELL',
      quantity: '18.87',
    })
  })

  it('is deterministic: same minute, same trades (ids, users, sides, quantities); EventBridge seconds do not matter', () => {
    expect(plan()).toEqual(plan())
    const withSeconds = planTrades(new Date('2026-11-30T10:07:42.5Z'), {
      symbols: ['BTC/USD', 'LTC/USD'],
      tradesPerMinute: 40,
      seed: 'unit-seed',
      population,
    })
    expect(withSeconds).toEqual(plan())
  })

  it('differs from one minute to the next', () => {
    const next = planTrades(new Date('2026-11-30T10:08:00Z'), {
      symbols: ['BTC/USD', 'LTC/USD'],
      tradesPerMinute: 40,
      seed: 'unit-seed',
      population,
    })
    expect(next[0]?.trade_id).toBe('202611301008-0001')
    const shape = (trades: PlannedTrade[]) =>
      trades.map((t) => [t.user.user_id, t.symbol, t.side, t.quantity])
    expect(shape(next)).not.toEqual(shape(plan()))
  })

  it('uses both sides, several users and both symbols', () => {
    const trades = plan()
    expect(new Set(trades.map((t) => t.side))).toEqual(new Set(['BUY', 'SELL']))
    expect(new Set(trades.map((t) => t.symbol))).toEqual(new Set(['BTC/USD', 'LTC/USD']))
    expect(new Set(trades.map((t) => t.user.user_id)).size).toBeGreaterThan(10)
  })

  it('sizes orders in whole lots: BTC 0.0001 up to 0.05, LTC 0.01 up to 20, always > 0', () => {
    for (const trade of planTrades(MINUTE, {
      symbols: ['BTC/USD', 'LTC/USD'],
      tradesPerMinute: 800,
      seed: 'unit-seed',
      population,
    })) {
      const quantity = new Big(trade.quantity)
      const [lot, max] = trade.symbol === 'BTC/USD' ? ['0.0001', '0.05'] : ['0.01', '20']
      expect(quantity.gt(0)).toBe(true)
      expect(quantity.lte(max), trade.quantity).toBe(true)
      expect(quantity.mod(lot).eq(0), trade.quantity).toBe(true)
      expect(trade.quantity).toMatch(/^\d+(\.\d+)?$/)
    }
  })

  it('refuses more trades than four sequence digits can number', () => {
    expect(() =>
      planTrades(MINUTE, { symbols: ['BTC/USD'], tradesPerMinute: 10_000, seed: 'unit-seed', population }),
    ).toThrow(/four digits/)
  })
})

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

describe('priceTrade', () => {
  const user = population[0] as (typeof population)[number]
  const planned = (side: 'BUY' | 'SELL', quantity: string, symbol = 'BTC/USD'): PlannedTrade => ({
    trade_id: '202611301007-0003',
    sequence: 3,
    scheduled_at: '2026-11-30T10:07:00Z',
    executed_at: '2026-11-30T10:06:09Z',
    user,
    symbol,
    side,
    quantity,
  })
  const quote = { bid: '97001.25', ask: '97003.5', at: Date.parse('2026-11-30T10:07:01.250Z') }

  it('buys at the ask', () => {
    const event = priceTrade(planned('BUY', '0.002'), quote)
    expect(event.price).toBe('97003.5')
    // 97003.5 x 0.002 = 194.007
    expect(event.notional).toBe('194.007')
  })

  it('sells at the bid', () => {
    const event = priceTrade(planned('SELL', '0.002'), quote)
    expect(event.price).toBe('97001.25')
    // 97001.25 x 0.002 = 194.0025
    expect(event.notional).toBe('194.0025')
  })

  it('computes the notional exactly where binary floating point would not', () => {
    // 0.1 x 3 is 0.30000000000000004 in binary floating point
    expect(priceTrade(planned('SELL', '3', 'LTC/USD'), { ...quote, bid: '0.1' }).notional).toBe('0.3')
    // 89.1234 x 12.34 = 1069.4808 + 30.301956 = 1099.782756
    expect(priceTrade(planned('SELL', '12.34', 'LTC/USD'), { ...quote, bid: '89.1234' }).notional).toBe(
      '1099.782756',
    )
    // 90000.07 x 0.0003 = 27.000021
    expect(priceTrade(planned('BUY', '0.0003'), { ...quote, ask: '90000.07' }).notional).toBe('27.000021')
  })

  it('builds an event that satisfies the trade contract, with the quote time in whole seconds', () => {
    const event = priceTrade(planned('BUY', '0.002'), quote)
    expect(TradeEventSchema.parse(event)).toEqual(event)
    expect(event).toMatchObject({
      event_id: 'sim:202611301007-0003',
      trade_id: '202611301007-0003',
      user_id: 'u-000001',
      quote_at: '2026-11-30T10:07:01Z',
      executed_at: '2026-11-30T10:06:09Z',
    })
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

describe('simulateTrades', () => {
  const fresh: FetchedQuotes = {
    quotes: { 'BTC/USD': rawQuote('97001.25', '97003.5'), 'LTC/USD': rawQuote('89.1234', '89.1301') },
    malformed: [],
  }

  it('emits every planned trade, keyed by user_id, priced at the quote, counted', async () => {
    const h = harness(fresh)
    const summary = await simulateTrades({ scheduledAt: MINUTE }, h.deps)
    const records = h.records()
    expect(summary.planned).toBe(40)
    expect(summary.emitted).toBe(40)
    expect(records).toHaveLength(40)
    for (const record of records) {
      const event = TradeEventSchema.parse(JSON.parse(record.value))
      expect(record.topic).toBe('crypto.trades')
      expect(record.key).toBe(event.user_id)
      const expected = {
        'BTC/USD': { BUY: '97003.5', SELL: '97001.25' },
        'LTC/USD': { BUY: '89.1301', SELL: '89.1234' },
      }[event.symbol as 'BTC/USD' | 'LTC/USD'][event.side]
      expect(event.price).toBe(expected)
      expect(event.notional).toBe(decimalTimes(event.price, event.quantity))
      expect(event.quote_at).toBe('2026-11-30T10:07:01Z')
    }
    expect(h.count('TradesEmitted')).toBe(40)
    expect(h.quarantined).toEqual([])
  })

  it('executed_at is never after the emission, nor more than the minute before the quote', async () => {
    const h = harness(fresh)
    await simulateTrades({ scheduledAt: MINUTE }, h.deps)
    const executed = h.records().map((record) => Date.parse(JSON.parse(record.value).executed_at))
    // Emitted at 10:07:03 (the clock) with the quote of 10:07:01.
    expect(Math.max(...executed)).toBeLessThanOrEqual(Date.parse('2026-11-30T10:07:03Z'))
    expect(Math.min(...executed)).toBeGreaterThanOrEqual(Date.parse('2026-11-30T10:06:00Z'))
  })

  it('holds back a trade the clock has not reached (a clock behind the scheduled minute)', async () => {
    const h = harness(fresh)
    h.deps.clock = () => new Date('2026-11-30T10:06:30Z')
    const quotes: FetchedQuotes = {
      quotes: {
        'BTC/USD': rawQuote('97001.25', '97003.5', '2026-11-30T10:06:29Z'),
        'LTC/USD': rawQuote('89.1234', '89.1301', '2026-11-30T10:06:29Z'),
      },
      malformed: [],
    }
    h.deps.fetchQuotes = async () => quotes
    const summary = await simulateTrades({ scheduledAt: MINUTE }, h.deps)
    const events = h.records().map((record) => JSON.parse(record.value))
    // Ids follow execution time: the 16 trades executed by 10:06:30 are the first 16.
    expect(events.map((event) => event.trade_id).sort()).toEqual(
      Array.from({ length: 16 }, (_, i) => `202611301007-${String(i + 1).padStart(4, '0')}`),
    )
    for (const event of events) expect(event.executed_at <= '2026-11-30T10:06:30Z').toBe(true)
    expect(summary.skipped).toEqual({ not_yet_executed: 24 })
  })

  it('re-emits identical events when the schedule fires twice within the same quote', async () => {
    const first = harness(fresh)
    const second = harness(fresh)
    await simulateTrades({ scheduledAt: MINUTE }, first.deps)
    await simulateTrades({ scheduledAt: new Date('2026-11-30T10:07:00Z') }, second.deps)
    expect(second.records()).toEqual(first.records())
  })

  it('keeps the trade ids when the quote moved between two firings (only the prices differ)', async () => {
    const first = harness(fresh)
    const moved = harness({
      quotes: {
        'BTC/USD': rawQuote('97010', '97012', '2026-11-30T10:07:30Z'),
        'LTC/USD': rawQuote('89.2', '89.21', '2026-11-30T10:07:30Z'),
      },
      malformed: [],
    })
    await simulateTrades({ scheduledAt: MINUTE }, first.deps)
    await simulateTrades({ scheduledAt: MINUTE }, moved.deps)
    const ids = (records: OutgoingRecord[]) => records.map((r) => JSON.parse(r.value).event_id)
    expect(ids(moved.records())).toEqual(ids(first.records()))
    expect(moved.records().map((r) => r.value)).not.toEqual(first.records().map((r) => r.value))
  })

  it('emits no trades for a symbol whose quote is stale, and counts them', async () => {
    const h = harness({
      quotes: {
        'BTC/USD': rawQuote('97001.25', '97003.5', '2026-11-30T10:04:59Z'),
        'LTC/USD': fresh.quotes['LTC/USD'],
      },
      malformed: [],
    })
    const summary = await simulateTrades({ scheduledAt: MINUTE }, h.deps)
    const { 'BTC/USD': btc, 'LTC/USD': ltc } = PLANNED
    expect(summary.emitted).toBe(ltc)
    expect(h.records().every((r) => JSON.parse(r.value).symbol === 'LTC/USD')).toBe(true)
    expect(summary.perSymbol['BTC/USD']).toMatchObject({
      status: 'stale_quote',
      planned: btc,
      emitted: 0,
      quote_at: '2026-11-30T10:04:59Z',
    })
    expect(summary.skipped).toEqual({ stale_quote: btc })
    expect(h.count('TradesSkipped', 'stale_quote')).toBe(btc)
    expect(h.count('TradesEmitted')).toBe(ltc)
    expect(h.quarantined).toEqual([])
  })

  it('emits no trades for a symbol without a quote, and counts them', async () => {
    const h = harness({ quotes: { 'LTC/USD': fresh.quotes['LTC/USD'] }, malformed: [] })
    const summary = await simulateTrades({ scheduledAt: MINUTE }, h.deps)
    expect(summary.skipped).toEqual({ missing_quote: PLANNED['BTC/USD'] })
    expect(h.count('TradesSkipped', 'missing_quote')).toBe(PLANNED['BTC/USD'])
    expect(summary.emitted).toBe(PLANNED['LTC/USD'])
  })

  it('quarantines a malformed quote (bid >= ask), counts it and emits nothing for that symbol', async () => {
    const crossed = rawQuote('89.2', '89.1')
    const h = harness({ quotes: { 'BTC/USD': fresh.quotes['BTC/USD'], 'LTC/USD': crossed }, malformed: [] })
    const summary = await simulateTrades({ scheduledAt: MINUTE }, h.deps)
    const ltc = PLANNED['LTC/USD']
    expect(h.quarantined).toEqual([
      {
        reason: 'upstream_malformed',
        detail: 'quote of LTC/USD: bid 89.2 >= ask 89.1',
        topic: 'crypto.trades',
        key: 'LTC/USD',
        value: JSON.stringify(crossed),
      },
    ])
    expect(summary.skipped).toEqual({ malformed_quote: ltc })
    expect(h.count('TradesSkipped', 'malformed_quote')).toBe(ltc)
    expect(h.records().every((r) => JSON.parse(r.value).symbol === 'BTC/USD')).toBe(true)
  })

  it('quarantines a priced trade the trade contract refuses, counts it and emits the others', async () => {
    // A valid quote, but a price of 19 decimals: more than a trade's price may carry.
    const tiny = rawQuote('0.0000000000000000001', '0.0000000000000000002')
    const h = harness({ quotes: { 'BTC/USD': fresh.quotes['BTC/USD'], 'LTC/USD': tiny }, malformed: [] })
    const summary = await simulateTrades({ scheduledAt: MINUTE }, h.deps)
    expect(summary.skipped).toEqual({ schema_violation: PLANNED['LTC/USD'] })
    expect(summary.perSymbol['LTC/USD']).toMatchObject({ status: 'ok', emitted: 0 })
    expect(summary.emitted).toBe(PLANNED['BTC/USD'])
    expect(h.count('TradesSkipped', 'schema_violation')).toBe(PLANNED['LTC/USD'])
    expect(h.quarantined).toHaveLength(PLANNED['LTC/USD'])
    for (const rejection of h.quarantined) {
      const trade = JSON.parse(rejection.value ?? '')
      expect(rejection).toMatchObject({
        reason: 'schema_violation',
        topic: 'crypto.trades',
        key: trade.user_id,
      })
      expect(rejection.detail).toMatch(
        new RegExp(
          `^trade ${trade.trade_id} violates the trade contract: price: must be a positive decimal string; `,
        ),
      )
    }
  })

  it('fails the run when no quotes could be fetched, after quarantining garbled bodies; nothing is emitted', async () => {
    const h = harness({
      quotes: {},
      malformed: [{ detail: 'attempt 1: cut short', body: '{"quotes":{"BT' }],
      error: new Error('503 twice'),
    })
    const error = await simulateTrades({ scheduledAt: MINUTE }, h.deps).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(SimulateTradesError)
    expect((error as SimulateTradesError).message).toBe('latest quotes unavailable: 503 twice')
    expect((error as SimulateTradesError).summary.skipped).toEqual({ quote_fetch_failed: 40 })
    expect(h.records()).toEqual([])
    expect(h.quarantined).toEqual([
      {
        reason: 'malformed_json',
        detail: 'attempt 1: cut short',
        topic: 'crypto.trades',
        key: null,
        value: '{"quotes":{"BT',
      },
    ])
    expect(h.count('TradesSkipped', 'quote_fetch_failed')).toBe(40)
  })

  it('fails the run when the broker does not acknowledge', async () => {
    const h = harness(fresh)
    h.deps.producer = {
      send: async () => Promise.reject(new Error('not enough replicas')),
      close: async () => undefined,
    }
    await expect(simulateTrades({ scheduledAt: MINUTE }, h.deps)).rejects.toThrow(
      'producing trades failed after 0 of 40: not enough replicas',
    )
  })

  it('emits nothing and fetches nothing useful when the trade count is 0', async () => {
    const h = harness(fresh, { tradesPerMinute: 0 })
    expect((await simulateTrades({ scheduledAt: MINUTE }, h.deps)).emitted).toBe(0)
    expect(h.records()).toEqual([])
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
