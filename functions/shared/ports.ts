/**
 * The ports: every dependency a core receives, as an interface, in one place. The adapters that
 * implement them on AWS and locally are under `adapters/` (Kafka, OpenSearch, the object store,
 * secrets, HTTP); the upstream API clients are beside their function (`poll-bars/alpaca.ts`,
 * `simulate-trades/quotes.ts`, `refresh-assets/coinapi.ts`). Tests hand the cores in-memory
 * fakes of the same interfaces (tests/helpers/fakes.ts).
 */
import type { QuarantineRecord, TopicName } from './contracts.ts'

// --- Kafka -------------------------------------------------------------------------------------

export interface OutgoingRecord {
  topic: TopicName
  key: string
  /** The serialized event (JSON text). */
  value: string
  headers?: Record<string, string>
}

/** The port cores produce through. Resolves only once the broker has acknowledged every record. */
export interface EventProducer {
  send(records: OutgoingRecord[]): Promise<void>
  close(): Promise<void>
}

// --- Search index ------------------------------------------------------------------------------

export interface BulkDoc {
  index: string
  id: string
  doc: Record<string, unknown>
  /**
   * An external version (`version_type: external`): the node indexes the document only when this
   * is strictly higher than the version it holds, and answers 409 `version_conflict_engine_exception`
   * otherwise, so an older or repeated version never overwrites what is there. Without it the
   * document is replaced unconditionally.
   */
  version?: number
}

export interface BulkItemResult {
  status: number
  error?: { type: string; reason: string }
}

/** The port index-events writes through. */
export interface SearchIndex {
  /**
   * `index` (not `create`) with explicit ids: re-indexing a document replaces it, never duplicates
   * it; a document with a `version` replaces it only when that version is higher.
   */
  bulkIndex(docs: BulkDoc[]): Promise<BulkItemResult[]>
}

/** The result of every item of a request that failed as a whole (node down, timeout): retryable. */
export const requestFailed = (error: unknown): BulkItemResult => ({
  status: 503,
  error: { type: 'request_failed', reason: String(error) },
})

// --- Object store (the raw zone, the state bucket) -----------------------------------------------

/** A listed object: its key and when it was last written (S3 `LastModified`, a file's mtime). */
export interface ObjectInfo {
  key: string
  lastModified: Date
}

/** An object's bytes with the version a conditional write compares against (S3: the quoted ETag). */
export interface VersionedObject {
  body: Uint8Array
  etag: string
}

/** How a conditionally written object is stored (S3 metadata; the local directory ignores it). */
export interface PutOptions {
  contentType?: string
  contentEncoding?: string
}

/**
 * S3 on AWS, a directory locally. Keys are always `/`-separated and relative. It is also the one
 * versioned store of the project (read with a version, write only if still at that version): the
 * raw zone's block merge, poll-bars' watermark document and backfill progress all use it.
 */
export interface ObjectStore {
  /** Writes the whole object; writing the same key again replaces it (idempotent by key). */
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>
  /** The object's bytes with its version, or undefined when there is no such key. */
  getVersioned(key: string): Promise<VersionedObject | undefined>
  /**
   * Writes the object only if it is still at `etag` (`undefined`: only if it is still absent)
   * and returns the version written; returns undefined when someone wrote (or deleted) it in
   * between: the caller re-reads, merges and tries again. Any other failure throws.
   */
  putIfVersion(
    key: string,
    body: Uint8Array | string,
    etag: string | undefined,
    options?: PutOptions,
  ): Promise<string | undefined>
  /** Every key under the prefix, sorted. */
  list(prefix: string): Promise<string[]>
  /** Every object under the prefix with its last-modified time, sorted by key. */
  listObjects(prefix: string): Promise<ObjectInfo[]>
}

// --- Metrics and quarantine --------------------------------------------------------------------

/** The narrow metrics port cores use, so tests can count without EMF plumbing. */
export interface Counter {
  count(name: string, value: number, dimensions?: Record<string, string>): void
}

/** A record a stage rejects: the quarantine record before the stage and the time are stamped on it. */
export type Rejection = Omit<QuarantineRecord, 'stage' | 'quarantined_at'>

/** Persists rejections (shared/quarantine.ts); must throw if they cannot be kept. */
export type Quarantine = (rejections: Rejection[]) => Promise<unknown>

// --- Upstream APIs -----------------------------------------------------------------------------

/** A 2xx body that was not the JSON it should be: kept whole for the quarantine. */
export interface MalformedBody {
  detail: string
  body: string
}

export interface FetchedBars {
  /** Raw bars per symbol key as the API returned them, pages concatenated in order. */
  bars: Record<string, unknown[]>
  malformed: MalformedBody[]
  /** Set when fetching stopped early; `bars` then holds the pages received before. */
  error?: unknown
}

/** Alpaca's historical bars of `symbols` with starts in [start, end]. */
export type FetchBars = (
  symbols: string[],
  start: string,
  end: string,
  options: { deadline: number },
) => Promise<FetchedBars>

export interface FetchedQuotes {
  /** The raw quote per symbol, as the API returned it; requested symbols it does not know are absent. */
  quotes: Record<string, unknown>
  /** Garbled bodies met along the way (each attempt that got one). */
  malformed: MalformedBody[]
  /** Set when no usable answer came back within the retries and the deadline. */
  error?: unknown
}

/** Alpaca's latest quote of each symbol. */
export type FetchQuotes = (symbols: string[], options: { deadline: number }) => Promise<FetchedQuotes>

export interface FetchedIcons {
  /** The raw entries (`{asset_id, url}`), as CoinAPI returned them. */
  icons: unknown[]
  malformed: MalformedBody[]
  /** Set when no usable answer came back; `kind` says what went wrong (a metric dimension). */
  error?: Error & { kind: string }
}

/** CoinAPI's asset icons of one size. */
export type FetchIcons = (size: number, options: { deadline: number }) => Promise<FetchedIcons>
