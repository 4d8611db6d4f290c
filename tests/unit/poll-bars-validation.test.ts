/**
 * Raw Alpaca bars into bar contract events: exact decimals, every malformed class rejected with
 * its reason; and the contract (v2, with a revision) both in zod and in the exported JSON Schema.
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { toBarEvents } from '../../functions/poll-bars/bars.ts'
import { type BarEvent, BarEventSchema } from '../../functions/shared/contracts.ts'
import { at, raw } from '../helpers/poll-bars.ts'

describe('toBarEvents', () => {
  const ingestedAt = new Date('2026-11-30T08:15:03.250Z')

  it('turns raw bars into contract events, exact decimals, sorted by start', () => {
    const { events, rejections } = toBarEvents(
      'BTC/USD',
      [
        raw(at('08:01'), {
          o: '90000.5',
          h: '90010.25',
          l: '89990',
          c: '90001.125',
          v: '8.473e-05',
          n: '2',
          vw: '90000.9',
        }),
        raw(at('08:00')),
      ],
      ingestedAt,
    )
    expect(rejections).toEqual([])
    expect(events).toEqual([
      {
        schema_version: 2,
        event_id: 'alpaca:BTC/USD:2026-11-30T08:00:00Z',
        // The observation time in epoch ms: 2026-11-30T08:15:03.250Z.
        revision: 1796026503250,
        source: 'alpaca',
        symbol: 'BTC/USD',
        timeframe: '1Min',
        start: '2026-11-30T08:00:00Z',
        open: '100.5',
        high: '101.25',
        low: '100',
        close: '100.75',
        volume: '1.5',
        trade_count: 3,
        vwap: '100.6',
        ingested_at: '2026-11-30T08:15:03Z',
      },
      {
        schema_version: 2,
        event_id: 'alpaca:BTC/USD:2026-11-30T08:01:00Z',
        revision: 1796026503250,
        source: 'alpaca',
        symbol: 'BTC/USD',
        timeframe: '1Min',
        start: '2026-11-30T08:01:00Z',
        open: '90000.5',
        high: '90010.25',
        low: '89990',
        close: '90001.125',
        volume: '0.00008473',
        trade_count: 2,
        vwap: '90000.9',
        ingested_at: '2026-11-30T08:15:03Z',
      },
    ])
  })

  it('keeps zero-volume bars', () => {
    const { events } = toBarEvents(
      'LTC/USD',
      [raw(at('08:00'), { o: '90', h: '90', l: '90', c: '90', v: '0', n: '0', vw: '0' })],
      ingestedAt,
    )
    expect(events.map((e) => [e.volume, e.trade_count, e.vwap])).toEqual([['0', 0, '0']])
  })

  it('keeps prices beyond double precision exactly', () => {
    const { events } = toBarEvents(
      'BTC/USD',
      [
        raw(at('08:00'), {
          o: '90000.123456789012345678',
          h: '90000.123456789012345679',
          l: '90000.123456789012345677',
          c: '90000.123456789012345678',
        }),
      ],
      ingestedAt,
    )
    expect(events[0]?.high).toBe('90000.123456789012345679')
    expect(events[0]?.low).toBe('90000.123456789012345677')
  })

  it('rejects every malformed class with its reason, and emits the rest', () => {
    const cases: Array<[unknown, string]> = [
      [raw(at('08:00'), { c: 'NaN' }), 'c is not a finite number: "NaN"'],
      [raw(at('08:01'), { l: '-100' }), 'l is not a positive price: -100'],
      [raw(at('08:02'), { o: '0' }), 'o is not a positive price: 0'],
      [raw(at('08:03'), { h: '99', l: '101' }), 'high 99 < low 101'],
      [raw(at('08:04'), { o: '102' }), 'o 102 outside [low 100, high 101.25]'],
      [raw(at('08:05'), { c: undefined }), 'missing field(s): c'],
      [raw(at('08:06'), { v: true }), 'v is not a number: true'],
      [raw(at('08:07'), { n: '1.5' }), 'n is not a trade count: "1.5"'],
      [raw(at('08:08'), { v: '-1' }), 'v is negative: -1'],
      [raw('2026-11-30T08:09:17Z'), 't is not on the minute: 2026-11-30T08:09:17Z'],
      [raw('1764490200'), 't is not an RFC-3339 timestamp: "1764490200"'],
      [raw(at('08:11'), { h: '1e30', o: '1e30', c: '1e30' }), 'violates the bar contract'],
      ['not a bar', 'bar is not an object'],
      [raw(at('08:13')), ''],
      [raw(at('08:13'), { c: '101' }), 'duplicate bar for 2026-11-30T08:13:00Z'],
    ]
    const { events, rejections, rejected } = toBarEvents(
      'BTC/USD',
      cases.map(([bar]) => bar),
      ingestedAt,
    )
    expect(events.map((e) => e.start)).toEqual([at('08:13')])
    expect(events[0]?.close).toBe('100.75')
    const expected = cases.filter(([, detail]) => detail !== '')
    expect(rejections).toHaveLength(expected.length)
    rejections.forEach((rejection, i) => {
      expect(rejection.reason).toBe('upstream_malformed')
      expect(rejection.topic).toBe('crypto.bars')
      expect(rejection.key).toBe('BTC/USD')
      expect(rejection.detail).toContain(expected[i]?.[1])
      expect(rejection.value).toBe(JSON.stringify(expected[i]?.[0]))
    })
    // The minute of a rejected bar is known when its t is readable and on the minute.
    expect(rejected.map((r) => r.start === undefined)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      true,
      true,
      false,
      true,
      false,
    ])
  })
})

describe('bar contract v2', () => {
  const valid = () => toBarEvents('BTC/USD', [raw(at('08:00'))], new Date('2026-11-30T08:01:02Z')).events[0]

  it('requires schema_version 2 and an integer revision in epoch ms', () => {
    const event = valid()
    expect(BarEventSchema.safeParse(event).success).toBe(true)
    const { revision: _dropped, ...withoutRevision } = event as BarEvent
    expect(BarEventSchema.safeParse(withoutRevision).success).toBe(false)
    expect(BarEventSchema.safeParse({ ...event, revision: 1.5 }).success).toBe(false)
    expect(BarEventSchema.safeParse({ ...event, revision: 0 }).success).toBe(false)
    expect(BarEventSchema.safeParse({ ...event, schema_version: 1 }).success).toBe(false)
  })

  it('the exported JSON Schema, which the lake validates against, says the same', async () => {
    const schema = JSON.parse(
      await readFile(new URL('../fixtures/contracts/crypto.bars.schema.json', import.meta.url), 'utf8'),
    )
    expect(schema.required).toContain('revision')
    expect(schema.properties.revision).toMatchObject({ type: 'integer', exclusiveMinimum: 0 })
    expect(schema.properties.schema_version).toMatchObject({ const: 2 })
  })
})
