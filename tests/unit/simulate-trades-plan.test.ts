import Big from 'big.js'
import { describe, expect, it } from 'vitest'
import { isValidCpf } from '../../functions/simulate-trades/cpf.ts'
import { type PlannedTrade, planTrades, tradeId } from '../../functions/simulate-trades/plan.ts'
import { buildPopulation, emailLocalPart } from '../../functions/simulate-trades/population.ts'
import { MINUTE } from '../helpers/alpaca-quote.ts'

const population = buildPopulation(50, 'unit-seed')

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
    expect(trades.filter((t) => t.symbol === 'BTC/USD')).toHaveLength(22)
    expect(trades.filter((t) => t.symbol === 'LTC/USD')).toHaveLength(18)
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
