/**
 * `make backfill`: the backfill-bars state machine (state-machines/backfill-bars.asl.yml) with a
 * progress bar, either on the local runtime (the real definition and function, real Kafka and
 * OpenSearch of a profile, the bars' event sources so index-events and land-raw consume what it
 * produces, the Alpaca simulator or ALPACA_DATA_URL, then the real lake-refresh on local Spark),
 * or, with `--stage`, the deployed state machine followed through its execution history.
 *
 *   tsx local/backfill.ts --symbols BTC/USD,ETH/USD --start 2026-11-23T00:00:00Z --end 2026-11-30T00:00:00Z
 */
import { join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import type { BackfillPlan } from '../functions/backfill-bars/core.ts'
import { TOPICS } from '../functions/shared/contracts.ts'
import { startAndFollow } from './lake/deployed-execution.ts'
import { localLake, type RunResult, runStateMachine } from './lake/step-functions.ts'
import { profileOption } from './profile-option.ts'
import { progressLog } from './progress-log.ts'
import { captureFunctionOutput, localPaths, readOrCreateKey } from './run.ts'
import { loadPackagedFunction, localStandIns } from './runtime/environment.ts'
import { drainEventSources, type EventSource, startMappedEventSource } from './runtime/event-source.ts'
import { provisionLocalSinks } from './runtime/local-sinks.ts'
import { eventSourceMappings, packageService } from './runtime/template.ts'
import { type Profile, projectRoot, startServices } from './services/index.ts'
import { alpacaUpstream } from './simulators/upstream.ts'

export const STATE_MACHINE = 'backfill-bars'

/** Chunks done out of the plan, bars emitted and their rate: the same figures locally and from AWS. */
export interface BackfillProgress {
  total?: number
  done: number
  skipped: number
  bars: number
  startedAt: number
}

/**
 * Folds the outputs of the backfill's states into its progress: the plan (`Plan`, raw or under
 * `plan` after its ResultPath) gives the total, each `Chunk` a chunk done and its bars.
 */
export function progressOf(clock: () => number = Date.now) {
  const progress: BackfillProgress = { done: 0, skipped: 0, bars: 0, startedAt: clock() }
  return {
    progress,
    observe(state: string, output: unknown) {
      if (state === 'Plan') {
        const plan = ((output as { plan?: BackfillPlan }).plan ?? output) as BackfillPlan
        if (Array.isArray(plan?.chunks)) progress.total = plan.chunks.length
        // The rate counts from the plan: services, packaging and cold starts are not the backfill's.
        progress.startedAt = clock()
      }
      if (state === 'Chunk') {
        const chunk = output as { status?: string; emitted?: number }
        progress.done++
        if (chunk.status === 'skipped') progress.skipped++
        else progress.bars += chunk.emitted ?? 0
      }
    },
    /** `[#######.............] chunks 7/20 (2 skipped done before) | 20,160 bars | 3,051 bars/s | 6.6 s` */
    line(now: number = clock()): string {
      const seconds = Math.max(0.001, (now - progress.startedAt) / 1000)
      const total = progress.total
      const width = 20
      const filled = total ? Math.round((progress.done / total) * width) : 0
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
      const skipped = progress.skipped > 0 ? ` (${progress.skipped} skipped: done before)` : ''
      return `${bar} chunks ${progress.done}/${total ?? '?'}${skipped} | ${progress.bars.toLocaleString('en-US')} bars | ${Math.round(progress.bars / seconds).toLocaleString('en-US')} bars/s | ${seconds.toFixed(1)} s`
    },
  }
}

export interface LocalBackfillOptions {
  profile: Profile
  stage?: string
  /** Alpaca base URL; default ALPACA_DATA_URL, else the bundled simulator. */
  alpacaUrl?: string
  /**
   * Run the bars' event sources (index-events, land-raw) while the backfill runs, as `make run`
   * does; without them nothing lands, so the input must say `"refreshLake": false`.
   */
  eventSources?: boolean
  /** Retry waits of the top-level states (AwaitLanded waits for land-raw's batch window). */
  retryDelayMs?: number
  signal?: AbortSignal
  onTaskOutput?: (state: string, output: unknown) => void
  log: (line: string) => void
}

/** The local backfill: services, topics, search templates, simulator, event sources, then the state machine. */
export async function runLocalBackfill(
  input: Record<string, unknown>,
  options: LocalBackfillOptions,
): Promise<RunResult> {
  const { log } = options
  const paths = localPaths(options.profile)
  const stage = options.stage ?? 'dev'
  const services = await startServices(options.profile, { log })
  const cleanups: Array<() => Promise<unknown> | unknown> = [() => services.stop()]
  try {
    // The indices a backfill creates (old months too) follow the same templates as the live ones.
    const { kafka } = await provisionLocalSinks(services, log)
    const alpacaUrl = await alpacaUpstream(cleanups, log, options.alpacaUrl)
    const standIns = {
      ...localStandIns(services, paths, readOrCreateKey(paths.piiKey)),
      ALPACA_DATA_URL: alpacaUrl,
    }
    // The state machine's tasks load their functions from this process's environment (step-functions.ts).
    Object.assign(process.env, standIns)
    const restoreStdout = captureFunctionOutput(paths.functionLog)
    cleanups.push(restoreStdout)
    log(`function logs and metrics: ${paths.functionLog}`)

    const sources: Array<{ name: string; source: EventSource }> = []
    if (options.eventSources ?? true) {
      const template = await packageService(projectRoot, join(paths.packageDir, stage), stage, log)
      for (const mapping of eventSourceMappings(template).filter((m) => m.topics.includes(TOPICS.bars))) {
        const target = await loadPackagedFunction(template, mapping.functionName, standIns, projectRoot)
        // The groups of `make run`: what one consumed, the other does not consume again.
        const source: EventSource = await startMappedEventSource(mapping, {
          kafka,
          invoke: (event) => target.invoke(event) as Promise<never>,
          onFailure: async (records, reason) => {
            throw new Error(`${mapping.functionName}: ${records.length} records failed for good (${reason})`)
          },
          log: (line) => log(`${mapping.functionName}: ${line}`),
        })
        cleanups.push(() => source.stop())
        sources.push({ name: mapping.functionName, source })
        log(`event source: ${mapping.functionName} on ${mapping.topics.join(',')}`)
      }
    }
    const result = await runStateMachine(STATE_MACHINE, input as never, localLake(options.profile), {
      retryDelayMs: options.retryDelayMs ?? 20_000,
      onTaskOutput: options.onTaskOutput,
      signal: options.signal,
    })
    if (result.status === 'SUCCEEDED') await drained(sources, log)
    return result
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
  }
}

/**
 * Waits until index-events and land-raw have consumed everything on their topics, as the deployed
 * event source mappings go on doing after an execution ends: without the lake refresh (whose
 * AwaitLanded already waits for land-raw) the command would otherwise exit with bars not yet
 * indexed, left for the next local run to consume.
 */
const DRAIN_LIMIT_MS = 10 * 60_000

async function drained(sources: Array<{ name: string; source: EventSource }>, log: (line: string) => void) {
  // Bounded: a function that keeps failing leaves its records to the next run, said, not hung on.
  const behind = await drainEventSources(sources, {
    limitMs: DRAIN_LIMIT_MS,
    pollMs: 2_000,
    onBehind: (lagging) =>
      log(
        `waiting for the event sources: ${lagging.map(({ name, lag }) => `${name} ${lag} records behind`).join(', ')}`,
      ),
  })
  if (behind.length > 0)
    log(
      `event sources still behind after ${DRAIN_LIMIT_MS / 60_000} min: the next local run consumes the rest`,
    )
}

/** The deployed state machine of `stage`, followed to its end with the same progress. */
export async function runDeployedBackfill(
  input: Record<string, unknown>,
  stage: string,
  onStateOutput: (state: string, output: unknown) => void,
) {
  return startAndFollow(`crypto-data-lake-${stage}-${STATE_MACHINE}`, input, {
    onEvent: (event) => {
      if (event.type.endsWith('StateExited') && event.state) onStateOutput(event.state, event.output)
    },
  })
}

const isoInstant = (text: string) => {
  if (Number.isNaN(Date.parse(text)) || !/^\d{4}-\d{2}-\d{2}T/.test(text))
    throw new InvalidArgumentError('expected an ISO-8601 time such as 2026-11-23T00:00:00Z.')
  return text
}

interface BackfillCliOptions {
  symbols?: string
  start?: string
  end?: string
  chunkMinutes?: number
  refreshLake: boolean
  lakeOnlyBefore?: string
  stage?: string
  profile: Profile
}

function backfillCommand(): Command {
  return new Command()
    .name('backfill')
    .description(
      'Load a past window of 1-minute Alpaca bars into crypto.bars, the index and the lake (the backfill-bars state machine).\n' +
        'Locally: the real definition on the local runtime against the simulator (or ALPACA_DATA_URL), then lake-refresh on local Spark.\n' +
        'With --stage: starts the deployed state machine and follows its execution. Done chunks are never fetched again.',
    )
    .option(
      '--symbols <list>',
      'comma-separated pairs (default: the live poller SYMBOLS, BTC/USD,LTC/USD locally)',
    )
    .option('--start <iso>', 'first minute (default: end minus 7 days)', isoInstant)
    .option('--end <iso>', 'exclusive end (default: the start of the current hour)', isoInstant)
    .option('--chunk-minutes <n>', 'minutes per chunk (default: whole hours near 30,000 bars)', (v) => {
      const n = Number(v)
      if (!Number.isInteger(n) || n < 1 || n > 1440) throw new InvalidArgumentError('expected 1..1440.')
      return n
    })
    .option(
      '--no-refresh-lake',
      'stop after loading Kafka (and, through the event sources, the index and the raw zone)',
    )
    .option(
      '--lake-only-before <iso>',
      'bars before this instant go to the raw zone and the lake only, not to the search index',
      isoInstant,
    )
    .option(
      '--stage <stage>',
      'start the deployed state machine of this stage instead (AWS credentials from the usual chain)',
    )
    .addOption(profileOption('local environment: run (make run), test or chaos'))
    .showHelpAfterError()
}

/** The state machine's input: only what the command line says, the definition's defaults otherwise. */
function backfillInput(opts: BackfillCliOptions): Record<string, unknown> {
  return {
    ...(opts.symbols
      ? {
          symbols: opts.symbols
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }
      : {}),
    ...(opts.start ? { start: opts.start } : {}),
    ...(opts.end ? { end: opts.end } : {}),
    ...(opts.chunkMinutes ? { chunkMinutes: opts.chunkMinutes } : {}),
    ...(opts.refreshLake ? {} : { refreshLake: false }),
    ...(opts.lakeOnlyBefore ? { lakeOnlyBefore: opts.lakeOnlyBefore } : {}),
  }
}

/**
 * The progress bar on stderr: redrawn in place on a terminal, a new line per change otherwise;
 * a log line first ends a bar drawn in place.
 */
function progressDisplay(log: (line: string) => void) {
  const tracker = progressOf()
  const tty = process.stderr.isTTY
  let shown = ''
  const show = () => {
    const line = tracker.line()
    if (tty) process.stderr.write(`\r${line}\x1b[K`)
    else if (line !== shown) process.stderr.write(`${line}\n`)
    shown = line
  }
  return {
    tracker,
    onOutput(state: string, output: unknown) {
      tracker.observe(state, output)
      if (state === 'Plan' || state === 'Chunk') show()
      else if (tty) process.stderr.write('\n')
      if (state === 'AwaitLanded')
        log('every hour produced has landed; lake-refresh now, one 7-day window at a time')
      if (state === 'RefreshWindow') log('lake-refresh of one window done')
    },
    log(line: string) {
      if (tty && shown) process.stderr.write('\n')
      log(line)
    },
    /** Ends the bar's line on a terminal. */
    end() {
      if (tty) process.stderr.write('\n')
    },
  }
}

async function main(argv: string[]) {
  const opts = backfillCommand().parse(argv).opts<BackfillCliOptions>()
  const input = backfillInput(opts)
  const log = progressLog('backfill')
  const display = progressDisplay(log)
  log(`input ${JSON.stringify(input)}`)
  if (opts.stage) {
    const finished = await runDeployedBackfill(input, opts.stage, display.onOutput)
    display.end()
    log(
      `${finished.status}: ${finished.executionArn}${finished.error ? ` ${finished.error}: ${finished.cause}` : ''}`,
    )
    return finished.status === 'SUCCEEDED' ? 0 : 1
  }
  const abort = new AbortController()
  process.once('SIGINT', () => {
    log('SIGINT: stopping; the chunks done so far are kept, the same command resumes after them')
    abort.abort()
  })
  const result = await runLocalBackfill(input, {
    profile: opts.profile,
    log: display.log,
    onTaskOutput: display.onOutput,
    signal: abort.signal,
  })
  display.end()
  log(
    result.status === 'SUCCEEDED'
      ? `succeeded: ${display.tracker.line()}`
      : `FAILED: ${result.error?.name}: ${result.error?.message} (states ${result.states.join(' > ')})`,
  )
  return result.status === 'SUCCEEDED' ? 0 : 1
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`backfill: ${error.message}\n`)
      process.exit(1)
    },
  )
}
