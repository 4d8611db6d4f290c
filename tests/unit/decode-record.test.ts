/**
 * The compiled validators decodeRecord uses must accept and reject exactly what the contract
 * schemas do, with the same output and the same issues: both run over valid events and over
 * every field of each made wrong in many ways.
 */
import { describe, expect, it } from 'vitest'
import { TOPIC_SCHEMAS, TOPICS, type TopicName } from '../../functions/shared/contracts.ts'
import { compiledSchemaOf, decodeRecord } from '../../functions/shared/decode-record.ts'
import { asset, bar, trade } from '../helpers/events.ts'
import { mskRecord } from '../helpers/msk.ts'

const WRONG_VALUES: unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  true,
  '',
  ' ',
  'x',
  '0',
  '0.0',
  '-1',
  '1e5',
  '97000.5 ',
  ' https://icons.example.com/x.png',
  'https://icons.example.com/x.png\n',
  'not a url',
  'a@b',
  'a..b@example.com',
  'BTC-USD',
  'btc/usd',
  '2026-11-30T10:00:00.000Z',
  '2026-11-30T10:00:01Z',
  '2026-11-30',
  'u-12345',
  '202611301000-001',
  'SELL',
  'BUY ',
  '1Min',
  '5Min',
  'y'.repeat(201),
  [],
  {},
]

function samples(valid: Record<string, unknown>): unknown[] {
  const out: unknown[] = [
    valid,
    null,
    [],
    'text',
    1,
    [valid],
    { ...valid, extra: 1 },
    { ...valid, __proto__: 1 },
  ]
  for (const key of Object.keys(valid)) {
    const { [key]: _removed, ...without } = valid
    out.push(without)
    for (const value of WRONG_VALUES) out.push({ ...valid, [key]: value })
  }
  return out
}

const VALID: Array<[TopicName, Record<string, unknown>[]]> = [
  [
    TOPICS.bars,
    [
      bar('BTC/USD', '2026-11-30T10:00:00Z'),
      bar('SHIB123/USDT', '2026-11-30T23:59:00Z', '0.000000000001', 1),
    ],
  ],
  [
    TOPICS.trades,
    [trade(), { ...trade('202611301000-0002'), side: 'SELL', user_email: "o'neil+x@mail.example.org" }],
  ],
  [TOPICS.assets, [asset(), { ...asset('ETH'), icon_url: ' https://icons.example.com/ETH.png ' }]],
]

describe('compiled contract validators', () => {
  for (const [topic, validEvents] of VALID) {
    it(`${topic}: the compiled schema accepts, outputs and rejects exactly what the schema does`, () => {
      const schema = TOPIC_SCHEMAS[topic]
      const compiled = compiledSchemaOf(topic)
      let accepted = 0
      let rejected = 0
      for (const valid of validEvents) {
        expect(schema.safeParse(valid).success).toBe(true)
        for (const sample of samples(valid)) {
          const expected = schema.safeParse(sample)
          const actual = compiled.safeParse(sample)
          expect(actual.success, JSON.stringify(sample)).toBe(expected.success)
          if (expected.success) {
            accepted++
            expect(actual.data).toStrictEqual(expected.data)
          } else {
            rejected++
            expect(actual.error?.issues).toStrictEqual(expected.error.issues)
          }
        }
      }
      // Both outcomes were exercised, many times over.
      expect(accepted).toBeGreaterThan(0)
      expect(rejected).toBeGreaterThan(100)
    })
  }

  it('decodeRecord gives the schema’s verdict and issues for every sample, through JSON', () => {
    for (const [topic, validEvents] of VALID) {
      for (const valid of validEvents) {
        for (const sample of samples(valid)) {
          const text = JSON.stringify(sample) ?? 'null'
          const expected = TOPIC_SCHEMAS[topic].safeParse(JSON.parse(text))
          const decoded = decodeRecord(mskRecord(topic, 0, 1, text))
          expect(decoded.ok, text).toBe(expected.success)
          if (decoded.ok && expected.success) expect(decoded.event).toStrictEqual(expected.data)
          if (!decoded.ok && !expected.success) {
            expect(decoded.rejection.reason).toBe('schema_violation')
            expect(decoded.rejection.detail).toContain(expected.error.issues[0]?.message ?? '')
          }
        }
      }
    }
  })
})
