import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, describe, expect, it } from 'vitest'
import { fileObjectStore, s3ObjectStore } from '../../functions/shared/adapters/object-store.ts'

describe('s3ObjectStore.listObjects', () => {
  const s3 = mockClient(S3Client)
  afterEach(() => s3.reset())

  it('pages through ListObjectsV2 under the prefix and keeps each LastModified', async () => {
    s3.on(ListObjectsV2Command, {
      Bucket: 'raw-bucket',
      Prefix: 'raw/_lake/landed/',
      ContinuationToken: undefined,
    })
      .resolves({
        IsTruncated: true,
        NextContinuationToken: 'page-2',
        Contents: [
          {
            Key: 'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json',
            LastModified: new Date('2026-11-30T10:06:05Z'),
          },
        ],
      })
      .on(ListObjectsV2Command, {
        Bucket: 'raw-bucket',
        Prefix: 'raw/_lake/landed/',
        ContinuationToken: 'page-2',
      })
      .resolves({
        IsTruncated: false,
        Contents: [
          {
            Key: 'raw/_lake/landed/crypto.assets/dt=2026-11-30/hour=00.json',
            LastModified: new Date('2026-11-30T00:00:09Z'),
          },
        ],
      })
    const store = s3ObjectStore('raw-bucket', new S3Client({}))
    expect(await store.listObjects('raw/_lake/landed/')).toEqual([
      {
        key: 'raw/_lake/landed/crypto.assets/dt=2026-11-30/hour=00.json',
        lastModified: new Date('2026-11-30T00:00:09Z'),
      },
      {
        key: 'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json',
        lastModified: new Date('2026-11-30T10:06:05Z'),
      },
    ])
    expect(s3.commandCalls(ListObjectsV2Command).map((call) => call.args[0].input)).toEqual([
      { Bucket: 'raw-bucket', Prefix: 'raw/_lake/landed/', ContinuationToken: undefined },
      { Bucket: 'raw-bucket', Prefix: 'raw/_lake/landed/', ContinuationToken: 'page-2' },
    ])
    expect(await store.list('raw/_lake/landed/')).toEqual([
      'raw/_lake/landed/crypto.assets/dt=2026-11-30/hour=00.json',
      'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json',
    ])
  })
})

describe('fileObjectStore.listObjects', () => {
  it('lists the files under the prefix with their modification times, skipping partial writes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'object-store-'))
    const dir = join(root, 'raw', '_lake', 'landed', 'crypto.bars', 'dt=2026-11-30')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'hour=10.json'), '{}')
    utimesSync(join(dir, 'hour=10.json'), new Date('2026-11-30T10:06:05Z'), new Date('2026-11-30T10:06:05Z'))
    writeFileSync(join(dir, 'hour=11.json.123.partial'), '{')
    mkdirSync(join(root, 'raw', 'crypto.bars'), { recursive: true })
    writeFileSync(join(root, 'raw', 'crypto.bars', 'other'), 'x')
    const store = fileObjectStore(root)
    expect(await store.listObjects('raw/_lake/landed/')).toEqual([
      {
        key: 'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json',
        lastModified: new Date('2026-11-30T10:06:05Z'),
      },
    ])
    expect(await store.listObjects('raw/_lake/nothing-here/')).toEqual([])
    expect(await store.list('raw/')).toEqual([
      'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json',
      'raw/crypto.bars/other',
    ])
  })
})
