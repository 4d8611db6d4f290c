import { beforeEach, describe, expect, it } from 'vitest'
import {
  batchTokenizer,
  decodeRecord,
  indexEvents,
  MAX_VALUE_BYTES,
  toBulkDoc,
} from '../../functions/index-events/core.ts'
import { LAKE_ONLY, SINK_HEADER } from '../../functions/shared/contracts.ts'
import { tokenize } from '../../functions/shared/pii.ts'
import type { BulkItemResult } from '../../functions/shared/ports.ts'
import { asset, bar, FIRST_REVISION, trade } from '../helpers/events.ts'
import {
  type RecordingCounter,
  recordingCounter,
  recordingIndex,
  recordingQuarantine,
} from '../helpers/fakes.ts'
import { mskEvent, mskRecord } from '../helpers/msk.ts'

const noSleep = async () => {}
let counter: RecordingCounter
beforeEach(() => {
  counter = recordingCounter()
})

describe('decodeRecord', () => {
  it('accepts a valid bar', () => {
    const decoded = decodeRecord(mskRecord('crypto.bars', 0, 1, bar('BTC/USD', '2026-11-30T10:00:00Z')))
    expect(decoded.ok).toBe(true)
  })

  it.each([
    ['malformed_json', mskRecord('crypto.bars', 0, 1, '{"not json')],
    ['null_value', mskRecord('crypto.bars', 0, 2, null)],
    ['unknown_topic', mskRecord('other.topic', 0, 3, bar('BTC/USD', '2026-11-30T10:00:00Z'))],
    [
      'schema_violation',
      mskRecord('crypto.bars', 0, 4, { ...bar('BTC/USD', '2026-11-30T10:00:00Z'), close: 97000.5 }),
    ],
    [
      'schema_violation',
      mskRecord('crypto.bars', 0, 5, { ...bar('BTC/USD', '2026-11-30T10:00:00Z'), event_id: 'x' }),
    ],
    ['oversized', mskRecord('crypto.bars', 0, 6, `"${'x'.repeat(MAX_VALUE_BYTES)}"`)],
  ])('rejects %s with its coordinates', (reason, record) => {
    const decoded = decodeRecord(record)
    expect(decoded.ok).toBe(false)
    if (decoded.ok) return
    expect(decoded.rejection.reason).toBe(reason)
    expect(decoded.rejection.partition).toBe(0)
    expect(decoded.rejection.offset).toBe(String(record.offset))
    expect(decoded.rejection.value).toBe(record.value)
  })
})

describe('toBulkDoc', () => {
  it('puts a bar in the monthly index of its start, with the event id', () => {
    const doc = toBulkDoc('crypto.bars', bar('BTC/USD', '2026-12-01T00:00:00Z'), 'k'.repeat(32))
    expect(doc.index).toBe('crypto-bars-2026.12')
    expect(doc.id).toBe('alpaca:BTC/USD:2026-12-01T00:00:00Z')
  })

  it('replaces every personal field of a trade by a token', () => {
    const doc = toBulkDoc('crypto.trades', trade(), 'k'.repeat(32))
    expect(doc.index).toBe('crypto-trades-2026.11')
    const text = JSON.stringify(doc.doc)
    expect(text).not.toContain('Maria Souza')
    expect(text).not.toContain('maria.souza@example.com.br')
    expect(text).not.toContain('52998224725')
    expect(doc.doc.document_id_token).toMatch(/^[0-9a-f]{64}$/)
  })

  it('versions a bar by its revision, and nothing else', () => {
    const revised = bar('BTC/USD', '2026-11-30T10:00:00Z', '97001.5', FIRST_REVISION + 30_000)
    expect(toBulkDoc('crypto.bars', revised, 'k'.repeat(32)).version).toBe(Date.parse('2026-11-30T10:01:35Z'))
    expect(toBulkDoc('crypto.trades', trade(), 'k'.repeat(32))).not.toHaveProperty('version')
    expect(toBulkDoc('crypto.assets', asset('LTC'), 'k'.repeat(32))).not.toHaveProperty('version')
  })

  it('keeps one document per asset', () => {
    expect(toBulkDoc('crypto.assets', asset('LTC'), 'k'.repeat(32))).toMatchObject({
      index: 'crypto-assets',
      id: 'LTC',
    })
  })
})

describe('indexEvents', () => {
  const key = 'k'.repeat(32)

  it('indexes the valid records and quarantines the poison ones, failing nothing', async () => {
    const index = recordingIndex((docs) => docs.map(() => ({ status: 201 })))
    const { quarantine, rejections: quarantined } = recordingQuarantine()
    const event = mskEvent([
      mskRecord('crypto.bars', 0, 10, bar('BTC/USD', '2026-11-30T10:00:00Z')),
      mskRecord('crypto.bars', 0, 11, 'garbage'),
      mskRecord('crypto.bars', 1, 7, bar('LTC/USD', '2026-11-30T10:00:00Z')),
    ])
    const response = await indexEvents(event, {
      index,
      piiKey: key,
      counter,
      sleep: noSleep,
      quarantine,
    })
    expect(response.batchItemFailures).toEqual([])
    expect(index.calls[0]?.map((d) => d.id)).toEqual([
      'alpaca:BTC/USD:2026-11-30T10:00:00Z',
      'alpaca:LTC/USD:2026-11-30T10:00:00Z',
    ])
    expect(quarantined.map((r) => [r.reason, r.offset])).toEqual([['malformed_json', '11']])
  })

  it('leaves a valid record marked lake-only to the raw zone and the lake, and still quarantines a bad one', async () => {
    const index = recordingIndex((docs) => docs.map(() => ({ status: 201 })))
    const { quarantine, rejections: quarantined } = recordingQuarantine()
    const lakeOnly = (record: ReturnType<typeof mskRecord>) => ({
      ...record,
      headers: [{ [SINK_HEADER]: [...Buffer.from(LAKE_ONLY)] }],
    })
    const response = await indexEvents(
      mskEvent([
        lakeOnly(mskRecord('crypto.bars', 0, 20, bar('BTC/USD', '2024-01-01T00:00:00Z'))),
        lakeOnly(mskRecord('crypto.bars', 0, 21, 'garbage')),
        mskRecord('crypto.bars', 0, 22, bar('BTC/USD', '2026-11-30T10:00:00Z')),
      ]),
      {
        index,
        piiKey: key,
        counter,
        sleep: noSleep,
        quarantine,
      },
    )
    expect(response.batchItemFailures).toEqual([])
    expect(index.calls.flat().map((d) => d.id)).toEqual(['alpaca:BTC/USD:2026-11-30T10:00:00Z'])
    expect(quarantined.map((r) => [r.reason, r.offset])).toEqual([['malformed_json', '21']])
    expect(counter.total('LakeOnlySkipped')).toBe(1)
  })

  it('retries only the items that failed with 429/5xx, and quarantines mapping rejections', async () => {
    const index = recordingIndex((docs, call) =>
      docs.map((doc) => {
        if (doc.id.includes('LTC') && call === 1)
          return { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'busy' } }
        if (doc.id.includes('ETH'))
          return { status: 400, error: { type: 'mapper_parsing_exception', reason: 'bad' } }
        return { status: 201 }
      }),
    )
    const { quarantine, rejections: quarantined } = recordingQuarantine()
    const response = await indexEvents(
      mskEvent([
        mskRecord('crypto.bars', 0, 1, bar('BTC/USD', '2026-11-30T10:00:00Z')),
        mskRecord('crypto.bars', 0, 2, bar('LTC/USD', '2026-11-30T10:00:00Z')),
        mskRecord('crypto.bars', 0, 3, bar('ETH/USD', '2026-11-30T10:00:00Z')),
      ]),
      { index, piiKey: key, counter, sleep: noSleep, quarantine },
    )
    expect(response.batchItemFailures).toEqual([])
    expect(index.calls.map((call) => call.map((d) => d.id.split(':')[1]))).toEqual([
      ['BTC/USD', 'LTC/USD', 'ETH/USD'],
      ['LTC/USD'],
    ])
    expect(quarantined.map((r) => [r.reason, r.offset])).toEqual([['index_rejected', '3']])
  })

  it('reports the lowest still-failing offset per partition after the last attempt', async () => {
    const index = recordingIndex(() => {
      throw new Error('connect ECONNREFUSED')
    })
    const response = await indexEvents(
      mskEvent([
        mskRecord('crypto.bars', 0, 5, bar('BTC/USD', '2026-11-30T10:00:00Z')),
        mskRecord('crypto.bars', 0, 6, bar('BTC/USD', '2026-11-30T10:01:00Z')),
        mskRecord('crypto.bars', 2, 9, bar('LTC/USD', '2026-11-30T10:00:00Z')),
      ]),
      { index, piiKey: key, counter, sleep: noSleep, attempts: 3, quarantine: async () => {} },
    )
    expect(index.calls).toHaveLength(3)
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'crypto.bars-0', offset: 5 } },
      { itemIdentifier: { partition: 'crypto.bars-2', offset: 9 } },
    ])
  })
})

describe('indexEvents with bar revisions', () => {
  const key = 'k'.repeat(32)
  const conflict = (id: string): BulkItemResult => ({
    status: 409,
    error: {
      type: 'version_conflict_engine_exception',
      reason: `[${id}]: version conflict, current version [1796032895000] is higher or equal to the one provided [1796032865000]`,
    },
  })

  it('takes a 409 version conflict of a bar as done: no retry, no quarantine, no failure, counted', async () => {
    const index = recordingIndex((docs) =>
      docs.map((doc) => (doc.id.includes('BTC') ? conflict(doc.id) : { status: 201 })),
    )
    const { quarantine, rejections: quarantined } = recordingQuarantine()
    const response = await indexEvents(
      mskEvent([
        mskRecord('crypto.bars', 0, 1, bar('BTC/USD', '2026-11-30T10:00:00Z')),
        mskRecord('crypto.bars', 0, 2, bar('LTC/USD', '2026-11-30T10:00:00Z')),
        mskRecord('crypto.bars', 0, 3, bar('BTC/USD', '2026-11-30T10:01:00Z')),
      ]),
      { index, piiKey: key, counter, sleep: noSleep, quarantine },
    )
    expect(response.batchItemFailures).toEqual([])
    expect(index.calls).toHaveLength(1)
    expect(quarantined).toEqual([])
    expect(counter.totals()).toEqual({ EventsIndexed: 1, StaleRevisionsSkipped: 2 })
  })

  it('quarantines a 409 of a document without a version (not a revision question)', async () => {
    const index = recordingIndex((docs) => docs.map((doc) => conflict(doc.id)))
    const { quarantine, rejections: quarantined } = recordingQuarantine()
    const response = await indexEvents(mskEvent([mskRecord('crypto.assets', 0, 4, asset('LTC'), 'LTC')]), {
      index,
      piiKey: key,
      counter,
      sleep: noSleep,
      quarantine,
    })
    expect(response.batchItemFailures).toEqual([])
    expect(quarantined.map((r) => [r.reason, r.offset])).toEqual([['index_rejected', '4']])
    expect(counter.totals()).toEqual({ EventsIndexed: 0 })
  })
})

describe('batchTokenizer', () => {
  it('gives the tokens tokenize gives, each value hashed once per batch', () => {
    const key = 'k'.repeat(64)
    const token = batchTokenizer(key)
    for (const value of [
      'Maria Souza',
      'maria@example.com',
      'Maria Souza',
      '52998224725',
      'maria@example.com',
    ])
      expect(token(value)).toBe(tokenize(key, value))
    expect(batchTokenizer('other'.repeat(8))('Maria Souza')).not.toBe(token('Maria Souza'))
  })
})
