import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  advanceWatermarks,
  fileWatermarkStore,
  mergeWatermarks,
  s3WatermarkStore,
  WatermarkConflictError,
} from '../../functions/poll-bars/watermark.ts'

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
    expect(await store.load()).toEqual({ marks: {} })
    const version = await store.save({ 'BTC/USD': '2026-11-30T08:14:00Z' }, undefined)
    const loaded = await store.load()
    expect(loaded).toEqual({ marks: { 'BTC/USD': '2026-11-30T08:14:00Z' }, version })
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
      'BTC/USD': '2026-11-30T08:14:00Z',
      'LTC/USD': '2026-11-30T08:14:00Z',
    })
    expect(stored).toEqual({ 'BTC/USD': '2026-11-30T08:20:00Z', 'LTC/USD': '2026-11-30T08:14:00Z' })
    expect((await store.load()).marks).toEqual(stored)
  })

  it('advanceWatermarks writes nothing when nothing moves', async () => {
    const store = fileWatermarkStore(join(dir, 'w.json'))
    await store.save({ 'BTC/USD': '2026-11-30T08:20:00Z' }, undefined)
    const loaded = await store.load()
    await advanceWatermarks(store, loaded, { 'BTC/USD': '2026-11-30T08:10:00Z' })
    expect((await store.load()).version).toBe(loaded.version)
  })
})

describe('s3WatermarkStore', () => {
  const s3 = mockClient(S3Client)
  afterEach(() => s3.reset())
  const store = () =>
    s3WatermarkStore(new S3Client({ region: 'us-east-1' }), 'state-bucket', 'state/poll-bars/watermarks.json')

  it('loads nothing when the object does not exist', async () => {
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('no such key'), { name: 'NoSuchKey' }))
    expect(await store().load()).toEqual({ marks: {} })
  })

  it('loads the marks with the ETag as version', async () => {
    const body = JSON.stringify({ marks: { 'BTC/USD': '2026-11-30T08:14:00Z' } })
    s3.on(GetObjectCommand, { Bucket: 'state-bucket', Key: 'state/poll-bars/watermarks.json' }).resolves({
      // biome-ignore lint/suspicious/noExplicitAny: the SDK's stream mixin type is not worth building for a test.
      Body: { transformToString: async () => body } as any,
      ETag: '"etag-1"',
    })
    expect(await store().load()).toEqual({
      marks: { 'BTC/USD': '2026-11-30T08:14:00Z' },
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

  it('turns a lost conditional write (412, or 409 from a racing write) into WatermarkConflictError', async () => {
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
        Object.assign(new Error('Access Denied'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        }),
      )
    await expect(store().save({}, '"old"')).rejects.toBeInstanceOf(WatermarkConflictError)
    await expect(store().save({}, '"old"')).rejects.toBeInstanceOf(WatermarkConflictError)
    await expect(store().save({}, '"old"')).rejects.toThrow('Access Denied')
  })
})
