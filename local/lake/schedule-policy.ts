/**
 * When the local lake jobs run: the one policy `make run` applies to the schedules of the
 * packaged template. The functions' schedules catch up at start (the daily asset refresh is due
 * when the machine was off); the lake's state machines keep to their schedule, lake-refresh's
 * compressed by `--lake-every` with the same phase, and lake-refresh fires once more at the end,
 * after the event sources have drained, with its rule's own input: no hand-picked window, so the
 * lake holds what a scheduled run on AWS would pick up, and the report accounts for it.
 */
import type { Schedule } from '../runtime/schedules.ts'
import { stateMachineName } from './runner.ts'

export interface LakeSchedulePolicy {
  /** Whether a schedule that missed a firing while the machine was off fires at start. */
  catchUp(schedule: Schedule): boolean
  /** How many times faster than real time the schedule runs locally. */
  speedup(schedule: Schedule): number
  /** The schedule's line in the run's log. */
  describe(schedule: Schedule): string
  /** The lake-refresh schedule fired at the end of the run; undefined when the template has none (no lake in the report). */
  finalRefresh: Schedule | undefined
}

const isLakeRefresh = (schedule: Schedule) =>
  schedule.target.kind === 'stateMachine' && stateMachineName(schedule.target.logicalId) === 'lake-refresh'

/** The policy for the run's schedules; `lakeEveryMs` is how long an hour of lake-refresh lasts (0 = real time). */
export function lakeSchedulePolicy(schedules: Schedule[], lakeEveryMs: number): LakeSchedulePolicy {
  const compressed = (schedule: Schedule) => lakeEveryMs > 0 && isLakeRefresh(schedule)
  return {
    catchUp: (schedule) => schedule.target.kind === 'function',
    speedup: (schedule) => (compressed(schedule) ? schedule.periodMs / lakeEveryMs : 1),
    describe(schedule) {
      const target = schedule.target.kind === 'function' ? schedule.target.name : schedule.target.logicalId
      const local = compressed(schedule) ? ` (locally every ${lakeEveryMs / 1000} s)` : ''
      return `schedule: ${schedule.expression} -> ${target}${local}`
    },
    finalRefresh: schedules.find(isLakeRefresh),
  }
}
