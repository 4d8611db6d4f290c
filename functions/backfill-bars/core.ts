/**
 * backfill-bars: any past window of 1-minute bars, loaded once into `crypto.bars` through the very
 * poll-bars fetch/validate/produce path, as the Tasks of the `backfill-bars` state machine:
 *
 * 1. `plan`: validates the input, applies the defaults, splits the window into chunks sized for
 *    one invocation (about {@link DEFAULT_BARS_PER_CHUNK} bars: three 10000-bar pages) and the
 *    lake refresh into windows lake-refresh accepts (at most 7 days each).
 * 2. `chunk` (one per Map item): skips a chunk whose progress object says it is done; otherwise
 *    runs `pollBars` on a watermark that lives only in this invocation, placed so that the poll's
 *    plan is exactly the chunk (see {@link chunkPollConfig}), then records the progress object.
 *    Same contract, same `event_id`s, same quarantine as the live poller; the live poller's
 *    watermark document, settle state and lag metric are never read or written.
 * 3. `landed`: the lake refresh must not start before land-raw has landed what the chunks
 *    produced; each progress object keeps, per event-time hour, when its last send began, and the
 *    hour's landing marker must be newer. Not yet: {@link BarsNotLandedYet}, which the state
 *    machine retries.
 *
 * Idempotent: a done chunk is never fetched again (a stopped execution restarted resumes where it
 * stopped, a re-run adds nothing); a chunk retried after a partial failure re-emits the same ids
 * with the same revision (the chunk's end), which every sink dedupes, and the lake MERGE too.
 */
import { createHash } from 'node:crypto'
import * as z from 'zod'
import { type PollBarsDeps, pollBars } from '../poll-bars/core.ts'
import type { PollBarsSummary } from '../poll-bars/summary.ts'
import type { LoadedWatermarks, WatermarkStore } from '../poll-bars/watermark.ts'
import { CryptoSymbol, describeIssues, LAKE_ONLY, SINK_HEADER } from '../shared/contracts.ts'
import { landedMarkerKey } from '../shared/lake-state.ts'
import type { Counter, EventProducer, ObjectInfo } from '../shared/ports.ts'
import { floorHour, floorMinute, HOUR, isoSeconds, MINUTE } from '../shared/time.ts'
import type { ChunkProgress, ProgressStore } from './progress.ts'

const DAY = 24 * HOUR

/**
 * Bars per chunk: three pages of Alpaca's 10000-bar maximum. 24 h x 20 symbols (28,800 bars)
 * takes a few seconds through the poll-bars core (bench/backfill.ts), far inside the function's
 * timeout even at the free tier's 200 requests/min, with room for retries.
 */
export const DEFAULT_BARS_PER_CHUNK = 30_000
/** Windows lake-refresh accepts (functions/lake-window: at most 7 days). */
export const REFRESH_WINDOW_MS = 7 * DAY
/** A year and a day: the state machine's payload (256 KB) holds the chunk list of that comfortably. */
export const MAX_WINDOW_MS = 367 * DAY
export const MAX_SYMBOLS = 50
/** Default window: the 7 days before the current hour. */
export const DEFAULT_WINDOW_MS = 7 * DAY

/** Thrown for an input that names no valid backfill; the state machine catches it by name. */
export class InvalidBackfill extends Error {
  override name = 'InvalidBackfill'
}

/** Thrown while some hour the chunks produced has not landed yet; the state machine retries it. */
export class BarsNotLandedYet extends Error {
  override name = 'BarsNotLandedYet'
}

const Instant = z.iso.datetime({ offset: true })

export const BackfillInputSchema = z
  .object({
    /** Default: the function's SYMBOLS (the live poller's). */
    symbols: z.array(CryptoSymbol).min(1).max(MAX_SYMBOLS).optional(),
    /** Default: `end` minus 7 days. Rounded down to the minute. */
    start: Instant.optional(),
    /** Exclusive. Default: the start of the current hour. Rounded down to the minute. */
    end: Instant.optional(),
    /** Minutes per chunk; default: as many whole hours as keep a chunk near 30,000 bars. */
    chunkMinutes: z
      .int()
      .min(1)
      .max(DAY / MINUTE)
      .optional(),
    /** Run lake-refresh over the window at the end (default true). */
    refreshLake: z.boolean().optional(),
    /**
     * Bars before this instant go to the raw zone and the lake only, not to the search index
     * (months past the index's retention, or that nobody looks at live). Default: none, every
     * bar is indexed too.
     */
    lakeOnlyBefore: Instant.optional(),
  })
  .strict()
export type BackfillInput = z.infer<typeof BackfillInputSchema>

export interface Chunk {
  /** Deterministic from the symbols and the window: the key of the chunk's progress object. */
  id: string
  symbols: string[]
  /** First bar start, inclusive. */
  start: string
  /** Exclusive. */
  end: string
  /** Bars starting before it are produced for the raw zone and the lake only. */
  lakeOnlyBefore?: string
}

export interface BackfillPlan {
  symbols: string[]
  start: string
  end: string
  chunkMinutes: number
  chunks: Chunk[]
  /** The lake-refresh windows covering the backfill, empty when `refreshLake` is false. */
  refreshWindows: Array<{ start: string; end: string }>
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex')
const compact = (iso: string) => iso.replace(/[-:]/g, '')

/** `BTC/USD,ETH/USD` 2024-01-01T00:00:00Z..2024-01-02T00:00:00Z -> `3f2a.../20240101T000000Z-20240102T000000Z`. */
export function chunkId(symbols: string[], start: string, end: string): string {
  const group = sha([...symbols].sort().join(',')).slice(0, 16)
  return `${group}/${compact(start)}-${compact(end)}`
}

/** Whole hours per chunk that keep it near `barsPerChunk` bars for this many symbols (at least one hour). */
export function defaultChunkMinutes(symbolCount: number, barsPerChunk = DEFAULT_BARS_PER_CHUNK): number {
  const hours = Math.floor(barsPerChunk / (symbolCount * 60))
  return Math.min(24, Math.max(1, hours)) * 60
}

/**
 * The plan of an execution: defaults applied, the window checked (start before end, at most a
 * year, not reaching into the minute in progress at `now`), chunks and refresh windows.
 */
export function planBackfill(raw: unknown, now: Date, defaultSymbols: string[]): BackfillPlan {
  const parsed = BackfillInputSchema.safeParse(raw ?? {})
  if (!parsed.success) throw new InvalidBackfill(describeIssues(parsed.error))
  const input = parsed.data
  const symbols = [...new Set(input.symbols ?? defaultSymbols)]
  const closedEnd = floorMinute(now.getTime())
  const endMs = input.end === undefined ? floorHour(now.getTime()) : floorMinute(Date.parse(input.end))
  const startMs = input.start === undefined ? endMs - DEFAULT_WINDOW_MS : floorMinute(Date.parse(input.start))
  if (!(startMs < endMs))
    throw new InvalidBackfill(`start ${isoSeconds(startMs)} must be before end ${isoSeconds(endMs)}`)
  if (endMs > closedEnd)
    throw new InvalidBackfill(
      `end ${isoSeconds(endMs)} is in the future (closed minutes end at ${isoSeconds(closedEnd)})`,
    )
  if (endMs - startMs > MAX_WINDOW_MS)
    throw new InvalidBackfill('the window is longer than a year and a day: split it into several executions')
  const chunkMinutes = input.chunkMinutes ?? defaultChunkMinutes(symbols.length)
  const lakeOnlyBefore =
    input.lakeOnlyBefore === undefined ? undefined : isoSeconds(floorMinute(Date.parse(input.lakeOnlyBefore)))
  const chunks: Chunk[] = []
  for (let from = startMs; from < endMs; from += chunkMinutes * MINUTE) {
    const start = isoSeconds(from)
    const end = isoSeconds(Math.min(endMs, from + chunkMinutes * MINUTE))
    const chunk: Chunk = { id: chunkId(symbols, start, end), symbols, start, end }
    if (lakeOnlyBefore !== undefined && lakeOnlyBefore > start) chunk.lakeOnlyBefore = lakeOnlyBefore
    chunks.push(chunk)
  }
  const refreshWindows: BackfillPlan['refreshWindows'] = []
  if (input.refreshLake ?? true) {
    for (let from = startMs; from < endMs; from += REFRESH_WINDOW_MS)
      refreshWindows.push({
        start: isoSeconds(from),
        end: isoSeconds(Math.min(endMs, from + REFRESH_WINDOW_MS)),
      })
  }
  return { symbols, start: isoSeconds(startMs), end: isoSeconds(endMs), chunkMinutes, chunks, refreshWindows }
}

/**
 * The poll-bars configuration and watermark that make one poll read exactly `chunk`: a poll
 * "scheduled" at the chunk's end re-reads nothing (no settle window) and reaches back exactly the
 * chunk's minutes from a watermark one minute before its start. `pollBars` then fetches, validates,
 * quarantines and produces as it does live; the revision of every bar is the chunk's end.
 */
export function chunkPollConfig(chunk: Chunk) {
  const startMs = Date.parse(chunk.start)
  const endMs = Date.parse(chunk.end)
  return {
    scheduledAt: new Date(endMs),
    marks: Object.fromEntries(chunk.symbols.map((symbol) => [symbol, isoSeconds(startMs - MINUTE)])),
    config: {
      symbols: chunk.symbols,
      backfillMaxMinutes: (endMs - startMs) / MINUTE,
      initialLookbackMinutes: 1,
      settleWindowMinutes: 0,
      pollAtSecond: 0,
    },
  }
}

/** A watermark store that lives only for one chunk: the live poller's document is never touched. */
function chunkWatermarks(marks: Record<string, string>): WatermarkStore {
  let state: LoadedWatermarks = { marks, settle: {}, version: 'chunk' }
  return {
    async load() {
      return state
    },
    async save(next, _version, settle = {}) {
      state = { marks: next, settle, version: 'chunk' }
      return 'chunk'
    },
  }
}

/**
 * The backfill's metrics: the live poller's names would move its dashboards and alarms, so each
 * is counted as `Backfill<name>`, and the watermark lag (a live-poller figure that a chunk's
 * window, by construction hours or months old, would blow up) is not counted at all.
 */
export function backfillCounter(counter: Counter): Counter {
  const liveOnly = new Set(['WatermarkLagMinutes', 'BarsBackfillTruncatedMinutes'])
  return {
    count(name, value, dimensions) {
      if (liveOnly.has(name)) return
      counter.count(`Backfill${name}`, value, dimensions)
    },
  }
}

/**
 * The chunk's producer: records per event-time hour when its last send began (epoch ms), and
 * marks the bars before `lakeOnlyBefore` with the lake-only sink header.
 */
function chunkProducer(
  producer: EventProducer,
  clock: () => Date,
  hours: Record<string, string>,
  lakeOnlyBefore: string | undefined,
): EventProducer {
  return {
    async send(records) {
      const sendingAt = isoSeconds(clock())
      const starts = records.map((record) => (JSON.parse(record.value ?? '{}') as { start?: string }).start)
      await producer.send(
        lakeOnlyBefore === undefined
          ? records
          : records.map((record, i) => {
              const start = starts[i]
              return start !== undefined && start < lakeOnlyBefore
                ? { ...record, headers: { ...record.headers, [SINK_HEADER]: LAKE_ONLY } }
                : record
            }),
      )
      records.forEach((record, i) => {
        const start = starts[i]
        if (start) hours[landedMarkerKey(record.topic, start)] = sendingAt
      })
    },
    close: () => producer.close(),
  }
}

export type ChunkDeps = Pick<
  PollBarsDeps,
  'fetchBars' | 'producer' | 'quarantine' | 'counter' | 'clock' | 'isRequestRejected' | 'log'
> & { progress: ProgressStore }

export interface ChunkResult {
  id: string
  status: 'done' | 'skipped'
  emitted: number
  rejected: number
}

/**
 * One chunk: nothing when its progress object says it is done (a resumed or repeated execution);
 * otherwise the poll-bars core over exactly the chunk, then the progress object. A failure of any
 * symbol throws (the state machine retries the chunk) and leaves no progress object.
 */
export async function backfillChunk(chunk: Chunk, deadline: number, deps: ChunkDeps): Promise<ChunkResult> {
  const done = await deps.progress.load(chunk.id)
  if (done) return { id: chunk.id, status: 'skipped', emitted: done.emitted, rejected: done.rejected }
  const { scheduledAt, marks, config } = chunkPollConfig(chunk)
  const hours: Record<string, string> = {}
  const summary: PollBarsSummary = await pollBars(
    { scheduledAt, deadline },
    {
      ...deps,
      producer: chunkProducer(deps.producer, deps.clock, hours, chunk.lakeOnlyBefore),
      watermarks: chunkWatermarks(marks),
      counter: backfillCounter(deps.counter),
      config,
    },
  )
  const progress: ChunkProgress = {
    chunk,
    emitted: summary.emitted,
    rejected: summary.rejected,
    sent: hours,
    done_at: isoSeconds(deps.clock()),
  }
  await deps.progress.save(progress)
  return { id: chunk.id, status: 'done', emitted: summary.emitted, rejected: summary.rejected }
}

/**
 * The landing markers that are missing or older than the last send into their hour, over the
 * progress of `chunks` (every chunk must be done). Empty: everything the backfill produced has
 * landed and the lake refresh may read it.
 */
export async function notLandedYet(
  chunks: Chunk[],
  deps: { progress: ProgressStore; listMarkers: (prefix: string) => Promise<ObjectInfo[]> },
): Promise<string[]> {
  const wanted = new Map<string, number>()
  for (const chunk of chunks) {
    const progress = await deps.progress.load(chunk.id)
    if (!progress) throw new Error(`chunk ${chunk.id} has no progress: it is not done`)
    for (const [marker, sentAt] of Object.entries(progress.sent))
      wanted.set(marker, Math.max(wanted.get(marker) ?? 0, Date.parse(sentAt)))
  }
  const days = new Set([...wanted.keys()].map((marker) => marker.slice(0, marker.lastIndexOf('/') + 1)))
  const landed = new Map<string, number>()
  for (const day of days)
    for (const object of await deps.listMarkers(day)) landed.set(object.key, object.lastModified.getTime())
  return [...wanted]
    .filter(([marker, sentAt]) => (landed.get(marker) ?? Number.NEGATIVE_INFINITY) < sentAt)
    .map(([marker]) => marker)
    .sort()
}
