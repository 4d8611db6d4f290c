/**
 * The window of a lake-refresh execution. ASL (JSONPath) has no date arithmetic, so the default
 * window ("the previous full hour") and the rule "start < end, at most 7 days" live here, in the
 * state machine's first Task; everything after it receives a resolved, valid window.
 */
import { z } from 'zod'

export const MAX_WINDOW_MS = 7 * 24 * 3600 * 1000
const HOUR_MS = 3600 * 1000

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
    /** `$$.Execution.StartTime`: anchors the default window. */
    now: Instant,
  })
  .strict()
export type LakeWindowInput = z.infer<typeof LakeWindowInputSchema>

export interface ResolvedWindow {
  start: string
  end: string
  /** `[A-Za-z0-9._-]`, at most 54 characters: room for a suffix within EMR's 64. */
  token: string
}

/** Thrown for an input that names no valid window; the state machine catches it by name. */
export class InvalidWindow extends Error {
  override name = 'InvalidWindow'
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
const compact = (isoText: string) => isoText.replace(/[-:]/g, '').replace(/00Z$/, 'Z')

export function resolveWindow(raw: unknown): ResolvedWindow {
  const parsed = LakeWindowInputSchema.safeParse(raw)
  if (!parsed.success) {
    throw new InvalidWindow(
      `expected {"window":{"start":ISO,"end":ISO}} (optional): ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    )
  }
  const { input, now } = parsed.data
  let startMs: number
  let endMs: number
  if (input.window) {
    startMs = Date.parse(input.window.start)
    endMs = Date.parse(input.window.end)
    if (!(startMs < endMs)) {
      throw new InvalidWindow(`window start ${input.window.start} must be before end ${input.window.end}`)
    }
    if (endMs - startMs > MAX_WINDOW_MS) {
      throw new InvalidWindow(`window ${input.window.start} .. ${input.window.end} is longer than 7 days`)
    }
    if (startMs % 1000 !== 0 || endMs % 1000 !== 0) {
      throw new InvalidWindow('window bounds must be whole seconds')
    }
  } else {
    endMs = Math.floor(Date.parse(now) / HOUR_MS) * HOUR_MS
    startMs = endMs - HOUR_MS
  }
  const start = iso(startMs)
  const end = iso(endMs)
  const rerun = input.rerun ? `-r${input.rerun}` : ''
  return { start, end, token: `lake-${compact(start)}-${compact(end)}${rerun}` }
}
