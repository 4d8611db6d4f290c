/**
 * The lake side of `make run`: the real state-machine definitions, run one at a time (the local
 * Spark has two cores to share), with the windows a short local run needs.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Profile } from './services/index.ts'
import { projectRoot } from './services/index.ts'
import { localLake, type RunResult, runStateMachine } from './step-functions.ts'

const HOUR = 3_600_000
const MINUTE = 60_000
const MAX_WINDOW = 7 * 24 * HOUR

/** `LakeRefreshStateMachine` -> `lake-refresh`, when `state-machines/lake-refresh.asl.yml` exists. */
export function stateMachineName(logicalId: string): string | undefined {
  const base = logicalId.replace(/(StepFunctions)?StateMachine$/, '')
  const name = base.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()
  return existsSync(join(projectRoot, 'state-machines', `${name}.asl.yml`)) ? name : undefined
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

/**
 * The window of a compressed local refresh: from the start of the previous hour to the end of
 * the current minute, so each refresh of a short run already holds what was just produced.
 */
export function recentWindow(now: number) {
  return {
    start: iso(Math.floor(now / HOUR) * HOUR - HOUR),
    end: iso(Math.floor(now / MINUTE) * MINUTE + MINUTE),
  }
}

/** The smallest whole-minute window holding every given event time (at most the 7 days the state machine accepts). */
export function windowCovering(eventTimes: string[]) {
  if (eventTimes.length === 0) return undefined
  const times = eventTimes.map((time) => Date.parse(time))
  const end = Math.floor(Math.max(...times) / MINUTE) * MINUTE + MINUTE
  const start = Math.max(Math.floor(Math.min(...times) / MINUTE) * MINUTE, end - MAX_WINDOW)
  return { start: iso(start), end: iso(end) }
}

export interface LakeRunner {
  run(name: string, input: Record<string, unknown>): Promise<RunResult>
  runs: Array<{ name: string; input: unknown; status: string; error?: string; seconds: number }>
}

export function createLakeRunner(profile: Profile, log: (line: string) => void): LakeRunner {
  const lake = localLake(profile)
  let queue: Promise<unknown> = Promise.resolve()
  const runs: LakeRunner['runs'] = []
  return {
    runs,
    run(name, input) {
      const next = queue.then(async () => {
        const started = Date.now()
        log(`${name}: started ${JSON.stringify(input)}`)
        const result = await runStateMachine(name, input as never, lake, { retryDelayMs: 2_000 })
        const seconds = Math.round((Date.now() - started) / 100) / 10
        runs.push({ name, input, status: result.status, error: result.error?.message, seconds })
        log(
          result.status === 'SUCCEEDED'
            ? `${name}: succeeded in ${seconds} s (${result.states.join(' > ')})`
            : `${name}: FAILED in ${seconds} s: ${result.error?.name}: ${result.error?.message}`,
        )
        return result
      })
      queue = next.catch(() => undefined)
      return next
    },
  }
}
