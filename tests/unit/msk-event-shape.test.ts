/**
 * tests/fixtures/msk-event.json is the event a Lambda MSK trigger receives, in the shape AWS
 * documents it (Lambda developer guide, "Using Lambda with Amazon MSK", example event; the same
 * shape as the aws-lambda `MSKEvent` type and Powertools' `KafkaMskEvent` schema): records keyed
 * `topic-partition`, key and value base64, the timestamp in epoch milliseconds, and each header
 * an object of one name to the value's bytes. The local event source's events
 * (local/runtime/event-source.ts, delivery.ts) and the tests' own (tests/helpers/msk.ts) are
 * held against it, so a handler tested locally reads exactly what AWS will hand it.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Message } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { decodeBase64, decodeHeaders, type MskEvent, type MskRecord } from '../../functions/shared/msk.ts'
import { toMskEvent } from '../../local/runtime/delivery.ts'
import { toMskRecord } from '../../local/runtime/event-source.ts'
import { bar } from '../helpers/events.ts'
import { mskEvent, mskRecord } from '../helpers/msk.ts'

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'msk-event.json'), 'utf8'),
) as MskEvent

/** Each key with the JSON type of its value: the shape, without the values. */
const typesOf = (object: object) =>
  Object.fromEntries(
    Object.entries(object)
      .map(([key, value]) => [key, Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value])
      .sort(([a], [b]) => String(a).localeCompare(String(b))),
  )

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Everything the fixture says about an event, asserted of `event`. */
function expectFixtureShape(event: MskEvent) {
  const [sample] = Object.values(fixture.records).flat()
  expect(typesOf(event)).toEqual(typesOf(fixture))
  expect(event.eventSource).toBe('aws:kafka')
  expect(event.eventSourceArn).toMatch(/^arn:aws:kafka:[\w-]+:\d{12}:cluster\/[\w.-]+\/[\w-]+$/)
  expect(event.bootstrapServers.split(',').every((server) => /^[\w.-]+:\d+$/.test(server))).toBe(true)
  for (const [partitionKey, records] of Object.entries(event.records)) {
    for (const record of records) {
      expect(partitionKey).toBe(`${record.topic}-${record.partition}`)
      expect(typesOf(record)).toEqual(typesOf(sample as MskRecord))
      expect(record.timestampType).toMatch(/^(CREATE_TIME|LOG_APPEND_TIME)$/)
      expect(record.key).toMatch(BASE64)
      expect(record.value).toMatch(BASE64)
      for (const header of record.headers) {
        expect(Object.keys(header)).toHaveLength(1)
        for (const bytes of Object.values(header))
          expect(bytes.every((byte) => Number.isInteger(byte) && byte >= 0 && byte <= 255)).toBe(true)
      }
    }
  }
}

describe('tests/fixtures/msk-event.json (the documented MSK trigger event)', () => {
  it('decodes to a bar keyed by its symbol, with its header', () => {
    const [record] = fixture.records['crypto.bars-0'] ?? []
    expect(decodeBase64(record?.key)).toBe('BTC/USD')
    expect(JSON.parse(decodeBase64(record?.value) ?? '')).toEqual(bar('BTC/USD', '2026-11-30T10:00:00Z'))
    expect(decodeHeaders(record?.headers ?? [])).toEqual({ 'crypto-sink': 'lake-only' })
    expectFixtureShape(fixture)
  })
})

describe('the events the tests and the local event source build', () => {
  it('have the fixture’s shape: the local event source', () => {
    const message = {
      topic: 'crypto.bars',
      partition: 3,
      offset: 4711n,
      timestamp: 1796032865123n,
      key: Buffer.from('BTC/USD'),
      value: Buffer.from(JSON.stringify(bar('BTC/USD', '2026-11-30T10:00:00Z'))),
      headers: new Map([[Buffer.from('crypto-sink'), Buffer.from('lake-only')]]),
    } as unknown as Message
    const event = toMskEvent([toMskRecord(message)], {
      eventSourceArn: 'arn:aws:kafka:local:000000000000:cluster/local/index-events',
      bootstrapServers: '127.0.0.1:9092',
    })
    expectFixtureShape(event)
    const [record] = event.records['crypto.bars-3'] ?? []
    expect(record?.headers).toEqual([{ 'crypto-sink': [108, 97, 107, 101, 45, 111, 110, 108, 121] }])
    expect(record?.timestamp).toBe(1796032865123)
  })

  it('have the fixture’s shape: tests/helpers/msk.ts', () => {
    expectFixtureShape(
      mskEvent([mskRecord('crypto.bars', 0, 7, bar('BTC/USD', '2026-11-30T10:00:00Z'), 'BTC/USD')]),
    )
  })
})
