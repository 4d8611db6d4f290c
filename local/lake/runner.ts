/**
 * The lake side of `make run`: the real state-machine definitions, run one at a time (the local
 * Spark has two cores to share), with the input their schedules give them.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Profile } from '../services/index.ts'
import { projectRoot } from '../services/index.ts'
import { type LocalLake, localLake, type RunResult, runStateMachine } from './step-functions.ts'

/** `LakeRefreshStateMachine` -> `lake-refresh`, when `state-machines/lake-refresh.asl.yml` exists. */
export function stateMachineName(logicalId: string): string | undefined {
  const base = logicalId.replace(/(StepFunctions)?StateMachine$/, '')
  const name = base.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()
  return existsSync(join(projectRoot, 'state-machines', `${name}.asl.yml`)) ? name : undefined
}

export interface LakeRunner {
  run(name: string, input: Record<string, unknown>): Promise<RunResult>
  runs: Array<{ name: string; input: unknown; status: string; error?: string; seconds: number }>
}

export function createLakeRunner(
  profile: Profile,
  log: (line: string) => void,
  overrides: Partial<LocalLake> = {},
): LakeRunner {
  const lake = localLake(profile, overrides)
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
        const window = (
          result.output as { window?: { start?: string; end?: string; skip?: boolean } } | undefined
        )?.window
        const planned = window && !window.skip ? ` window ${window.start} .. ${window.end}` : ''
        log(
          result.status === 'SUCCEEDED'
            ? `${name}: succeeded in ${seconds} s${planned} (${result.states.join(' > ')})`
            : `${name}: FAILED in ${seconds} s: ${result.error?.name}: ${result.error?.message}`,
        )
        return result
      })
      queue = next.catch(() => undefined)
      return next
    },
  }
}
