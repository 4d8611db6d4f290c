import { describe, expect, it } from 'vitest'
import { TradeEventSchema } from '../../functions/shared/contracts.ts'
import type { FetchedQuotes, OutgoingRecord } from '../../functions/shared/ports.ts'
import {
  type SimulateTradesDeps,
  SimulateTradesError,
  simulateTrades,
} from '../../functions/simulate-trades/core.ts'
import type { PlannedTrade } from '../../functions/simulate-trades/plan.ts'
import { buildPopulation } from '../../functions/simulate-trades/population.ts'
import { priceTrade } from '../../functions/simulate-trades/pricing.ts'
import { MINUTE, rawQuote } from '../helpers/alpaca-quote.ts'
import { recordingCounter, recordingProducer, recordingQuarantine } from '../helpers/fakes.ts'

const population = buildPopulation(50, 'unit-seed')

function harness(
  quotes: FetchedQuotes | (() => Promise<FetchedQuotes>),
  overrides: Partial<SimulateTradesDeps['config']> = {},
) {
  const producer = recordingProducer()
  const { quarantine, rejections: quarantined } = recordingQuarantine()
  const counter = recordingCounter()
  const logged: unknown[] = []
  const deps: SimulateTradesDeps = {
    fetchQuotes: typeof quotes === 'function' ? quotes : async () => quotes,
    producer,
    quarantine,
    counter,
    clock: () => new Date('2026-11-30T10:07:03Z'),
    log: (message, fields) => logged.push([message, fields]),
    population,
    config: {
      symbols: ['BTC/USD', 'LTC/USD'],
      tradesPerMinute: 40,
      populationSeed: 'unit-seed',
      quoteMaxAgeSeconds: 120,
      ...overrides,
    },
  }
  const count = (name: string, reason?: string) =>
    counter.total(name, reason === undefined ? {} : { Reason: reason })
  return { deps, records: () => producer.sent, quarantined, count, logged }
}

/**
 * The 40 trades of MINUTE with 'unit-seed' split 22 BTC/USD, 18 LTC/USD (pinned in
 * simulate-trades-plan.test.ts); the run's expectations use these figures, never the planner's output.
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
    expect(summary.perSymbol['BTC/USD']?.detail).toBe(
      'quote of 2026-11-30T10:04:59Z is more than 120 s from 2026-11-30T10:07:03Z or from the scheduled 2026-11-30T10:07:00Z',
    )
    expect(h.logged).toEqual([
      [
        'stale quote: no trades for the symbol this minute',
        { symbol: 'BTC/USD', quoteAt: '2026-11-30T10:04:59Z', trades: 22 },
      ],
    ])
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
    expect(h.logged).toEqual([
      ['no quote: no trades for the symbol this minute', { symbol: 'BTC/USD', trades: 22 }],
    ])
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
    h.deps.producer = recordingProducer(() => new Error('not enough replicas'))
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
