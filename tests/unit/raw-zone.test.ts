import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, describe, expect, it } from 'vitest'
import { fileObjectStore, s3ObjectStore } from '../../functions/shared/adapters/object-store.ts'
import type { MskRecord, MskRecordHeader } from '../../functions/shared/msk.ts'
import {
  decodeLines,
  encodeLines,
  eventTimeOf,
  fileRawObjectStore,
  mergeIntoObject,
  mergeLines,
  offsetBlock,
  parseRawKey,
  type RawLine,
  rawBlockStore,
  rawKey,
  readRawTopic,
  toRawLine,
} from '../../functions/shared/raw-zone.ts'
import { rawSinkCounts } from '../../local/report/stream.ts'
import { asset, bar, FIRST_REVISION, trade } from '../helpers/events.ts'
import { mskRecord } from '../helpers/msk.ts'

function line(offset: number, value = `{"n":${offset}}`): RawLine {
  return {
    topic: 'crypto.bars',
    partition: 0,
    offset,
    timestamp: '2026-11-30T10:00:00.000Z',
    timestamp_type: 'CREATE_TIME',
    key: 'BTC/USD',
    headers: {},
    value,
    event_id: `e${offset}`,
    event_time: '2026-11-30T10:00:00Z',
  }
}

describe('raw keys', () => {
  it('names the fixed offset block of a record under its event hour', () => {
    expect(rawKey('crypto.bars', 2, 123, '2026-11-30T10:59:00Z')).toBe(
      'raw/crypto.bars/dt=2026-11-30/hour=10/2-0-999.ndjson.gz',
    )
    expect(rawKey('crypto.trades', 0, 1000, '2026-12-01T00:00:07Z')).toBe(
      'raw/crypto.trades/dt=2026-12-01/hour=00/0-1000-1999.ndjson.gz',
    )
    expect(rawKey('crypto.trades', 5, 1999, '2026-11-30T23:59:59Z')).toBe(
      'raw/crypto.trades/dt=2026-11-30/hour=23/5-1000-1999.ndjson.gz',
    )
  })

  it('puts offsets 999 and 1000 in different blocks', () => {
    expect(offsetBlock(0)).toEqual({ start: 0, end: 999 })
    expect(offsetBlock(999)).toEqual({ start: 0, end: 999 })
    expect(offsetBlock(1000)).toEqual({ start: 1000, end: 1999 })
    expect(offsetBlock(123456)).toEqual({ start: 123000, end: 123999 })
  })

  it('reads a key back into its parts and refuses other keys', () => {
    expect(parseRawKey('raw/crypto.assets/dt=2026-11-30/hour=00/0-4000-4999.ndjson.gz')).toEqual({
      topic: 'crypto.assets',
      dt: '2026-11-30',
      hour: '00',
      partition: 0,
      firstOffset: 4000,
      lastOffset: 4999,
    })
    expect(parseRawKey('quarantine/crypto.bars/dt=2026-11-30/land-raw-p0-o1.json')).toBeUndefined()
  })

  it('takes the event time of each topic from its own field', () => {
    expect(eventTimeOf('crypto.bars', bar('BTC/USD', '2026-11-30T09:58:00Z'))).toBe('2026-11-30T09:58:00Z')
    expect(eventTimeOf('crypto.trades', trade())).toBe('2026-11-30T10:00:07Z')
    expect(eventTimeOf('crypto.assets', asset())).toBe('2026-11-30T00:00:10Z')
  })
})

describe('raw lines', () => {
  it('keeps the Kafka coordinates, the headers and the value text as received', () => {
    const headers: MskRecordHeader[] = [{ source: [112, 98] }, { trace: [120] }]
    const record: MskRecord = {
      ...mskRecord('crypto.bars', 1, 42, '{"a": 1}', 'BTC/USD'),
      timestamp: Date.parse('2026-11-30T10:00:01.123Z'),
      headers,
    }
    expect(toRawLine(record, '{"a": 1}', 'id-1', '2026-11-30T10:00:00Z')).toEqual({
      topic: 'crypto.bars',
      partition: 1,
      offset: 42,
      timestamp: '2026-11-30T10:00:01.123Z',
      timestamp_type: 'CREATE_TIME',
      key: 'BTC/USD',
      headers: { source: 'pb', trace: 'x' },
      value: '{"a": 1}',
      event_id: 'id-1',
      event_time: '2026-11-30T10:00:00Z',
    })
  })

  it('merges by offset: union, sorted, a redelivered line replaces itself', () => {
    const merged = mergeLines([line(5), line(1)], [line(3), line(5)])
    expect(merged.map((l) => l.offset)).toEqual([1, 3, 5])
  })

  it('writes gzip NDJSON, one line per record, and reads it back', async () => {
    const body = await encodeLines([line(1), line(2)])
    const text = gunzipSync(body).toString('utf8')
    expect(text.split('\n')).toHaveLength(3)
    expect(text.endsWith('\n')).toBe(true)
    expect(JSON.parse(text.split('\n')[1] ?? '')).toMatchObject({ offset: 2, event_id: 'e2' })
    expect(await decodeLines(body)).toEqual([line(1), line(2)])
  })
})

describe('merging into a raw object on the local store', () => {
  const key = 'raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz'

  it('creates, extends, and leaves an object alone when it already holds the lines', async () => {
    const root = mkdtempSync(join(tmpdir(), 'raw-zone-'))
    const store = fileRawObjectStore(root)
    expect(await mergeIntoObject(store, key, [line(1), line(2)])).toEqual({
      lines: 2,
      added: 2,
      written: true,
    })
    expect(await mergeIntoObject(store, key, [line(2), line(3)])).toEqual({
      lines: 3,
      added: 1,
      written: true,
    })
    expect(await mergeIntoObject(store, key, [line(1), line(3)])).toEqual({
      lines: 3,
      added: 0,
      written: false,
    })
    const { objects, lines } = await readRawTopic(fileObjectStore(root), 'crypto.bars')
    expect(objects).toBe(1)
    expect(lines.map((l) => l.offset)).toEqual([1, 2, 3])
  })

  it('refuses a write against a stale version and an overwrite of an object that appeared', async () => {
    const store = fileRawObjectStore(mkdtempSync(join(tmpdir(), 'raw-zone-')))
    const first = await encodeLines([line(1)])
    expect(await store.putIfUnchanged(key, first, undefined)).toBe(true)
    expect(await store.putIfUnchanged(key, first, undefined)).toBe(false)
    const current = await store.getVersioned(key)
    expect(await store.putIfUnchanged(key, await encodeLines([line(1), line(2)]), current?.etag)).toBe(true)
    expect(await store.putIfUnchanged(key, first, current?.etag)).toBe(false)
  })

  it('loses no line when two merges of the same object race', async () => {
    const root = mkdtempSync(join(tmpdir(), 'raw-zone-'))
    const store = fileRawObjectStore(root)
    await Promise.all([
      mergeIntoObject(store, key, [line(1), line(2)]),
      mergeIntoObject(store, key, [line(3)]),
      mergeIntoObject(store, key, [line(4), line(2)]),
    ])
    const { lines } = await readRawTopic(fileObjectStore(root), 'crypto.bars')
    expect(lines.map((l) => l.offset)).toEqual([1, 2, 3, 4])
  })
})

describe('the raw zone on the S3 object store', () => {
  const s3 = mockClient(S3Client)
  afterEach(() => s3.reset())
  const key = 'raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz'

  it('reads an object with its ETag, and a missing one as undefined', async () => {
    const store = rawBlockStore(s3ObjectStore('raw-bucket', new S3Client({})))
    s3.on(GetObjectCommand, { Bucket: 'raw-bucket', Key: key }).resolves({
      ETag: '"abc"',
      Body: { transformToByteArray: async () => new Uint8Array([1, 2]) } as never,
    })
    expect(await store.getVersioned(key)).toEqual({ body: new Uint8Array([1, 2]), etag: '"abc"' })
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('no such key'), { name: 'NoSuchKey' }))
    expect(await store.getVersioned(key)).toBeUndefined()
  })

  it('creates with If-None-Match: *, replaces with If-Match, and reports a lost race as false', async () => {
    const store = rawBlockStore(s3ObjectStore('raw-bucket', new S3Client({})))
    s3.on(PutObjectCommand)
      .resolvesOnce({})
      .resolvesOnce({})
      .rejects(
        Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
          name: 'PreconditionFailed',
          $metadata: { httpStatusCode: 412 },
        }),
      )
    expect(await store.putIfUnchanged(key, new Uint8Array([1]), undefined)).toBe(true)
    expect(await store.putIfUnchanged(key, new Uint8Array([2]), '"abc"')).toBe(true)
    expect(await store.putIfUnchanged(key, new Uint8Array([3]), '"abc"')).toBe(false)
    const inputs = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input)
    expect(
      inputs.map(({ IfNoneMatch, IfMatch, ContentEncoding }) => ({ IfNoneMatch, IfMatch, ContentEncoding })),
    ).toEqual([
      { IfNoneMatch: '*', IfMatch: undefined, ContentEncoding: 'gzip' },
      { IfNoneMatch: undefined, IfMatch: '"abc"', ContentEncoding: 'gzip' },
      { IfNoneMatch: undefined, IfMatch: '"abc"', ContentEncoding: 'gzip' },
    ])
  })

  it('lets any other S3 error through', async () => {
    const store = rawBlockStore(s3ObjectStore('raw-bucket', new S3Client({})))
    s3.on(PutObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }))
    await expect(store.putIfUnchanged(key, new Uint8Array([1]), undefined)).rejects.toThrow('Access Denied')
  })
})

describe('rawSinkCounts', () => {
  it('counts lines and objects, produced ids missing, and Kafka records held twice', async () => {
    const root = mkdtempSync(join(tmpdir(), 'raw-zone-'))
    const store = fileObjectStore(root)
    await store.put(
      'raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz',
      await encodeLines([line(1), line(2)]),
    )
    // Offset 2 again in another object (as if its event time had been read differently): a duplicate.
    await store.put(
      'raw/crypto.bars/dt=2026-11-30/hour=11/0-0-999.ndjson.gz',
      await encodeLines([line(2), line(3)]),
    )
    await store.put('quarantine/crypto.bars/dt=2026-11-30/land-raw-p0-o9.json', '{}\n')
    expect(await rawSinkCounts(store, 'crypto.bars', new Set(['e1', 'e2', 'e3', 'e4']))).toEqual({
      records: 4,
      objects: 2,
      lost: 1,
      duplicates: 1,
      events: 3,
    })
    expect(await rawSinkCounts(store, 'crypto.trades', new Set(['sim:x']))).toEqual({
      records: 0,
      objects: 0,
      lost: 1,
      duplicates: 0,
      events: 0,
    })
  })

  it('holds every revision of a bar as its own record, and counts a produced revision missing as lost', async () => {
    const root = mkdtempSync(join(tmpdir(), 'raw-zone-'))
    const store = fileObjectStore(root)
    const minute = '2026-11-30T10:00:00Z'
    const id = `alpaca:BTC/USD:${minute}`
    const revised = (offset: number, revision: number): RawLine => ({
      ...line(offset, JSON.stringify(bar('BTC/USD', minute, `9700${offset}.5`, revision))),
      event_id: id,
    })
    // Revision 1, revision 2, and revision 2 re-emitted (a new record, offset 12): all kept.
    const lines = [
      revised(10, FIRST_REVISION),
      revised(11, FIRST_REVISION + 20_000),
      revised(12, FIRST_REVISION + 20_000),
    ]
    await store.put('raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz', await encodeLines(lines))
    expect(await readRawTopic(store, 'crypto.bars')).toEqual({ objects: 1, lines })

    const produced = new Map([
      [id, new Set([FIRST_REVISION, FIRST_REVISION + 20_000, FIRST_REVISION + 40_000])],
    ])
    // Revision 3 never landed: one lost. Revision 2 at two offsets is two records, not a duplicate.
    expect(await rawSinkCounts(store, 'crypto.bars', new Set([id]), produced)).toEqual({
      records: 3,
      objects: 1,
      lost: 1,
      duplicates: 0,
      events: 1,
    })
    // A produced bar absent altogether: lost once per revision produced.
    const absent = 'alpaca:LTC/USD:2026-11-30T10:00:00Z'
    const both = new Map([...produced, [absent, new Set([FIRST_REVISION, FIRST_REVISION + 5_000])]])
    expect(await rawSinkCounts(store, 'crypto.bars', new Set([id, absent]), both)).toMatchObject({ lost: 3 })
  })
})
