/**
 * The per-symbol watermark of poll-bars: the start of the last bar handled for each symbol, so
 * the next poll knows where to resume (and what to backfill after an outage). One small JSON
 * document, written with optimistic concurrency: on S3 a conditional write (`If-Match` on the
 * ETag, `If-None-Match: *` for the first write), locally a file compared-then-renamed. Two
 * invocations that overlap (a double-fired schedule) can then never move a watermark backwards.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { z } from 'zod'
import { CryptoSymbol, IsoMinute } from '../shared/contracts.ts'

/** The watermark document's key: under STATE_DIR locally, in STATE_BUCKET on AWS. */
export const WATERMARK_KEY = 'state/poll-bars/watermarks.json'

/** Symbol -> ISO minute (`2026-11-30T08:15:00Z`) of the last bar start handled. */
export type Watermarks = Record<string, string>

export interface LoadedWatermarks {
  marks: Watermarks
  /** Opaque version of what was read (ETag, content hash); undefined when nothing is stored yet. */
  version?: string
}

export interface WatermarkStore {
  load(): Promise<LoadedWatermarks>
  /**
   * Stores `marks` if the stored document is still at `version` (undefined: still absent) and
   * returns the new version; throws {@link WatermarkConflictError} when someone wrote in between.
   */
  save(marks: Watermarks, version: string | undefined): Promise<string>
}

export class WatermarkConflictError extends Error {
  override name = 'WatermarkConflictError'
}

const WatermarkDocument = z.object({
  marks: z.record(CryptoSymbol, IsoMinute),
  updated_at: z.string().optional(),
})

function parseDocument(text: string, where: string): Watermarks {
  const parsed = WatermarkDocument.safeParse(JSON.parse(text))
  // A corrupt watermark must stop the poller, not silently restart it from scratch.
  if (!parsed.success) throw new Error(`invalid watermark document at ${where}: ${parsed.error.message}`)
  return parsed.data.marks
}

function renderDocument(marks: Watermarks): string {
  const sorted = Object.fromEntries(Object.entries(marks).sort(([a], [b]) => a.localeCompare(b)))
  return `${JSON.stringify({ marks: sorted, updated_at: new Date().toISOString() }, null, 2)}\n`
}

/** Per symbol, the later of the two marks (ISO minutes in one format compare as strings). */
export function mergeWatermarks(a: Watermarks, b: Watermarks): Watermarks {
  const merged: Watermarks = { ...a }
  for (const [symbol, mark] of Object.entries(b)) {
    const current = merged[symbol]
    if (current === undefined || mark > current) merged[symbol] = mark
  }
  return merged
}

const sameMarks = (a: Watermarks, b: Watermarks) =>
  Object.keys(a).length === Object.keys(b).length &&
  Object.entries(a).every(([symbol, mark]) => b[symbol] === mark)

/**
 * Moves the stored watermarks forward to `updates` (never backwards). A lost conditional write
 * means another invocation advanced them: reload, merge, try again (bounded).
 * Returns the marks now stored.
 */
export async function advanceWatermarks(
  store: WatermarkStore,
  loaded: LoadedWatermarks,
  updates: Watermarks,
  attempts = 5,
): Promise<Watermarks> {
  let current = loaded
  for (let attempt = 1; ; attempt++) {
    const next = mergeWatermarks(current.marks, updates)
    if (sameMarks(next, current.marks)) return current.marks
    try {
      await store.save(next, current.version)
      return next
    } catch (error) {
      if (!(error instanceof WatermarkConflictError) || attempt >= attempts) throw error
      current = await store.load()
    }
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * The local implementation: a JSON file, version = hash of its content, replaced by
 * write-then-rename so a reader never sees half a document. The compare and the rename are
 * not one atomic step; locally there is one scheduler, so that window is accepted.
 */
export function fileWatermarkStore(path: string): WatermarkStore {
  async function read(): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }
  return {
    async load() {
      const text = await read()
      if (text === undefined) return { marks: {} }
      return { marks: parseDocument(text, path), version: digest(text) }
    },
    async save(marks, version) {
      const text = await read()
      const stored = text === undefined ? undefined : digest(text)
      if (stored !== version) throw new WatermarkConflictError(`${path} changed since it was read`)
      const body = renderDocument(marks)
      await mkdir(dirname(path), { recursive: true })
      const partial = `${path}.${process.pid}.partial`
      await writeFile(partial, body)
      await rename(partial, path)
      return digest(body)
    },
  }
}

function isConditionalFailure(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } }
  // 412: the precondition failed; 409: a concurrent conditional write to the same key won.
  return (
    e.name === 'PreconditionFailed' ||
    e.name === 'ConditionalRequestConflict' ||
    e.$metadata?.httpStatusCode === 412 ||
    e.$metadata?.httpStatusCode === 409
  )
}

/** The AWS implementation: one object, version = its ETag, written with S3 conditional writes. */
export function s3WatermarkStore(client: S3Client, bucket: string, key: string): WatermarkStore {
  return {
    async load() {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        const text = out.Body ? await out.Body.transformToString() : ''
        return { marks: parseDocument(text, `s3://${bucket}/${key}`), version: out.ETag }
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return { marks: {} }
        throw error
      }
    },
    async save(marks, version) {
      try {
        const out = await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: renderDocument(marks),
            ContentType: 'application/json',
            ...(version === undefined ? { IfNoneMatch: '*' } : { IfMatch: version }),
          }),
        )
        return out.ETag ?? ''
      } catch (error) {
        if (isConditionalFailure(error))
          throw new WatermarkConflictError(`s3://${bucket}/${key} changed since it was read`, {
            cause: error,
          })
        throw error
      }
    },
  }
}
