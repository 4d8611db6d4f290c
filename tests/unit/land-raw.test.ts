import { describe, expect, it } from 'vitest'
import { landRaw, planRawObjects } from '../../functions/land-raw/core.ts'
import { MAX_VALUE_BYTES } from '../../functions/shared/decode-record.ts'
import type { MskRecord } from '../../functions/shared/msk.ts'
import { decodeLines, type RawLine, rawBlockStore } from '../../functions/shared/raw-zone.ts'
import { asset, bar, trade } from '../helpers/events.ts'
import { type MemoryObjectStore, memoryObjectStore, recordingQuarantine } from '../helpers/fakes.ts'
import { mskEvent, mskRecord } from '../helpers/msk.ts'

/** A write to a key in `keys` throws, as S3 answering SlowDown would. */
const slowDownOn = (keys: string[]) => (key: string) =>
  keys.includes(key) ? new Error('SlowDown') : undefined

/** The raw zone in memory, with its objects to read back. */
function memoryStore(failKeys: string[] = []) {
  const objects = memoryObjectStore({ failWrite: slowDownOn(failKeys) })
  return { ...rawBlockStore(objects), objects: objects.objects }
}

const counter = { count() {} }

/** The landing markers, in memory. */
const memoryMarkers = (failKeys: string[] = []) => memoryObjectStore({ failWrite: slowDownOn(failKeys) })

/** Every marker written, by key, as text. */
const markersWritten = (markers: MemoryObjectStore) =>
  Object.fromEntries([...markers.objects.keys()].map((key) => [key, markers.text(key)]))

const clock = () => new Date('2026-11-30T10:02:03.456Z')

async function linesOf(store: ReturnType<typeof memoryStore>): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {}
  for (const [key, object] of [...store.objects].sort(([a], [b]) => a.localeCompare(b))) {
    out[key] = (await decodeLines(object.body)).map((line: RawLine) => line.offset)
  }
  return out
}

/** Bars at 09:59 and 10:00 in partition 0 around the block boundary, a trade and an asset. */
function batch(): MskRecord[] {
  return [
    mskRecord('crypto.bars', 0, 998, bar('BTC/USD', '2026-11-30T09:59:00Z'), 'BTC/USD'),
    mskRecord('crypto.bars', 0, 999, bar('BTC/USD', '2026-11-30T10:00:00Z'), 'BTC/USD'),
    mskRecord('crypto.bars', 0, 1000, bar('BTC/USD', '2026-11-30T10:01:00Z'), 'BTC/USD'),
    mskRecord('crypto.trades', 3, 7, trade(), 'u-000042'),
    mskRecord('crypto.assets', 0, 12, asset('ETH'), 'ETH'),
  ]
}

describe('planRawObjects', () => {
  it('groups records by topic-partition, event hour and fixed offset block', () => {
    const { groups, rejections } = planRawObjects(mskEvent(batch()))
    expect(rejections).toEqual([])
    expect(Object.fromEntries(groups.map((g) => [g.key, g.records.map((r) => r.offset)]))).toEqual({
      'raw/crypto.bars/dt=2026-11-30/hour=09/0-0-999.ndjson.gz': [998],
      'raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz': [999],
      'raw/crypto.bars/dt=2026-11-30/hour=10/0-1000-1999.ndjson.gz': [1000],
      'raw/crypto.trades/dt=2026-11-30/hour=10/3-0-999.ndjson.gz': [7],
      'raw/crypto.assets/dt=2026-11-30/hour=00/0-0-999.ndjson.gz': [12],
    })
  })

  it('keeps the value text exactly as received, with the event id and event time', () => {
    const text = `{"schema_version":1,   ${JSON.stringify(trade()).slice(20)}`
    const { groups } = planRawObjects(mskEvent([mskRecord('crypto.trades', 3, 7, text, 'u-000042')]))
    expect(groups[0]?.lines[0]).toMatchObject({
      value: text,
      key: 'u-000042',
      event_id: 'sim:202611301000-0001',
      event_time: '2026-11-30T10:00:07Z',
    })
  })

  it('quarantines every record that is not a valid event, and lands none of them', () => {
    const valid = bar('BTC/USD', '2026-11-30T10:00:00Z')
    const { groups, rejections } = planRawObjects(
      mskEvent([
        mskRecord('crypto.bars', 0, 1, '{"not json'),
        mskRecord('crypto.bars', 0, 2, { ...valid, close: 97000.5 }),
        mskRecord('crypto.bars', 0, 3, { ...valid, trade_count: '12' }),
        mskRecord('crypto.bars', 0, 4, null),
        mskRecord('crypto.bars', 0, 5, `"${'x'.repeat(MAX_VALUE_BYTES)}"`),
        mskRecord('crypto.bars', 0, 6, valid),
      ]),
    )
    expect(rejections.map((r) => [r.reason, r.offset])).toEqual([
      ['malformed_json', '1'],
      ['schema_violation', '2'],
      ['schema_violation', '3'],
      ['null_value', '4'],
      ['oversized', '5'],
    ])
    expect(groups.flatMap((g) => g.records.map((r) => r.offset))).toEqual([6])
  })
})

describe('landRaw', () => {
  it('writes one object per group and quarantines the poison with stage-independent reasons', async () => {
    const store = memoryStore()
    const { quarantine, rejections: quarantined } = recordingQuarantine()
    const response = await landRaw(mskEvent([...batch(), mskRecord('crypto.trades', 3, 8, 'nope')]), {
      store,
      markers: memoryMarkers(),
      counter,
      quarantine,
    })
    expect(response.batchItemFailures).toEqual([])
    expect(await linesOf(store)).toEqual({
      'raw/crypto.assets/dt=2026-11-30/hour=00/0-0-999.ndjson.gz': [12],
      'raw/crypto.bars/dt=2026-11-30/hour=09/0-0-999.ndjson.gz': [998],
      'raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz': [999],
      'raw/crypto.bars/dt=2026-11-30/hour=10/0-1000-1999.ndjson.gz': [1000],
      'raw/crypto.trades/dt=2026-11-30/hour=10/3-0-999.ndjson.gz': [7],
    })
    expect(quarantined.map((r) => [r.reason, r.topic, r.offset])).toEqual([
      ['malformed_json', 'crypto.trades', '8'],
    ])
  })

  it('rewrites the same lines when the batch is redelivered, whole or cut differently', async () => {
    const store = memoryStore()
    const deps = { store, markers: memoryMarkers(), counter, quarantine: async () => {} }
    const records = batch()
    await landRaw(mskEvent(records), deps)
    const first = await linesOf(store)
    await landRaw(mskEvent(records), deps)
    await landRaw(mskEvent(records.slice(1, 3)), deps)
    await landRaw(mskEvent([...records].reverse()), deps)
    expect(await linesOf(store)).toEqual(first)
    expect(Object.values(first).flat()).toHaveLength(5)
  })

  it('reports the lowest offset of an object it could not write, per partition, and lands the rest', async () => {
    const store = memoryStore(['raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz'])
    const errors: string[] = []
    const response = await landRaw(mskEvent(batch()), {
      store,
      markers: memoryMarkers(),
      counter,
      quarantine: async () => {},
      onWriteError: (key) => errors.push(key),
    })
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'crypto.bars-0', offset: 999 } },
    ])
    expect(errors).toEqual(['raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz'])
    expect(Object.keys(await linesOf(store))).toHaveLength(4)
  })

  it('fails the whole batch when the quarantine cannot be written', async () => {
    const store = memoryStore()
    await expect(
      landRaw(mskEvent([mskRecord('crypto.bars', 0, 1, 'nope')]), {
        store,
        markers: memoryMarkers(),
        counter,
        quarantine: recordingQuarantine(new Error('AccessDenied')).quarantine,
      }),
    ).rejects.toThrow('AccessDenied')
    expect(store.objects.size).toBe(0)
  })

  it('marks each event-time partition it landed in, after its objects, with the landing time', async () => {
    const markers = memoryMarkers()
    const response = await landRaw(mskEvent([...batch(), mskRecord('crypto.trades', 3, 8, 'nope')]), {
      store: memoryStore(),
      markers,
      clock,
      counter,
      quarantine: async () => {},
    })
    expect(response.batchItemFailures).toEqual([])
    expect(markersWritten(markers)).toEqual({
      'raw/_lake/landed/crypto.assets/dt=2026-11-30/hour=00.json':
        '{"landed_at":"2026-11-30T10:02:03.456Z"}\n',
      'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=09.json': '{"landed_at":"2026-11-30T10:02:03.456Z"}\n',
      'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json': '{"landed_at":"2026-11-30T10:02:03.456Z"}\n',
      'raw/_lake/landed/crypto.trades/dt=2026-11-30/hour=10.json':
        '{"landed_at":"2026-11-30T10:02:03.456Z"}\n',
    })
  })

  it('marks a partition again when a redelivery has nothing new to merge (the marker may be what failed)', async () => {
    const store = memoryStore()
    await landRaw(mskEvent(batch()), { store, markers: memoryMarkers(), counter, quarantine: async () => {} })
    const again = memoryMarkers()
    await landRaw(mskEvent(batch().slice(0, 1)), {
      store,
      markers: again,
      counter,
      quarantine: async () => {},
    })
    expect(Object.keys(markersWritten(again))).toEqual([
      'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=09.json',
    ])
  })

  it('fails the records of a partition whose marker cannot be written, so they are redelivered', async () => {
    const errors: string[] = []
    const response = await landRaw(mskEvent(batch()), {
      store: memoryStore(),
      markers: memoryMarkers(['raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json']),
      counter,
      quarantine: async () => {},
      onWriteError: (key) => errors.push(key),
    })
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'crypto.bars-0', offset: 999 } },
    ])
    expect(errors).toEqual(['raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json'])
  })

  it('writes no marker for a partition whose only object failed', async () => {
    const markers = memoryMarkers()
    await landRaw(mskEvent(batch().slice(0, 1)), {
      store: memoryStore(['raw/crypto.bars/dt=2026-11-30/hour=09/0-0-999.ndjson.gz']),
      markers,
      counter,
      quarantine: async () => {},
    })
    expect(markers.objects.size).toBe(0)
  })
})
