/**
 * The window of a lake-refresh execution. ASL (JSONPath) has no date arithmetic, so this, the
 * state machine's first Task, resolves it; everything after it receives a resolved, valid window.
 *
 * - A given `{"window":{start,end}}` is validated (start < end, at most 7 days) and used as is,
 *   for the refresh and for quality alike. It writes no checkpoint: it is a person's rerun or
 *   backfill, not the schedule's progress.
 * - A scheduled run (`{}`) is planned from the raw zone's landing markers
 *   (functions/shared/lake-state.ts): every event-time partition that received data since the
 *   last successful scheduled refresh, plus the markers of the lookback margin before it, within
 *   the last 48 hours. The refresh reads those partitions whole (the current hour up to what has
 *   landed); quality judges up to the settled minute. Nothing changed: `skip`, and the state
 *   machine ends before EMR. Otherwise `checkpoint` is the JSON the state machine writes once
 *   Refresh and Quality succeeded.
 */
import * as z from 'zod'
import type { RefreshCheckpoint } from '../shared/lake-state.ts'

export const MAX_WINDOW_MS = 7 * 24 * 3600 * 1000
const MINUTE_MS = 60_000
const HOUR_MS = 3600 * 1000
/** Partitions older than this are not refreshed by the schedule (poll-bars backfills at most 24 h). */
export const PLAN_BOUND_MS = 48 * HOUR_MS
/**
 * Markers last modified this long before the previous listing are considered again: a marker
 * PUT in flight during the listing (S3 dates an object by its request, land-raw's timeout is
 * 120 s) is listed by the next plan even though it is dated before the checkpoint.
 */
export const LOOKBACK_MS = 10 * MINUTE_MS
/**
 * Quality judges up to this long before the execution started: the last minutes' bars are still
 * on their way (published ~1 s after the minute, polled by the next minute's poll, then MSK and
 * land-raw's batching window). The refresh still merges them; the next run judges them.
 */
export const SETTLE_MS = 3 * MINUTE_MS

const Instant = z.iso.datetime({ offset: true })

export const LakeWindowInputSchema = z
  .object({
    /** The execution's input as given (scheduled runs pass `{}`). */
    input: z
      .object({
        window: z.object({ start: Instant, end: Instant }).strict().optional(),
        /** Bump to force new EMR job runs for a window already run (client tokens are per window). */
        rerun: z.int().nonnegative().optional(),
      })
      .loose(),
    /** `$$.Execution.StartTime`: anchors the scheduled plan. */
    now: Instant,
  })
  .strict()
export type LakeWindowInput = z.infer<typeof LakeWindowInputSchema>

export interface ResolvedWindow {
  /** The event-time window the refresh reads and merges. */
  start: string
  end: string
  /** The window quality judges. */
  quality: { start: string; end: string }
  /** `[A-Za-z0-9._-]`, at most 54 characters: room for a suffix within EMR's 64. */
  token: string
  /** True when a scheduled run found nothing new: the state machine ends before EMR. */
  skip: boolean
  /** Scheduled runs: the checkpoint to write after success. */
  checkpoint?: RefreshCheckpoint
  /** Scheduled runs: partitions planned, and changed partitions left out as older than the bound. */
  partitions?: number
  outside?: number
}

/** Thrown for an input that names no valid window; the state machine catches it by name. */
export class InvalidWindow extends Error {
  override name = 'InvalidWindow'
}

/** A landing marker as listed: topic, event-time hour, last-modified time. */
export interface LandedMarker {
  key: string
  topic: string
  hourStart: number
  lastModified: Date
}

export interface PlanInput {
  now: string
  /** When the markers were listed (read before the listing). */
  listedAt: Date
  markers: LandedMarker[]
  checkpoint: RefreshCheckpoint | undefined
  rerun?: number | undefined
}

export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
const compact = (isoText: string) => isoText.replace(/[-:]/g, '').replace(/00Z$/, 'Z')
const floorTo = (ms: number, unit: number) => Math.floor(ms / unit) * unit

function parseInput(raw: unknown): LakeWindowInput {
  const parsed = LakeWindowInputSchema.safeParse(raw)
  if (!parsed.success) {
    throw new InvalidWindow(
      `expected {"window":{"start":ISO,"end":ISO}} (optional): ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    )
  }
  return parsed.data
}

/** True when the execution input names its own window (a rerun or backfill). */
export function isGivenWindow(raw: unknown): boolean {
  return parseInput(raw).input.window !== undefined
}

/** Validates a given window. A scheduled (`{}`) input needs {@link planWindow}. */
export function resolveWindow(raw: unknown): ResolvedWindow {
  const { input } = parseInput(raw)
  if (!input.window)
    throw new InvalidWindow('no window given: a scheduled run is planned from the landing markers')
  const startMs = Date.parse(input.window.start)
  const endMs = Date.parse(input.window.end)
  if (!(startMs < endMs)) {
    throw new InvalidWindow(`window start ${input.window.start} must be before end ${input.window.end}`)
  }
  if (endMs - startMs > MAX_WINDOW_MS) {
    throw new InvalidWindow(`window ${input.window.start} .. ${input.window.end} is longer than 7 days`)
  }
  if (startMs % 1000 !== 0 || endMs % 1000 !== 0) {
    throw new InvalidWindow('window bounds must be whole seconds')
  }
  const start = iso(startMs)
  const end = iso(endMs)
  const rerun = input.rerun ? `-r${input.rerun}` : ''
  return {
    start,
    end,
    quality: { start, end },
    token: `lake-${compact(start)}-${compact(end)}${rerun}`,
    skip: false,
  }
}

/**
 * True when the next scheduled plan takes this marker as new: modified after the checkpoint's
 * listing less the lookback, and not listed by it at this same time (no checkpoint: every
 * marker). A marker that is not changed was offered to a refresh that succeeded; the accounting
 * report judges the lake on exactly those partitions.
 */
export function markerChanged(
  marker: Pick<LandedMarker, 'key' | 'lastModified'>,
  checkpoint: RefreshCheckpoint | undefined,
): boolean {
  if (!checkpoint) return true
  const listedMs = Date.parse(checkpoint.listed_at)
  const modifiedMs = marker.lastModified.getTime()
  // S3's LastModified has whole seconds: a marker rewritten later in the second of the listing
  // shows the time the listing saw, so a marker of that second always counts as changed.
  if (modifiedMs >= Math.floor(listedMs / 1000) * 1000) return true
  return (
    modifiedMs > listedMs - LOOKBACK_MS && checkpoint.seen[marker.key] !== marker.lastModified.toISOString()
  )
}

/**
 * Plans a scheduled refresh from the landing markers and the last success's checkpoint. Pure.
 *
 * Changed: a marker modified after `checkpoint.listed_at - LOOKBACK_MS` and not listed with
 * that same time in `checkpoint.seen` (no checkpoint: every marker). Changed hours older than
 * the 48 h bound, or after the current hour, are counted in `outside` and left out. The window
 * runs from the oldest changed hour (or the hour where the last quality window ended, if older)
 * to the end of the newest hour touched; quality judges it up to the settled minute, and at
 * least the last hour before that.
 */
export function planWindow(plan: PlanInput): ResolvedWindow {
  const nowMs = Date.parse(plan.now)
  const listedMs = plan.listedAt.getTime()
  const changed = plan.markers.filter((m) => markerChanged(m, plan.checkpoint))
  const boundStart = floorTo(nowMs - PLAN_BOUND_MS, HOUR_MS)
  const currentHourEnd = floorTo(Math.max(nowMs, listedMs), HOUR_MS) + HOUR_MS
  const inside = changed.filter((m) => m.hourStart >= boundStart && m.hourStart < currentHourEnd)
  const outside = changed.length - inside.length
  const qualityEnd = floorTo(nowMs - SETTLE_MS, MINUTE_MS)
  // The margin of this listing, remembered so that the next plan re-reads only what changed again.
  const checkpoint: RefreshCheckpoint = {
    listed_at: plan.listedAt.toISOString(),
    judged_until: iso(qualityEnd),
    seen: Object.fromEntries(
      plan.markers
        .filter((m) => m.lastModified.getTime() > listedMs - LOOKBACK_MS)
        .map((m) => [m.key, m.lastModified.toISOString()]),
    ),
  }
  const hours = new Set(inside.map((m) => m.hourStart))
  if (hours.size === 0) {
    const end = iso(currentHourEnd)
    return { start: end, end, quality: { start: end, end }, token: '', skip: true, partitions: 0, outside }
  }
  let startMs = Math.min(...hours)
  const judgedUntil = plan.checkpoint ? Date.parse(plan.checkpoint.judged_until) : Number.NaN
  if (judgedUntil >= boundStart) startMs = Math.min(startMs, floorTo(judgedUntil, HOUR_MS))
  const endMs = Math.max(Math.max(...hours) + HOUR_MS, Math.ceil(qualityEnd / HOUR_MS) * HOUR_MS)
  const start = iso(startMs)
  const end = iso(endMs)
  const rerun = plan.rerun ? `-r${plan.rerun}` : ''
  // Duplicate firings of one schedule (same minute) share the token, and so the EMR job run; a
  // later plan over the same window is new work and gets its own.
  const planned = `-p${iso(nowMs).slice(11, 16).replace(':', '')}`
  return {
    start,
    end,
    quality: { start: iso(Math.min(startMs, qualityEnd - HOUR_MS)), end: iso(qualityEnd) },
    token: `lake-${compact(start)}-${compact(end)}${planned}${rerun}`,
    skip: false,
    checkpoint,
    partitions: inside.length,
    outside,
  }
}
