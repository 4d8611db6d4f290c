/**
 * Lake faults: state machines started over each other after a run, as a console rerun or a long
 * refresh would on AWS. The lake is read back for these scenarios' events.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ResolvedWindow } from '../../functions/lake-window/core.ts'
import type { RunResult } from '../lake/step-functions.ts'
import { stopWhenDrained } from './runtime.ts'
import { DRAIN_TIMEOUT_MS, running, type Scenario } from './scenario-kit.ts'

/** The run, when it succeeded; otherwise an error naming `what` and why. */
function succeeded(result: RunResult, what: string): RunResult {
  if (result.status !== 'SUCCEEDED')
    throw new Error(`${what}: ${result.status}: ${result.error?.name}: ${result.error?.message}`)
  return result
}

/** What lake-window planned or validated for the run (ResolveWindow's `$.window`). */
const windowOf = (result: RunResult) => (result.output as { window: ResolvedWindow }).window

/**
 * A rerun of a window while the schedule fires again: after a run, the scheduled refresh; then,
 * at once, the window it judged rerun twice (the same input: a console start done twice shares
 * the EMR job runs) and the schedule's next firing. The lake is read back: each event once, at
 * its newest revision.
 */
export const lakeRefreshRerun: Scenario = {
  name: 'lake-refresh-rerun',
  description:
    'after a run: the scheduled lake-refresh, then its window rerun twice at once while the schedule fires again',
  lake: true,
  async run(ctx) {
    const runtime = await running(ctx)
    await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
    const scheduled = windowOf(succeeded(await ctx.lake('lake-refresh', {}), 'the scheduled lake-refresh'))
    if (scheduled.skip) throw new Error('the scheduled lake-refresh found nothing new after a run')
    // What the scheduled run judged: the closed minutes of its window (a rerun judges all of it).
    const window = { start: scheduled.start, end: scheduled.quality.end }
    ctx.log(`rerunning ${window.start} .. ${window.end} twice while the schedule fires again`)
    ctx.injected()
    const results = await Promise.all([
      ctx.lake('lake-refresh', { window, rerun: 1 }),
      ctx.lake('lake-refresh', { window, rerun: 1 }),
      ctx.lake('lake-refresh', {}),
    ])
    results.forEach((result, i) => {
      succeeded(result, ['the first rerun', 'the second rerun', 'the second scheduled firing'][i] ?? '')
    })
    ctx.log(`states: ${results.map((result) => result.states.join(' > ')).join(' | ')}`)
    ctx.lifted()
  },
}

/**
 * Daily maintenance (compaction, snapshot expiry) started while a refresh merges: on AWS they
 * are scheduled apart, but a long refresh or a manual start overlaps them on the same tables.
 */
export const lakeMaintenanceDuringRefresh: Scenario = {
  name: 'lake-maintenance-during-refresh',
  description: 'after a run: lake-maintenance started while the scheduled lake-refresh runs its Spark jobs',
  lake: true,
  async run(ctx) {
    const runtime = await running(ctx)
    await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
    const refresh = ctx.lake('lake-refresh', {})
    // The refresh has planned and submitted its MERGE job (planning takes a second or two).
    await sleep(MAINTENANCE_AFTER_MS)
    ctx.injected()
    const maintenance = ctx.lake('lake-maintenance', {})
    const [refreshed, maintained] = await Promise.all([refresh, maintenance])
    succeeded(refreshed, 'the lake-refresh')
    succeeded(maintained, 'the lake-maintenance')
    ctx.log(`refresh: ${refreshed.states.join(' > ')}; maintenance: ${maintained.states.join(' > ')}`)
    ctx.lifted()
  },
}

/** Into the refresh's first Spark job: past its JVM start, before its commit. */
const MAINTENANCE_AFTER_MS = 20_000
