/**
 * The S3 adapters against a real S3-compatible server (moto's server mode, started here on a
 * free loopback port): the object store's conditional write (`If-None-Match: *` to create,
 * `If-Match` with the quoted ETag to replace, a lost race reported, not thrown), and the two
 * stores built on it racing on one key: poll-bars' watermark document (no watermark ever moves
 * back, the higher revision of a bar wins) and a raw-zone block merged by concurrent land-raws
 * (the union of their lines, nothing lost).
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  advanceWatermarks,
  objectWatermarkStore,
  WatermarkConflictError,
  type WatermarkStore,
  type Watermarks,
} from '../../functions/poll-bars/watermark.ts'
import { s3ObjectStore } from '../../functions/shared/adapters/object-store.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import {
  decodeLines,
  mergeIntoObject,
  RAW_CONTENT_TYPE,
  type RawLine,
  rawBlockStore,
  readRawTopic,
} from '../../functions/shared/raw-zone.ts'
import { type S3Server, startS3Server } from '../../local/services/moto.ts'

let server: S3Server
let client: S3Client
let bucketCount = 0

async function newBucket(): Promise<string> {
  const bucket = `crypto-lake-s3-test-${++bucketCount}`
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  return bucket
}

beforeAll(async () => {
  server = await startS3Server({ log: () => undefined })
  client = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  })
})

afterAll(async () => {
  client?.destroy()
  await server?.stop()
})

const text = (body: Uint8Array | undefined) =>
  body === undefined ? undefined : new TextDecoder().decode(body)

describe('the object store on S3', () => {
  let bucket: string
  let store: ObjectStore
  beforeAll(async () => {
    bucket = await newBucket()
    store = s3ObjectStore(bucket, client)
  })

  it('creates with If-None-Match: *, and a second creator loses with a 412 reported as no version', async () => {
    const key = 'state/first-write.json'
    const etag = await store.putIfVersion(key, '{"writer":"a"}', undefined, {
      contentType: 'application/json',
    })
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/)
    expect(await store.putIfVersion(key, '{"writer":"b"}', undefined)).toBeUndefined()
    expect(await store.getVersioned(key)).toEqual({
      body: new TextEncoder().encode('{"writer":"a"}'),
      etag,
    })
    // What the adapter turned into "lost": the server's own answer to the same request.
    const raw = await client
      .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'c', IfNoneMatch: '*' }))
      .catch((error: { name: string; $metadata: { httpStatusCode?: number } }) => error)
    expect(raw).toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } })
    expect((await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentType).toBe(
      'application/json',
    )
  })

  it('replaces with If-Match on the quoted ETag it read, and refuses a stale one', async () => {
    const key = 'state/replace.json'
    const first = await store.putIfVersion(key, 'v1', undefined)
    const read = await store.getVersioned(key)
    expect(read?.etag).toBe(first)
    const second = await store.putIfVersion(key, 'v2', read?.etag)
    expect(second).toBeDefined()
    expect(second).not.toBe(first)
    expect(await store.putIfVersion(key, 'v3', first)).toBeUndefined()
    expect(text(await store.get(key))).toBe('v2')
    expect(await store.putIfVersion(key, 'v3', second)).toBeDefined()
    expect(text(await store.get(key))).toBe('v3')
  })

  it('reports an If-Match write to an object deleted since it was read as lost', async () => {
    const key = 'state/deleted.json'
    const etag = await store.putIfVersion(key, 'v1', undefined)
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
    expect(await store.putIfVersion(key, 'v2', etag)).toBeUndefined()
    expect(await store.getVersioned(key)).toBeUndefined()
  })

  it('lets an error that is not a lost condition through', async () => {
    const missing = s3ObjectStore('crypto-lake-no-such-bucket', client)
    await expect(missing.putIfVersion('state/x.json', 'v1', undefined)).rejects.toMatchObject({
      name: 'NoSuchBucket',
    })
  })

  it('lists under a prefix, sorted, with each object last-modified time', async () => {
    const before = Date.now() - 1_000
    await store.put('list/b.json', 'b')
    await store.put('list/a.json', 'a')
    await store.put('other/c.json', 'c')
    const listed = await store.listObjects('list/')
    expect(listed.map((object) => object.key)).toEqual(['list/a.json', 'list/b.json'])
    for (const object of listed) expect(object.lastModified.getTime()).toBeGreaterThanOrEqual(before - 1_000)
  })
})

describe('poll-bars watermarks on S3', () => {
  const KEY = 'state/poll-bars/watermarks.json'
  let bucket: string
  let store: WatermarkStore
  beforeAll(async () => {
    bucket = await newBucket()
    store = objectWatermarkStore(s3ObjectStore(bucket, client), KEY)
  })

  it('starts empty, writes first with If-None-Match, then only from the version it read', async () => {
    expect(await store.load()).toEqual({ marks: {}, settle: {} })
    const version = await store.save({ 'BTC/USD': '2026-11-30T08:14:00Z' }, undefined)
    await expect(store.save({ 'BTC/USD': '2026-11-30T08:10:00Z' }, undefined)).rejects.toBeInstanceOf(
      WatermarkConflictError,
    )
    const loaded = await store.load()
    expect(loaded).toEqual({ marks: { 'BTC/USD': '2026-11-30T08:14:00Z' }, settle: {}, version })
    await store.save({ 'BTC/USD': '2026-11-30T08:15:00Z' }, loaded.version)
    await expect(store.save({ 'BTC/USD': '2026-11-30T08:13:00Z' }, loaded.version)).rejects.toBeInstanceOf(
      WatermarkConflictError,
    )
    expect((await store.load()).marks).toEqual({ 'BTC/USD': '2026-11-30T08:15:00Z' })
    const stored = await client.send(new GetObjectCommand({ Bucket: bucket, Key: KEY }))
    expect(stored.ContentType).toBe('application/json')
  })

  it('two invocations racing from the same read: the loser reloads and merges, no watermark moves back', async () => {
    const race = objectWatermarkStore(s3ObjectStore(bucket, client), 'state/race-two.json')
    await race.save({ 'BTC/USD': '2026-11-30T08:10:00Z', 'LTC/USD': '2026-11-30T08:10:00Z' }, undefined, {
      'BTC/USD': { '2026-11-30T08:10:00Z': { digest: 'd0', revision: 100 } },
    })
    const loaded = await race.load()
    // Both read the same version; the first one's write lands, the second one's conditional write loses.
    await advanceWatermarks(race, loaded, {
      marks: { 'BTC/USD': '2026-11-30T08:15:00Z' },
      settle: { 'BTC/USD': { '2026-11-30T08:10:00Z': { digest: 'd2', revision: 300 } } },
    })
    const merged = await advanceWatermarks(race, loaded, {
      marks: { 'BTC/USD': '2026-11-30T08:12:00Z', 'LTC/USD': '2026-11-30T08:20:00Z' },
      settle: { 'BTC/USD': { '2026-11-30T08:10:00Z': { digest: 'd1', revision: 200 } } },
    })
    const expected = {
      marks: { 'BTC/USD': '2026-11-30T08:15:00Z', 'LTC/USD': '2026-11-30T08:20:00Z' },
      settle: { 'BTC/USD': { '2026-11-30T08:10:00Z': { digest: 'd2', revision: 300 } } },
    }
    expect(merged).toEqual(expected)
    const { version: _, ...stored } = await race.load()
    expect(stored).toEqual(expected)
  })

  it('four invocations writing at once from the same read: every mark ends at its latest', async () => {
    const race = objectWatermarkStore(s3ObjectStore(bucket, client), 'state/race-four.json')
    const loaded = await race.load()
    const writers: Watermarks[] = [
      { 'BTC/USD': '2026-11-30T08:04:00Z', 'LTC/USD': '2026-11-30T08:01:00Z' },
      { 'BTC/USD': '2026-11-30T08:02:00Z', 'ETH/USD': '2026-11-30T08:03:00Z' },
      { 'LTC/USD': '2026-11-30T08:05:00Z', 'ETH/USD': '2026-11-30T08:01:00Z' },
      { 'BTC/USD': '2026-11-30T08:03:00Z', 'SOL/USD': '2026-11-30T08:02:00Z' },
    ]
    await Promise.all(writers.map((marks) => advanceWatermarks(race, loaded, { marks })))
    expect((await race.load()).marks).toEqual({
      'BTC/USD': '2026-11-30T08:04:00Z',
      'ETH/USD': '2026-11-30T08:03:00Z',
      'LTC/USD': '2026-11-30T08:05:00Z',
      'SOL/USD': '2026-11-30T08:02:00Z',
    })
  })
})

describe('a raw-zone block on S3', () => {
  const KEY = 'raw/crypto.bars/dt=2026-11-30/hour=10/0-0-999.ndjson.gz'
  let bucket: string
  let objects: ObjectStore

  function line(offset: number): RawLine {
    return {
      topic: 'crypto.bars',
      partition: 0,
      offset,
      timestamp: '2026-11-30T10:00:01.000Z',
      timestamp_type: 'CREATE_TIME',
      key: 'BTC/USD',
      headers: {},
      value: `{"n":${offset}}`,
      event_id: `e${offset}`,
      event_time: '2026-11-30T10:00:00Z',
    }
  }

  beforeAll(async () => {
    bucket = await newBucket()
    objects = s3ObjectStore(bucket, client)
  })

  it('merges batches by offset, idempotently, stored as gzip NDJSON', async () => {
    const store = rawBlockStore(objects)
    expect(await mergeIntoObject(store, KEY, [line(1), line(2)])).toEqual({
      lines: 2,
      added: 2,
      written: true,
    })
    expect(await mergeIntoObject(store, KEY, [line(2), line(3)])).toEqual({
      lines: 3,
      added: 1,
      written: true,
    })
    expect(await mergeIntoObject(store, KEY, [line(1), line(3)])).toEqual({
      lines: 3,
      added: 0,
      written: false,
    })
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: KEY }))
    expect([head.ContentType, head.ContentEncoding]).toEqual([RAW_CONTENT_TYPE, 'gzip'])
  })

  it('three land-raws merging into one block at once: the union of their lines, each once', async () => {
    const key = 'raw/crypto.bars/dt=2026-11-30/hour=11/0-1000-1999.ndjson.gz'
    const batches = [
      [1000, 1001, 1002],
      [1002, 1003],
      [1004, 1000, 1005],
    ]
    // One store per writer, as separate Lambda containers would hold.
    const results = await Promise.all(
      batches.map((offsets) =>
        mergeIntoObject(
          rawBlockStore(s3ObjectStore(bucket, client)),
          key,
          offsets.map((offset) => ({ ...line(offset), event_time: '2026-11-30T11:00:00Z' })),
        ),
      ),
    )
    expect(results.every((result) => result.written)).toBe(true)
    const stored = await objects.get(key)
    expect(stored).toBeDefined()
    expect((await decodeLines(stored as Uint8Array)).map((l) => l.offset)).toEqual([
      1000, 1001, 1002, 1003, 1004, 1005,
    ])
    const { lines } = await readRawTopic(objects, 'crypto.bars')
    expect(lines.map((l) => l.offset)).toEqual([1, 2, 3, 1000, 1001, 1002, 1003, 1004, 1005])
  })
})
