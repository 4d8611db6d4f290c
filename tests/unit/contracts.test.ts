/**
 * The bar contract's OHLC invariants (every consumer enforces them through BarEventSchema) and
 * the decimal order they are checked with.
 */
import { describe, expect, it } from 'vitest'
import { BarEventSchema, ohlcViolation } from '../../functions/shared/contracts.ts'
import { compareDecimals } from '../../functions/shared/decimal-order.ts'
import { compiledSchemaOf } from '../../functions/shared/decode-record.ts'
import { bar } from '../helpers/events.ts'

/** -1, 0 or 1 (never -0). */
const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0)

describe('compareDecimals', () => {
  it.each([
    ['1', '2', -1],
    ['10', '9', 1],
    ['9.99', '10', -1],
    ['1.5', '1.50', 0],
    ['01.5', '1.5', 0],
    ['0.50', '000.5', 0],
    ['0', '0.000', 0],
    ['0.1', '0.09', 1],
    ['0.000000000001', '0', 1],
    ['97010', '97010.000000000000000001', -1],
    ['90000.123456789012345679', '90000.123456789012345677', 1],
    ['12345678901234567890.1', '12345678901234567890.01', 1],
    ['100', '99.999999999999999999', 1],
  ])('%s vs %s -> %i', (a, b, expected) => {
    expect(sign(compareDecimals(a, b))).toBe(expected)
    expect(sign(compareDecimals(b, a))).toBe(sign(-expected))
  })
})

describe('BarEventSchema OHLC invariants', () => {
  const valid = bar('BTC/USD', '2026-11-30T10:00:00Z')
  const schemas = [
    ['runtime', BarEventSchema],
    ['compiled', compiledSchemaOf('crypto.bars')],
  ] as const

  it.each(schemas)('%s: a bar inside its range is valid, also at the edges', (_, schema) => {
    expect(schema.safeParse(valid).success).toBe(true)
    expect(schema.safeParse({ ...valid, open: '97010', close: '96980.25' }).success).toBe(true)
    expect(
      schema.safeParse({ ...valid, open: '97010.00', high: '97010', low: '97010', close: '97010.0' }).success,
    ).toBe(true)
  })

  const violations: Array<[string, Record<string, string>, string]> = [
    ['high below low', { high: '96980.2', low: '96980.25' }, 'high 96980.2 < low 96980.25'],
    ['open above high', { open: '97010.01' }, 'open 97010.01 outside [low 96980.25, high 97010]'],
    ['open below low', { open: '96980.249' }, 'open 96980.249 outside [low 96980.25, high 97010]'],
    ['close above high', { close: '97011' }, 'close 97011 outside [low 96980.25, high 97010]'],
    ['close below low', { close: '1' }, 'close 1 outside [low 96980.25, high 97010]'],
  ]
  for (const [name, schema] of schemas) {
    it.each(violations)(`${name}: rejects a bar with %s`, (_, prices, message) => {
      const parsed = schema.safeParse({ ...valid, ...prices })
      expect(parsed.success).toBe(false)
      expect(parsed.error?.issues.map((issue) => issue.message)).toEqual([message])
    })
  }

  it('leaves prices of the wrong form to their own field checks', () => {
    expect(ohlcViolation({ open: '1', high: 'x', low: '2', close: '1' })).toBeUndefined()
    const parsed = BarEventSchema.safeParse({ ...valid, high: '1e3' })
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['high'])
  })

  it('names open and close as the caller asks', () => {
    expect(
      ohlcViolation({ open: '102', high: '101.25', low: '100', close: '100.5' }, { open: 'o', close: 'c' }),
    ).toBe('o 102 outside [low 100, high 101.25]')
  })
})
