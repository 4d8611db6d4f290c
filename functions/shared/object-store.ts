/**
 * The object store port: S3 on AWS, a directory on the local filesystem behind the same
 * interface. Keys are always `/`-separated and relative (`raw/crypto.bars/dt=.../x.ndjson.gz`).
 */
import type { Dirent } from 'node:fs'
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'

/** A listed object: its key and when it was last written (S3 `LastModified`, a file's mtime). */
export interface ObjectInfo {
  key: string
  lastModified: Date
}

export interface ObjectStore {
  /** Writes the whole object; writing the same key again replaces it (idempotent by key). */
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>
  /** Every key under the prefix, sorted. */
  list(prefix: string): Promise<string[]>
  /** Every object under the prefix with its last-modified time, sorted by key. */
  listObjects(prefix: string): Promise<ObjectInfo[]>
}

function assertRelativeKey(key: string): void {
  if (key.startsWith('/') || key.split('/').includes('..')) throw new Error(`invalid object key: ${key}`)
}

export function fileObjectStore(root: string): ObjectStore {
  const store: ObjectStore = {
    async put(key, body) {
      assertRelativeKey(key)
      const path = join(root, key)
      await mkdir(dirname(path), { recursive: true })
      // Write-then-rename: a reader never sees half an object, as with S3.
      const partial = `${path}.${process.pid}.partial`
      await writeFile(partial, body)
      await rename(partial, path)
    },
    async get(key) {
      assertRelativeKey(key)
      try {
        return new Uint8Array(await readFile(join(root, key)))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw error
      }
    },
    async list(prefix) {
      return (await store.listObjects(prefix)).map((object) => object.key)
    },
    async listObjects(prefix) {
      assertRelativeKey(prefix || '.')
      // Walk only the prefix's directory, not the whole root (the raw zone grows by the hour).
      const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : ''
      const dir = join(root, base)
      let entries: Dirent[]
      try {
        entries = await readdir(dir, { recursive: true, withFileTypes: true })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
        throw error
      }
      const keys = entries
        .filter((entry) => entry.isFile() && !entry.name.endsWith('.partial'))
        .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
        .filter((key) => key.startsWith(prefix))
        .sort()
      const objects: ObjectInfo[] = []
      for (const key of keys) {
        try {
          objects.push({ key, lastModified: (await stat(join(root, key))).mtime })
        } catch (error) {
          // Replaced or removed between the listing and the stat: S3 would not list it either.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
        }
      }
      return objects
    },
  }
  return store
}

export function s3ObjectStore(bucket: string, client: S3Client = new S3Client({})): ObjectStore {
  const store: ObjectStore = {
    async put(key, body, contentType) {
      assertRelativeKey(key)
      // Encryption is the bucket's default (SSE-KMS with the project key), enforced by its policy.
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      )
    },
    async get(key) {
      assertRelativeKey(key)
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array()
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined
        throw error
      }
    },
    async list(prefix) {
      return (await store.listObjects(prefix)).map((object) => object.key)
    },
    async listObjects(prefix) {
      const objects: ObjectInfo[] = []
      let token: string | undefined
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        )
        for (const item of page.Contents ?? [])
          if (item.Key && item.LastModified) objects.push({ key: item.Key, lastModified: item.LastModified })
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
      return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    },
  }
  return store
}
