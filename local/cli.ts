/**
 * The local runtime's command line: `make run` calls `run`. Progress goes to stderr, one line
 * per step, so a user always sees what is happening and can pipe the rest.
 */
import { resolve } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { profileOption } from './profile-option.ts'
import { createStatusLine } from './report/status-line.ts'
import { storeSummary } from './report/store.ts'
import { runPipeline } from './run.ts'
import type { Profile } from './services/index.ts'

const UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const

/** `90s`, `5m`, `1h`, `1500ms` (or `0`) -> milliseconds. */
export function parseDuration(text: string): number {
  if (text.trim() === '0') return 0
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim())
  if (!match) throw new InvalidArgumentError('expected a duration such as 90s, 5m or 1h.')
  return Number(match[1]) * UNITS_MS[match[2] as keyof typeof UNITS_MS]
}

/** Progress lines go above the live status line (stderr: stdout holds the functions' output). */
const statusLine = createStatusLine(process.stderr)

function log(line: string): void {
  const time = new Date().toISOString().slice(11, 19)
  statusLine.log(`[run ${time}] ${line}`)
}

function parsePort(text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new InvalidArgumentError('expected a TCP port (0 = any free one).')
  return port
}

const program = new Command()
  .name('crypto-lake')
  .description(
    'Run the crypto data lake locally: real Kafka, OpenSearch, the functions, schedules and event sources.',
  )
  .showHelpAfterError()

program
  .command('run', { isDefault: true })
  .description('run the whole pipeline until Ctrl-C, or headless for --duration')
  .option(
    '--duration <duration>',
    'stop after this long (90s, 5m, 1h) and exit non-zero if anything was lost',
    parseDuration,
  )
  .option('--report <path>', 'write the accounting report (JSON) here')
  .option(
    '--fresh',
    'start from empty state: topics, indices, raw zone, watermarks (downloads are kept)',
    false,
  )
  .option('--stage <stage>', 'the serverless stage whose packaged service is run', 'dev')
  .addOption(
    new Option(
      '--lake-every <duration>',
      'let an hour of the lake-refresh schedule (cron, 7 past) last this long, same phase (0 = real time); it fires once more at the end either way',
    )
      .argParser(parseDuration)
      .default(120_000, '2m'),
  )
  .option('--no-dashboard', 'do not serve the local dashboard page')
  .addOption(
    new Option('--dashboard-port <port>', 'port of the local dashboard page (taken: any free one)')
      .argParser(parsePort)
      .default(8_420),
  )
  .option('--no-status', 'no live status line (progress lines only)')
  .addOption(profileOption('local environment: run (make run), test or chaos (make chaos)'))
  .action(
    async (opts: {
      duration?: number
      report?: string
      fresh: boolean
      stage: string
      profile: Profile
      lakeEvery: number
      dashboard: boolean
      dashboardPort: number
      status: boolean
    }) => {
      const { report, exitCode } = await runPipeline({
        profile: opts.profile,
        stage: opts.stage,
        durationMs: opts.duration,
        reportPath: opts.report ? resolve(opts.report) : undefined,
        fresh: opts.fresh,
        lakeEveryMs: opts.lakeEvery,
        dashboard: opts.dashboard ? { port: opts.dashboardPort } : false,
        onStatus: opts.status ? (status) => statusLine.update(status) : undefined,
        log,
      })
      statusLine.done()
      for (const [topic, counts] of Object.entries(report.topics)) {
        log(
          `${topic}: produced ${counts.produced} (records ${counts.records}, revisions ${counts.revisions ?? 0}), rejected ${counts.rejected}`,
        )
      }
      for (const [index, counts] of Object.entries(report.opensearch)) {
        log(
          `opensearch ${index}: ${counts.documents} documents, lost ${counts.lost}, duplicates ${counts.duplicates}, stale ${counts.stale}`,
        )
      }
      for (const [topic, counts] of Object.entries(report.raw)) {
        log(
          `raw ${topic}: ${counts.records} records in ${counts.objects} objects, lost ${counts.lost}, duplicates ${counts.duplicates}`,
        )
      }
      const lake = report.lake as Record<string, { rows?: number }> | undefined
      if (lake) {
        const tables = Object.entries(lake).filter(([name]) => name !== 'topics')
        log(`lake: ${tables.map(([name, counts]) => `${name} ${counts.rows} rows`).join(', ')}`)
      }
      log(`quarantined ${report.quarantined.total} ${JSON.stringify(report.quarantined.by_reason)}`)
      log(`run: lost ${report.lost}, duplicates ${report.duplicates}, stale ${report.stale}`)
      for (const line of storeSummary(report.store)) log(line)
      const store = report.store
      log(
        `lost ${report.lost + (store?.lost ?? 0)}, duplicates ${report.duplicates + (store?.duplicates ?? 0)}, stale ${report.stale + (store?.stale ?? 0)} (run + store): ${exitCode === 0 ? 'OK' : 'FAILED'}`,
      )
      // Done: the functions' module-level clients (Kafka producers, as in a warm Lambda container)
      // would keep the event loop alive against services that stay up.
      process.exit(exitCode)
    },
  )

try {
  await program.parseAsync()
} catch (error) {
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  statusLine.done()
  // As after a report: open event sources and the functions' clients would keep the process alive
  // (and in the consumer groups, taking partitions from the next run).
  process.exit(1)
}
