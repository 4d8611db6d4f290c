/**
 * What the benchmarks share: the statistics they report, the pipeline run with its schedule
 * window, and `--help` (each file's own header comment), so a benchmark can be checked to load
 * without running it.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type RunOptions, runPipeline } from '../local/run.ts'

/** The middle value (the upper one of an even count): noise moves a median least. */
export const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number

/** The nearest-rank percentile `p` (0-100); NaN without values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

/**
 * `make run`'s pipeline, headless, for `minutes`, with when its schedules began and stopped
 * (from the runtime's own progress lines): the window a benchmark measures in. `log` sees every
 * progress line.
 */
export async function runMeasuredPipeline(
  options: Pick<RunOptions, 'profile' | 'onStatus'> & { minutes: number; log?: (line: string) => void },
) {
  let runningAt: number | undefined
  let stoppedAt: number | undefined
  const { report, exitCode } = await runPipeline({
    profile: options.profile,
    stage: 'dev',
    durationMs: options.minutes * 60_000,
    fresh: false,
    lakeEveryMs: 0,
    dashboard: false,
    onStatus: options.onStatus,
    log: (line) => {
      if (line.startsWith('running')) runningAt ??= Date.now()
      if (line.startsWith('stopping (')) stoppedAt ??= Date.now()
      options.log?.(line)
    },
  })
  return { report, exitCode, runningAt, stoppedAt }
}

/**
 * Runs a benchmark's `main`, unless `--help` asks for its header comment (what it measures and
 * how to run it), printed without starting anything.
 */
export async function benchMain(moduleUrl: string, main: () => Promise<void>): Promise<void> {
  if (process.argv.includes('--help')) {
    const text = readFileSync(fileURLToPath(moduleUrl), 'utf8')
    const header = /^\/\*\*\n([\s\S]*?)\n \*\//.exec(text)?.[1] ?? ''
    process.stdout.write(`${header.replace(/^ \*( |$)/gm, '')}\n`)
    return
  }
  await main()
}
