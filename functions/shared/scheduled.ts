/**
 * The run of a scheduled Lambda (EventBridge on AWS; locally the scheduler sends the same
 * event): which minute it stands for, how long it may take, and how it reports.
 */
import * as z from 'zod'
import { logger } from './observability.ts'

/** The EventBridge scheduled event; only `time` is used. */
const ScheduledEvent = z.looseObject({ time: z.iso.datetime({ offset: true }).optional() })

export interface LambdaContextLike {
  getRemainingTimeInMillis(): number
}

export interface ScheduledInput {
  /** The event's `time`: a late or retried invocation still works on the minute it was scheduled for. */
  scheduledAt: Date
  /** Epoch ms by which the work must be done. */
  deadline: number
}

/**
 * The handler's `run`: `work` gets the scheduled time (the clock, with a warning, when the event
 * has none) and a deadline `marginMs` before the Lambda timeout, kept for what comes after it
 * (quarantine, producing, flushing metrics). The summary is logged as `done`; a failure is
 * logged with the partial summary it may carry, then rethrown so the invocation counts as an error.
 */
export function scheduledRun<S extends object>(
  stage: string,
  options: { marginMs: number; done: string },
  work: (input: ScheduledInput) => Promise<S>,
): (event: unknown, context: LambdaContextLike) => Promise<S> {
  return async (event, context) => {
    const startedAt = Date.now()
    const deadline = startedAt + context.getRemainingTimeInMillis() - options.marginMs
    const parsed = ScheduledEvent.safeParse(event)
    const time = parsed.success ? parsed.data.time : undefined
    if (time === undefined) logger.warn('no scheduled time in the event: using the clock', { event })
    const scheduledAt = time === undefined ? new Date(startedAt) : new Date(time)
    const summary = await work({ scheduledAt, deadline }).catch((error: unknown) => {
      logger.error(`${stage} failed`, { error, summary: (error as { summary?: unknown }).summary })
      throw error
    })
    logger.info(options.done, { ...summary } as Record<string, unknown>)
    return summary
  }
}

/** An API client's `onRetry`: each retry is a warning with the error's message. */
export const logRetry =
  (message: string) =>
  ({ error, attempt, delayMs }: { error: unknown; attempt: number; delayMs: number }) =>
    logger.warn(message, { attempt, delayMs, error: error instanceof Error ? error.message : String(error) })
