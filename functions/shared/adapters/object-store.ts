/**
 * The object store port: S3 on AWS, a directory on the local filesystem behind the same
 * interface. Keys are always `/`-separated and relative (`raw/crypto.bars/dt=.../x.ndjson.gz`).
 * It is also the one conditional write of the project (read with a version, write only if still
 * at that version): the raw zone's block merge and poll-bars' watermark document both use it.
 */
import { createHash } from 'node:crypto'
import type { Dirent } from 'node:fs'
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import { onFirstUse } from '../on-first-use.ts'
import type { ObjectInfo, ObjectStore } from '../ports.ts'

function assertRelativeKey(key: string): void {
  if (key.startsWith('/') || key.split('/').includes('..')) throw new Error(`invalid object key: ${key}`)
}

const sha256 = (body: Uint8Array | string) => createHash('sha256').update(body).digest('hex')

/**
 * The local directory. An object is written to a temporary file and renamed into place, so a
 * reader never sees half of it, as with S3. The version is the content's SHA-256; a conditional
 * write compares and renames under a per-key lock within the process (a local run hosts every
 * function in one process, so that serializes every writer there is).
 */
export function fileObjectStore(root: string): ObjectStore {
  const locks = new Map<string, Promise<unknown>>()
  const write = async (key: string, body: Uint8Array | string) => {
    const path = join(root, key)
    await mkdir(dirname(path), { recursive: true })
    const partial = `${path}.${process.pid}.partial`
    await writeFile(partial, body)
    await rename(partial, path)
  }
  const store: ObjectStore = {
    async put(key, body) {
      assertRelativeKey(key)
      await write(key, body)
    },
    async get(key) {
      return (await store.getVersioned(key))?.body
    },
    async getVersioned(key) {
      assertRelativeKey(key)
      try {
        const body = new Uint8Array(await readFile(join(root, key)))
        return { body, etag: sha256(body) }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw error
      }
    },
    async putIfVersion(key, body, etag) {
      assertRelativeKey(key)
      const attempt = (locks.get(key) ?? Promise.resolve()).then(async () => {
        if ((await store.getVersioned(key))?.etag !== etag) return undefined
        await write(key, body)
        return sha256(body)
      })
      const settled = attempt.catch(() => undefined)
      locks.set(key, settled)
      try {
        return await attempt
      } finally {
        if (locks.get(key) === settled) locks.delete(key)
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
          // Whole seconds, as S3 reports LastModified: no finer than what production sees.
          const { mtimeMs } = await stat(join(root, key))
          objects.push({ key, lastModified: new Date(Math.floor(mtimeMs / 1000) * 1000) })
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

/**
 * The S3 client module, imported on first use rather than at module load: it is the heaviest
 * import of several functions' cold start, and locally (RAW_DIR) or in functions that touch S3
 * only on some invocations it is never needed at all.
 */
const loadS3 = onFirstUse(() => import('@aws-sdk/client-s3'))

export function s3ObjectStore(bucket: string, givenClient?: S3Client): ObjectStore {
  let client = givenClient
  /** The client module's commands and the client, built once per store on first use. */
  const s3 = async () => {
    const commands = await loadS3()
    client ??= new commands.S3Client({})
    return { ...commands, client }
  }
  const store: ObjectStore = {
    async put(key, body, contentType) {
      assertRelativeKey(key)
      const { PutObjectCommand, client } = await s3()
      // Encryption is the bucket's default (SSE-KMS with the project key), enforced by its policy.
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      )
    },
    async get(key) {
      return (await store.getVersioned(key))?.body
    },
    async getVersioned(key) {
      assertRelativeKey(key)
      const { GetObjectCommand, client } = await s3()
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array()
        return { body, etag: out.ETag ?? '' }
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined
        throw error
      }
    },
    async putIfVersion(key, body, etag, options = {}) {
      assertRelativeKey(key)
      const { PutObjectCommand, client } = await s3()
      try {
        const out = await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentType: options.contentType,
            ContentEncoding: options.contentEncoding,
            // The ETag goes back exactly as S3 returned it, quotes included.
            ...(etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: etag }),
          }),
        )
        return out.ETag ?? ''
      } catch (error) {
        if (lostConditionalWrite(error, etag !== undefined)) return undefined
        throw error
      }
    },
    async list(prefix) {
      return (await store.listObjects(prefix)).map((object) => object.key)
    },
    async listObjects(prefix) {
      const { ListObjectsV2Command, client } = await s3()
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

/**
 * Whether a PutObject failed because its condition no longer held: 412 PreconditionFailed (the
 * object exists, or its ETag moved on), 409 ConditionalRequestConflict (a concurrent conditional
 * write to the key won), and for an `If-Match` write 404 NoSuchKey (deleted since it was read).
 */
function lostConditionalWrite(error: unknown, ifMatch: boolean): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } }
  const status = e.$metadata?.httpStatusCode
  if (e.name === 'PreconditionFailed' || e.name === 'ConditionalRequestConflict') return true
  if (status === 412 || status === 409) return true
  return ifMatch && e.name === 'NoSuchKey'
}
