/**
 * `make lake-refresh WINDOW=start/end`: the real lake-refresh state machine over one window,
 * locally on the local runtime (local/lake/step-functions.ts: lake-window, local Spark for the EMR
 * jobs) against a profile's lake, or with `--stage` the deployed one, started and followed
 * through its execution history (local/lake/deployed-execution.ts).
 *
 *   tsx local/lake/refresh-cli.ts --window 2026-11-30T00:00:00Z/2026-12-01T00:00:00Z
 */
import { Command, InvalidArgumentError } from 'commander'
import { profileOption } from '../profile-option.ts'
import type { Profile } from '../services/index.ts'
import { startAndFollow } from './deployed-execution.ts'
import { createLakeRunner } from './runner.ts'

/** `start/end` (ISO-8601 each) -> the state machine's window; lake-window checks the rest. */
export function parseWindow(text: string): { start: string; end: string } {
  const [start = '', end = '', ...rest] = text.split('/')
  const iso = (value: string) => /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value))
  if (rest.length > 0 || !iso(start) || !iso(end))
    throw new InvalidArgumentError('expected start/end, e.g. 2026-11-30T00:00:00Z/2026-12-01T00:00:00Z.')
  return { start, end }
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('lake-refresh')
    .description(
      'Run the lake-refresh state machine over one window (raw zone -> Iceberg MERGE -> gold -> quality).\n' +
        'Locally: the real definition on the local runtime and local Spark. With --stage: the deployed state machine.',
    )
    .requiredOption('--window <start/end>', 'the event-time window, at most 7 days', parseWindow)
    .option('--rerun <n>', 'force new EMR job runs for a window that already ran', (v) => Number(v))
    .option(
      '--stage <stage>',
      'start the deployed state machine of this stage (AWS credentials from the usual chain)',
    )
    .addOption(profileOption('local lake: run (make run), test or chaos'))
    .showHelpAfterError()
    .parse(argv)
  const opts = program.opts<{
    window: { start: string; end: string }
    rerun?: number
    stage?: string
    profile: Profile
  }>()
  const input = { window: opts.window, ...(opts.rerun ? { rerun: opts.rerun } : {}) }
  const log = (line: string) =>
    process.stderr.write(`[lake-refresh ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
  if (opts.stage) {
    const name = `crypto-data-lake-${opts.stage}-lake-refresh`
    log(`starting ${name} with ${JSON.stringify(input)}`)
    const finished = await startAndFollow(name, input, {
      onEvent: (event) => {
        if (event.type.endsWith('StateEntered') && event.state) log(`${event.state}...`)
      },
    })
    log(
      `${finished.status}: ${finished.executionArn}${finished.error ? ` ${finished.error}: ${finished.cause}` : ''}`,
    )
    return finished.status === 'SUCCEEDED' ? 0 : 1
  }
  const result = await createLakeRunner(opts.profile, log).run('lake-refresh', input)
  return result.status === 'SUCCEEDED' ? 0 : 1
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`lake-refresh: ${error.message}\n`)
      process.exit(1)
    },
  )
}
