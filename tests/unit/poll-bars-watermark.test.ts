import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  advanceWatermarks,
  fileWatermarkStore,
  mergeSettle,
  mergeWatermarks,
  objectWatermarkStore,
  pruneSettle,
  WatermarkConflictError,
} from '../../functions/poll-bars/watermark.ts'
import { s3ObjectStore } from '../../functions/shared/adapters/object-store.ts'

describe('mergeWatermarks', () => {
  it('keeps the later mark of each symbol', () => {
    expect(
      mergeWatermarks(
        { 'BTC/USD': '2026-11-30T08:10:00Z', 'LTC/USD': '2026-11-30T08:20:00Z' },
        {
          'BTC/USD': '2026-11-30T08:15:00Z',
          'LTC/USD': '2026-11-30T08:05:00Z',
          'ETH/USD': '2026-11-30T08:00:00Z',
        },
      ),
    ).toEqual({
      'BTC/USD': '2026-11-30T08:15:00Z',
      'LTC/USD': '2026-11-30T08:20:00Z',
      'ETH/USD': '2026-11-30T08:00:00Z',
    })
  })
})

describe('mergeSettle and pruneSettle', () => {
  const bar = (digest: string, revision: number) => ({ digest, revision })

  it('keeps the higher revision per bar; on a tie the fresher observation (b)', () => {
    expect(
      mergeSettle(
        {
          'BTC/USD': { '2026-11-30T08:13:00Z': bar('a', 5), '2026-11-30T08:14:00Z': bar('a', 9) },
          'LTC/USD': { '2026-11-30T08:14:00Z': bar('l', 3) },
        },
        {
          'BTC/USD': { '2026-11-30T08:13:00Z': bar('b', 7), '2026-11-30T08:14:00Z': bar('b', 8) },
          'ETH/USD': { '2026-11-30T08:14:00Z': bar('e', 1) },
          'LTC/USD': { '2026-11-30T08:14:00Z': bar('rejected', 3) },
        },
      ),
    ).toEqual({
      'BTC/USD': { '2026-11-30T08:13:00Z': bar('b', 7), '2026-11-30T08:14:00Z': bar('a', 9) },
      'ETH/USD': { '2026-11-30T08:14:00Z': bar('e', 1) },
      'LTC/USD': { '2026-11-30T08:14:00Z': bar('rejected', 3) },
    })
  })

  it('drops the bars that left the window, and symbols left empty', () => {
    expect(
      pruneSettle(
        {
          'BTC/USD': { '2026-11-30T08:11:00Z': bar('a', 1), '2026-11-30T08:12:00Z': bar('b', 2) },
          'LTC/USD': { '2026-11-30T08:11:00Z': bar('c', 3) },
        },
        Date.parse('2026-11-30T08:12:00Z'),
      ),
    ).toEqual({ 'BTC/USD': { '2026-11-30T08:12:00Z': bar('b', 2) } })
  })
})

describe('fileWatermarkStore', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watermarks-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('starts empty, then round-trips what it saved', async () => {
    const store = fileWatermarkStore(join(dir, 'state/poll-bars/watermarks.json'))
    expect(await store.load()).toEqual({ marks: {}, settle: {} })
    const version = await store.save({ 'BTC/USD': '2026-11-30T08:14:00Z' }, undefined)
    const loaded = await store.load()
    expect(loaded).toEqual({ marks: { 'BTC/USD': '2026-11-30T08:14:00Z' }, settle: {}, version })
    const text = await readFile(join(dir, 'state/poll-bars/watermarks.json'), 'utf8')
    expect(JSON.parse(text).marks).toEqual({ 'BTC/USD': '2026-11-30T08:14:00Z' })
  })

  it('refuses a save based on a stale read', async () => {
    const store = fileWatermarkStore(join(dir, 'w.json'))
    const first = await store.load()
    await store.save({ 'BTC/USD': '2026-11-30T08:14:00Z' }, first.version)
    await expect(store.save({ 'BTC/USD': '2026-11-30T08:13:00Z' }, first.version)).rejects.toBeInstanceOf(
      WatermarkConflictError,
    )
  })

  it('fails loudly on a corrupt document rather than starting over', async () => {
    await writeFile(join(dir, 'w.json'), '{"marks":{"BTC/USD":"yesterday"}}')
    await expect(fileWatermarkStore(join(dir, 'w.json')).load()).rejects.toThrow(/invalid watermark document/)
  })

  it('advanceWatermarks merges with a concurrent writer and never regresses', async () => {
    const store = fileWatermarkStore(join(dir, 'w.json'))
    const ours = await store.load()
    // Another invocation saves first.
    await store.save({ 'BTC/USD': '2026-11-30T08:20:00Z' }, ours.version)
    const stored = await advanceWatermarks(store, ours, {
      marks: { 'BTC/USD': '2026-11-30T08:14:00Z', 'LTC/USD': '2026-11-30T08:14:00Z' },
    })
    expect(stored.marks).toEqual({ 'BTC/USD': '2026-11-30T08:20:00Z', 'LTC/USD': '2026-11-30T08:14:00Z' })
    expect((await store.load()).marks).toEqual(stored.marks)
  })

  it('round-trips the settle state, and loads a document written before it existed', async () => {
    const path = join(dir, 'w.json')
    await writeFile(path, '{"marks":{"BTC/USD":"2026-11-30T08:14:00Z"},"updated_at":"2026-11-30T08:15:01Z"}')
    const store = fileWatermarkStore(path)
    const old = await store.load()
    expect(old.settle).toEqual({})
    const settle = { 'BTC/USD': { '2026-11-30T08:14:00Z': { digest: 'abc', revision: 1796026503250 } } }
    await store.save(old.marks, old.version, settle)
    expect((await store.load()).settle).toEqual(settle)
  })

  it('advanceWatermarks keeps the higher revision of each bar when a concurrent writer emitted one too', async () => {
    const store = fileWatermarkStore(join(dir, 'w.json'))
    const ours = await store.load()
    const bar = '2026-11-30T08:14:00Z'
    // The other invocation saw the recalculated bar later (higher revision) and saved first.
    await store.save({ 'BTC/USD': bar }, ours.version, {
      'BTC/USD': { [bar]: { digest: 'recalculated', revision: 1796026530000 } },
    })
    const stored = await advanceWatermarks(
      store,
      ours,
      {
        marks: { 'BTC/USD': bar },
        settle: {
          'BTC/USD': {
            [bar]: { digest: 'recalculated', revision: 1796026529000 },
            '2026-11-30T08:10:00Z': { digest: 'old', revision: 1796026260000 },
          },
        },
      },
      Date.parse('2026-11-30T08:12:00Z'),
    )
    // 08:10 left the window (it starts before 08:12): pruned.
    expect(stored.settle).toEqual({
      'BTC/USD': { [bar]: { digest: 'recalculated', revision: 1796026530000 } },
    })
    expect((await store.load()).settle).toEqual(stored.settle)
  })

  it('advanceWatermarks writes nothing when nothing moves', async () => {
    const store = fileWatermarkStore(join(dir, 'w.json'))
    await store.save({ 'BTC/USD': '2026-11-30T08:20:00Z' }, undefined)
    const loaded = await store.load()
    await advanceWatermarks(store, loaded, { marks: { 'BTC/USD': '2026-11-30T08:10:00Z' } })
    expect((await store.load()).version).toBe(loaded.version)
  })
})

describe('objectWatermarkStore over the S3 object store', () => {
  const s3 = mockClient(S3Client)
  afterEach(() => s3.reset())
  const store = () =>
    objectWatermarkStore(
      s3ObjectStore('state-bucket', new S3Client({ region: 'us-east-1' })),
      'state/poll-bars/watermarks.json',
    )

  it('loads nothing when the object does not exist', async () => {
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('no such key'), { name: 'NoSuchKey' }))
    expect(await store().load()).toEqual({ marks: {}, settle: {} })
  })

  it('loads the marks with the ETag as version', async () => {
    const body = JSON.stringify({ marks: { 'BTC/USD': '2026-11-30T08:14:00Z' } })
    s3.on(GetObjectCommand, { Bucket: 'state-bucket', Key: 'state/poll-bars/watermarks.json' }).resolves({
      // biome-ignore lint/suspicious/noExplicitAny: the SDK's stream mixin type is not worth building for a test.
      Body: { transformToByteArray: async () => new TextEncoder().encode(body) } as any,
      ETag: '"etag-1"',
    })
    expect(await store().load()).toEqual({
      marks: { 'BTC/USD': '2026-11-30T08:14:00Z' },
      settle: {},
      version: '"etag-1"',
    })
  })

  it('writes the first version with If-None-Match: * and later ones with If-Match on the ETag', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"etag-2"' })
    expect(await store().save({ 'BTC/USD': '2026-11-30T08:14:00Z' }, undefined)).toBe('"etag-2"')
    await store().save({ 'BTC/USD': '2026-11-30T08:15:00Z' }, '"etag-2"')
    const inputs = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input)
    expect(inputs.map((input) => [input.Bucket, input.Key, input.IfNoneMatch, input.IfMatch])).toEqual([
      ['state-bucket', 'state/poll-bars/watermarks.json', '*', undefined],
      ['state-bucket', 'state/poll-bars/watermarks.json', undefined, '"etag-2"'],
    ])
    expect(JSON.parse(String(inputs[1]?.Body)).marks).toEqual({ 'BTC/USD': '2026-11-30T08:15:00Z' })
  })

  it('turns a lost conditional write (412, 409 from a racing write, 404 for If-Match) into WatermarkConflictError', async () => {
    s3.on(PutObjectCommand)
      .rejectsOnce(
        Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
          name: 'PreconditionFailed',
          $metadata: { httpStatusCode: 412 },
        }),
      )
      .rejectsOnce(
        Object.assign(new Error('conflict'), {
          name: 'ConditionalRequestConflict',
          $metadata: { httpStatusCode: 409 },
        }),
      )
      .rejectsOnce(
        Object.assign(new Error('The specified key does not exist.'), {
          name: 'NoSuchKey',
          $metadata: { httpStatusCode: 404 },
        }),
      )
      .rejectsOnce(
        Object.assign(new Error('Access Denied'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        }),
      )
    await expect(store().save({}, '"old"')).rejects.toBeInstanceOf(WatermarkConflictError)
    await expect(store().save({}, '"old"')).rejects.toBeInstanceOf(WatermarkConflictError)
    // If-Match on an object deleted since it was read: 404, the same lost race.
    await expect(store().save({}, '"old"')).rejects.toBeInstanceOf(WatermarkConflictError)
    await expect(store().save({}, '"old"')).rejects.toThrow('Access Denied')
  })
})
