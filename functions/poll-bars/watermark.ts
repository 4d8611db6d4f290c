/**
 * The state of poll-bars, one small JSON document:
 * - `marks`: per symbol, the start of the last bar handled, so the next poll knows where to
 *   resume (and what to backfill after an outage);
 * - `settle`: per symbol, for each bar emitted inside the trailing settle window, the digest of
 *   the content last seen and the revision last emitted, so a re-read emits a new revision only
 *   when Alpaca recalculated the bar. Entries leave with the window (pruned on every save).
 *   Documents written before revisions existed have no `settle` and load as empty.
 * Written with optimistic concurrency, through the object store's one conditional write (on S3
 * `If-Match` on the ETag, `If-None-Match: *` for the first write; locally a file
 * compared-then-renamed under a lock). Two
 * invocations that overlap (a double-fired schedule) merge: a watermark never moves backwards
 * and each bar keeps its higher revision.
 */
import { basename, dirname } from 'node:path'
import * as z from 'zod'
import { fileObjectStore } from '../shared/adapters/object-store.ts'
import { CryptoSymbol, IsoMinute } from '../shared/contracts.ts'
import type { ObjectStore } from '../shared/ports.ts'

/** The watermark document's key: under STATE_DIR locally, in STATE_BUCKET on AWS. */
export const WATERMARK_KEY = 'state/poll-bars/watermarks.json'

/** Symbol -> ISO minute (`2026-11-30T08:15:00Z`) of the last bar start handled. */
export type Watermarks = Record<string, string>

/**
 * What poll-bars last saw of one bar inside the settle window: the digest of its content and
 * the revision it was emitted with (0 when no valid version was ever emitted: a quarantined bar).
 */
export interface SettledBar {
  digest: string
  revision: number
}

/** Symbol -> ISO minute of the bar start -> {@link SettledBar}. */
export type SettleState = Record<string, Record<string, SettledBar>>

export interface WatermarkState {
  marks: Watermarks
  settle: SettleState
}

export interface LoadedWatermarks extends WatermarkState {
  /** Opaque version of what was read (ETag, content hash); undefined when nothing is stored yet. */
  version?: string
}

export interface WatermarkStore {
  load(): Promise<LoadedWatermarks>
  /**
   * Stores `marks` and `settle` (none by default) if the stored document is still at `version`
   * (undefined: still absent) and returns the new version; throws
   * {@link WatermarkConflictError} when someone wrote in between.
   */
  save(marks: Watermarks, version: string | undefined, settle?: SettleState): Promise<string>
}

export class WatermarkConflictError extends Error {
  override name = 'WatermarkConflictError'
}

const WatermarkDocument = z.object({
  marks: z.record(CryptoSymbol, IsoMinute),
  // Optional: documents written before bar revisions have none.
  settle: z
    .record(
      CryptoSymbol,
      z.record(IsoMinute, z.object({ digest: z.string().min(1), revision: z.int().min(0) })),
    )
    .optional(),
  updated_at: z.string().optional(),
})

function parseDocument(text: string, where: string): WatermarkState {
  const parsed = WatermarkDocument.safeParse(JSON.parse(text))
  // A corrupt watermark must stop the poller, not silently restart it from scratch.
  if (!parsed.success) throw new Error(`invalid watermark document at ${where}: ${parsed.error.message}`)
  return { marks: parsed.data.marks, settle: parsed.data.settle ?? {} }
}

const sortedEntries = <T>(record: Record<string, T>) =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)))

function renderDocument(state: WatermarkState): string {
  const settle = Object.fromEntries(
    Object.entries(sortedEntries(state.settle)).map(([symbol, bars]) => [symbol, sortedEntries(bars)]),
  )
  const document = { marks: sortedEntries(state.marks), settle, updated_at: new Date().toISOString() }
  return `${JSON.stringify(document, null, 2)}\n`
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

/**
 * Per bar, the entry with the higher revision: two overlapping invocations that both emitted a
 * revision of the same bar leave the newer one, which is the one every sink keeps. On a tie
 * (the same revision, e.g. a quarantined version recorded over the bar's last valid one) `b`,
 * the caller's fresher observation, wins.
 */
export function mergeSettle(a: SettleState, b: SettleState): SettleState {
  const merged: SettleState = {}
  for (const symbol of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const bars = { ...a[symbol] }
    for (const [start, entry] of Object.entries(b[symbol] ?? {})) {
      const current = bars[start]
      if (current === undefined || entry.revision >= current.revision) bars[start] = entry
    }
    merged[symbol] = bars
  }
  return merged
}

/** Drops the entries of bars that started before `fromMs` (they left the settle window), and empty symbols. */
export function pruneSettle(settle: SettleState, fromMs: number): SettleState {
  const pruned: SettleState = {}
  for (const [symbol, bars] of Object.entries(settle)) {
    const kept = Object.entries(bars).filter(([start]) => Date.parse(start) >= fromMs)
    if (kept.length > 0) pruned[symbol] = Object.fromEntries(kept)
  }
  return pruned
}

const renderSettle = (settle: SettleState) =>
  Object.entries(sortedEntries(settle)).map(([symbol, bars]) => [symbol, sortedEntries(bars)])
const sameState = (a: WatermarkState, b: WatermarkState) =>
  JSON.stringify([sortedEntries(a.marks), renderSettle(a.settle)]) ===
  JSON.stringify([sortedEntries(b.marks), renderSettle(b.settle)])

/**
 * Moves the stored watermarks forward to `updates.marks` (never backwards), merges
 * `updates.settle` into the stored settle state (higher revision wins) and prunes what started
 * before `settleFromMs`. A lost conditional write means another invocation wrote in between:
 * reload, merge, try again (bounded). Returns the state now stored.
 */
export async function advanceWatermarks(
  store: WatermarkStore,
  loaded: LoadedWatermarks,
  updates: { marks: Watermarks; settle?: SettleState },
  settleFromMs = Number.NEGATIVE_INFINITY,
  attempts = 5,
): Promise<WatermarkState> {
  let current = loaded
  for (let attempt = 1; ; attempt++) {
    const next: WatermarkState = {
      marks: mergeWatermarks(current.marks, updates.marks),
      settle: pruneSettle(mergeSettle(current.settle, updates.settle ?? {}), settleFromMs),
    }
    if (sameState(next, current)) return { marks: current.marks, settle: current.settle }
    try {
      await store.save(next.marks, current.version, next.settle)
      return next
    } catch (error) {
      if (!(error instanceof WatermarkConflictError) || attempt >= attempts) throw error
      current = await store.load()
    }
  }
}

/**
 * The watermark document in an object store: S3 on AWS (version = the ETag, written with
 * `If-None-Match: *` first and `If-Match` after), a directory locally (version = the content
 * hash). A lost conditional write is a {@link WatermarkConflictError}.
 */
export function objectWatermarkStore(objects: ObjectStore, key: string = WATERMARK_KEY): WatermarkStore {
  return {
    async load() {
      const stored = await objects.getVersioned(key)
      if (stored === undefined) return { marks: {}, settle: {} }
      return { ...parseDocument(new TextDecoder().decode(stored.body), key), version: stored.etag }
    },
    async save(marks, version, settle = {}) {
      const body = renderDocument({ marks, settle })
      const written = await objects.putIfVersion(key, body, version, { contentType: 'application/json' })
      if (written === undefined) throw new WatermarkConflictError(`${key} changed since it was read`)
      return written
    },
  }
}

/** The watermark document as a local file (`STATE_DIR/state/poll-bars/watermarks.json`). */
export function fileWatermarkStore(path: string): WatermarkStore {
  return objectWatermarkStore(fileObjectStore(dirname(path)), basename(path))
}
