/**
 * The one kit of fakes for unit tests: in-memory implementations of the ports in
 * functions/shared/ports.ts that record what the core did, so a test asserts on the output
 * instead of on calls. They are no kinder than the real adapters: the producer fails the way a
 * broker does when asked to, the object store versions by content hash and refuses a stale
 * conditional write exactly as the file store does.
 */
import { createHash, randomInt } from 'node:crypto'
import type {
  BulkDoc,
  BulkItemResult,
  Counter,
  EventProducer,
  ObjectInfo,
  ObjectStore,
  OutgoingRecord,
  Quarantine,
  Rejection,
  SearchIndex,
  VersionedObject,
} from '../../functions/shared/ports.ts'

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
export const DIGITS = '0123456789'

/**
 * A suffix unique to this test run, for names on shared services (symbols, topics, consumer
 * groups): always `length` characters of `alphabet` (uppercase letters and digits by default, so
 * it fits a symbol such as `PB${run}A/USD`). Call it once per file, at module level.
 */
export function runId(length = 4, alphabet = ALPHANUMERIC): string {
  return Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('')
}

export interface RecordingProducer extends EventProducer {
  /** Every acknowledged record, in send order. */
  sent: OutgoingRecord[]
  /** Every acknowledged send, one array per call. */
  batches: OutgoingRecord[][]
  /** The acknowledged records' values, parsed. */
  values<T = unknown>(): T[]
  closed: boolean
}

/**
 * An EventProducer that keeps what it acknowledges. `fail(records, call)` (call counts from 1)
 * makes a send throw, as a broker that refuses the batch: `true` throws
 * `broker unavailable (call n)`, an Error throws that error; nothing of a failed send is recorded.
 */
export function recordingProducer(
  fail: (records: OutgoingRecord[], call: number) => boolean | Error = () => false,
): RecordingProducer {
  let calls = 0
  const producer: RecordingProducer = {
    sent: [],
    batches: [],
    closed: false,
    values: <T>() => producer.sent.map((record) => JSON.parse(record.value) as T),
    async send(records) {
      calls++
      const failure = fail(records, calls)
      if (failure instanceof Error) throw failure
      if (failure) throw new Error(`broker unavailable (call ${calls})`)
      producer.batches.push([...records])
      producer.sent.push(...records)
    },
    async close() {
      producer.closed = true
    },
  }
  return producer
}

export interface CountedMetric {
  name: string
  value: number
  dimensions?: Record<string, string>
}

export interface RecordingCounter extends Counter {
  counts: CountedMetric[]
  /** The sum of `name`, over the counts that carry every one of `dimensions` (all when omitted). */
  total(name: string, dimensions?: Record<string, string>): number
  /** Each metric's sum over every dimension, by name (a metric counted as 0 is there with 0). */
  totals(): Record<string, number>
}

export function recordingCounter(): RecordingCounter {
  const counts: CountedMetric[] = []
  return {
    counts,
    count(name, value, dimensions) {
      counts.push(dimensions === undefined ? { name, value } : { name, value, dimensions })
    },
    total: (name, dimensions = {}) =>
      counts
        .filter(
          (c) =>
            c.name === name &&
            Object.entries(dimensions).every(([key, value]) => c.dimensions?.[key] === value),
        )
        .reduce((sum, c) => sum + c.value, 0),
    totals: () => {
      const sums: Record<string, number> = {}
      for (const c of counts) sums[c.name] = (sums[c.name] ?? 0) + c.value
      return sums
    },
  }
}

/**
 * A Quarantine port that keeps every rejection. `fail` makes it throw, as the real one must when
 * the rejections cannot be kept (the batch is then retried, never acknowledged).
 */
export function recordingQuarantine(fail?: Error): { quarantine: Quarantine; rejections: Rejection[] } {
  const rejections: Rejection[] = []
  return {
    rejections,
    async quarantine(batch) {
      if (fail) throw fail
      rejections.push(...batch)
    },
  }
}

/**
 * A SearchIndex that keeps every bulk request and answers each with `respond(docs, call)` (call
 * counts from 1): item results as the node would give them, or a throw for a failed request.
 */
export function recordingIndex(
  respond: (docs: BulkDoc[], call: number) => BulkItemResult[] = (docs) => docs.map(() => ({ status: 201 })),
): SearchIndex & { calls: BulkDoc[][] } {
  const calls: BulkDoc[][] = []
  return {
    calls,
    async bulkIndex(docs) {
      calls.push(docs)
      return respond(docs, calls.length)
    },
  }
}

export interface MemoryObjectStore extends ObjectStore {
  /** The stored objects by key. */
  objects: Map<string, VersionedObject & { lastModified: Date }>
  /** An object's body as UTF-8 text, or undefined. */
  text(key: string): string | undefined
}

const bytes = (body: Uint8Array | string) =>
  typeof body === 'string' ? new TextEncoder().encode(body) : new Uint8Array(body)
const contentHash = (body: Uint8Array) => createHash('sha256').update(body).digest('hex')

/**
 * An ObjectStore in memory, versioned like the file store: the version is the content's SHA-256,
 * so writing the same bytes again keeps the version, and `putIfVersion` writes only while the
 * object is still at the version the caller read (`undefined`: still absent). A write to a key
 * for which `failWrite(key)` returns an Error throws it, as S3 answering `SlowDown` would.
 */
export function memoryObjectStore(
  options: { failWrite?: (key: string) => Error | undefined; clock?: () => Date } = {},
): MemoryObjectStore {
  const objects: MemoryObjectStore['objects'] = new Map()
  const clock = options.clock ?? (() => new Date())
  const write = (key: string, body: Uint8Array | string) => {
    const failure = options.failWrite?.(key)
    if (failure) throw failure
    const stored = bytes(body)
    const etag = contentHash(stored)
    objects.set(key, { body: stored, etag, lastModified: clock() })
    return etag
  }
  const sortedKeys = (prefix: string) => [...objects.keys()].filter((key) => key.startsWith(prefix)).sort()
  return {
    objects,
    text: (key) => {
      const object = objects.get(key)
      return object && new TextDecoder().decode(object.body)
    },
    async put(key, body) {
      write(key, body)
    },
    async get(key) {
      const object = objects.get(key)
      return object && new Uint8Array(object.body)
    },
    async getVersioned(key) {
      const object = objects.get(key)
      return object && { body: new Uint8Array(object.body), etag: object.etag }
    },
    async putIfVersion(key, body, etag) {
      if (objects.get(key)?.etag !== etag) return undefined
      return write(key, body)
    },
    async list(prefix) {
      return sortedKeys(prefix)
    },
    async listObjects(prefix): Promise<ObjectInfo[]> {
      return sortedKeys(prefix).map((key) => ({ key, lastModified: objects.get(key)?.lastModified as Date }))
    },
  }
}
