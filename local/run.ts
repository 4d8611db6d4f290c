/**
 * `make run`: the whole pipeline on one machine. Real Kafka and OpenSearch, the bundled market
 * simulator (or the APIs named by ALPACA_DATA_URL), the schedules and event source mappings of
 * the packaged service, and each function's real handler in the environment the packaged
 * template gives it. Ends — on Ctrl-C or after `--duration` — by draining the event sources,
 * refreshing the lake once more and writing the accounting report (local/run-report.ts).
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { z } from 'zod'
import type { KafkaConnection } from '../functions/shared/adapters/kafka.ts'
import { fileObjectStore } from '../functions/shared/adapters/object-store.ts'
import { SymbolsEnv } from '../functions/shared/config.ts'
import { createPipelineMonitor, observeLakeRuns, type PipelineStatus } from './dashboard/pipeline-status.ts'
import { startDashboard } from './dashboard/server.ts'
import { createLakeRunner, type LakeRunner, stateMachineName } from './lake/runner.ts'
import { type LakeSchedulePolicy, lakeSchedulePolicy } from './lake/schedule-policy.ts'
import { type Report, reportFailed } from './report/report.ts'
import { accountRun, CONTRACT_TOPICS, functionCounts, readTopicsBack, writeReport } from './run-report.ts'
import {
  loadPackagedFunction,
  localFunctionEnvironment,
  localStandIns,
  upstreamStandIns,
} from './runtime/environment.ts'
import { drainEventSources, type EventSource, startMappedEventSource } from './runtime/event-source.ts'
import { endOffsets, type Offsets } from './runtime/kafka-read.ts'
import type { LocalFunction } from './runtime/lambda.ts'
import { localSearchClient, provisionLocalSinks } from './runtime/local-sinks.ts'
import { type LocalPaths, localPaths } from './runtime/paths.ts'
import { fileScheduleState, type Schedule, type Scheduler, startScheduler } from './runtime/schedules.ts'
import { type CfnTemplate, eventSourceMappings, packageService, schedules } from './runtime/template.ts'
import { type Profile, projectRoot, type RunningServices, startServices } from './services/index.ts'

export interface RunOptions {
  profile: Profile
  stage: string
  /** Headless: stop after this long. Without it, run until Ctrl-C. */
  durationMs?: number
  reportPath?: string
  fresh: boolean
  /** How long an hour of the lake-refresh schedule lasts locally (local/lake/schedule-policy.ts); 0 = real time. */
  lakeEveryMs: number
  /** The local dashboard page (port 0 = any free one), or false for none. */
  dashboard: { port: number } | false
  /** Receives a fresh pipeline sample every few seconds (the terminal's status line). */
  onStatus?: (status: PipelineStatus) => void
  log: (line: string) => void
}

const STATUS_EVERY_MS = 3_000

/** EventBridge delivers a scheduled event some seconds after its time; locally, this late. */
export const SCHEDULE_DELIVERY_MS = 2_000

// Where the profile's stand-ins live; exported here too for the commands that run beside make run.
export { localPaths } from './runtime/paths.ts'

/** The profile's PII HMAC key, generated on first use (the Secrets Manager secret's stand-in). */
export function readOrCreateKey(path: string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim()
  mkdirSync(dirname(path), { recursive: true })
  const key = randomBytes(32).toString('hex')
  writeFileSync(path, `${key}\n`, { mode: 0o600 })
  return key
}

/**
 * Function output (Powertools JSON logs and EMF metrics) goes to a file, as CloudWatch Logs would
 * hold it; the terminal keeps the runtime's own progress lines (stderr).
 */
export function captureFunctionOutput(path: string): () => Promise<void> {
  mkdirSync(dirname(path), { recursive: true })
  const file = createWriteStream(path, { flags: 'a' })
  const finished = new Promise<void>((resolve) => file.once('close', () => resolve()))
  const original = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined
    return file.write(chunk, callback)
  }) as typeof process.stdout.write
  let released = false
  // Resolves once every captured line is on disk (make invoke reads them right after).
  return () => {
    if (!released) {
      released = true
      process.stdout.write = original
      file.end()
    }
    return finished
  }
}

function waitForStop(durationMs: number | undefined, log: (line: string) => void): Promise<string> {
  return new Promise((resolve) => {
    const timer =
      durationMs === undefined ? undefined : setTimeout(() => resolve('duration reached'), durationMs)
    const onSignal = (signal: NodeJS.Signals) => {
      log(`${signal}: stopping (draining the event sources; Ctrl-C again to abort)`)
      clearTimeout(timer)
      process.once(signal, () => process.exit(130))
      resolve(signal)
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
}

type Log = (line: string) => void
type Cleanup = () => Promise<void> | void

/** What the run's steps share once the sinks are provisioned and the functions loaded. */
interface Pipeline {
  kafka: KafkaConnection
  search: Client
  template: CfnTemplate
  /** The local values of the template's references (local/runtime/environment.ts). */
  standIns: Record<string, string>
  functions: Map<string, LocalFunction>
  /** The topics' ends when the run started: the run's share of each begins there. */
  startOffsets: Map<string, Offsets>
}

export async function runPipeline(options: RunOptions): Promise<{ report: Report; exitCode: number }> {
  const { log } = options
  const startedAt = new Date()
  const paths = localPaths(options.profile)
  log(`starting services (profile ${options.profile}${options.fresh ? ', fresh state' : ''})...`)
  const services = await startServices(options.profile, { fresh: options.fresh, log: (line) => log(line) })
  const cleanups: Cleanup[] = []
  try {
    const pipeline = await provision(options, services, paths, cleanups)
    const sources = await startEventSources(pipeline, paths, log)
    const scheduled = schedules(pipeline.template)
    const policy = lakeSchedulePolicy(scheduled, options.lakeEveryMs)
    const lakeRunner = createLakeRunner(options.profile, log, {
      // The state machines' Lambda tasks too, each in its packaged environment.
      loadFunction: (name) => loadPackagedFunction(pipeline.template, name, pipeline.standIns, projectRoot),
    })
    const scheduler = startSchedules(scheduled, policy, pipeline.functions, lakeRunner, paths, log)
    const stopLive = await startLiveStatus(options, pipeline, sources, lakeRunner, startedAt, paths)
    cleanups.push(stopLive)
    log(
      options.durationMs === undefined
        ? 'running; Ctrl-C to stop'
        : `running for ${Math.round(options.durationMs / 1000)} s`,
    )
    await stopAndDrain(await waitForStop(options.durationMs, log), scheduler, sources, log)

    log('reading the topics back...')
    const topics = await readTopicsBack(pipeline.kafka, pipeline.startOffsets)
    // The next scheduled refresh, fired early: the event sources are drained, land-raw has flushed.
    if (policy.finalRefresh) await runLakeSchedule(policy.finalRefresh, lakeRunner, log)
    log('reading the sinks back for the report...')
    const report = await accountRun({
      profile: options.profile,
      startedAt,
      services,
      kafka: pipeline.kafka,
      search: pipeline.search,
      rawStore: fileObjectStore(paths.rawBucket),
      stateBucket: paths.stateBucket,
      topics,
      functions: pipeline.functions.values(),
      sources,
      mappings: eventSourceMappings(pipeline.template),
      lakeRuns: lakeRunner.runs,
      lake: policy.finalRefresh !== undefined,
    })
    if (options.reportPath) writeReport(options.reportPath, report, log)
    return { report, exitCode: reportFailed(report) ? 1 : 0 }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
    if (services.startedHere) {
      log('stopping the services this run started (their data stays in .local/)...')
      await services.stop()
    }
  }
}

/**
 * The deploy's work done locally: topics and search templates, the market upstreams, the packaged
 * service, and every function it schedules or maps loaded (cold-started) in its own environment.
 */
async function provision(
  options: RunOptions,
  services: RunningServices,
  paths: LocalPaths,
  cleanups: Cleanup[],
): Promise<Pipeline> {
  const { log } = options
  const { kafka } = await provisionLocalSinks(services, log)
  const search = localSearchClient(services)
  cleanups.push(() => search.close())
  const standIns = {
    ...localStandIns(services, paths, readOrCreateKey(paths.piiKey)),
    ...(await upstreamStandIns(() => true, cleanups, log)),
  }
  const template = await packageService(
    projectRoot,
    join(paths.packageDir, options.stage),
    options.stage,
    log,
  )
  const restoreStdout = captureFunctionOutput(paths.functionLog)
  cleanups.push(restoreStdout)
  log(`function logs and metrics: ${paths.functionLog}`)
  const targets = new Set([
    ...eventSourceMappings(template).map((mapping) => mapping.functionName),
    ...schedules(template).flatMap((schedule) =>
      schedule.target.kind === 'function' ? [schedule.target.name] : [],
    ),
  ])
  const functions = new Map<string, LocalFunction>()
  // One at a time: each cold start needs its own environment in this one process.
  for (const name of targets)
    functions.set(name, await loadPackagedFunction(template, name, standIns, projectRoot))
  const startOffsets = await endOffsets(kafka, CONTRACT_TOPICS)
  return { kafka, search, template, standIns, functions, startOffsets }
}

/** An event source per mapping of the template; a batch that fails for good goes to the on-failure bucket. */
async function startEventSources(pipeline: Pipeline, paths: LocalPaths, log: Log) {
  const sources: Array<{ name: string; source: EventSource }> = []
  const onFailureStore = fileObjectStore(paths.onFailure)
  for (const mapping of eventSourceMappings(pipeline.template)) {
    const target = pipeline.functions.get(mapping.functionName)
    if (!target) throw new Error(`no local function ${mapping.functionName}`)
    const name = `${mapping.functionName}:${mapping.topics.join(',')}`
    const source = await startMappedEventSource(mapping, {
      kafka: pipeline.kafka,
      invoke: (event) => target.invoke(event) as Promise<never>,
      onFailure: async (records, reason) => {
        const first = records[0]
        const key = `${mapping.functionName}/${first?.topic}-${first?.partition}-${first?.offset}.json`
        await onFailureStore.put(key, JSON.stringify({ reason, records }))
        log(
          `${mapping.functionName}: ${records.length} records sent to the on-failure destination (${reason})`,
        )
      },
      log: (line) => log(`${mapping.functionName}: ${line}`),
    })
    sources.push({ name, source })
    log(`event source: ${name} (batch ${mapping.batchSize}, window ${mapping.batchWindowMs} ms)`)
  }
  return sources
}

/** A state machine's schedule: its rule's own input, as EventBridge sends it. */
async function runLakeSchedule(schedule: Schedule, lakeRunner: LakeRunner, log: Log) {
  if (schedule.target.kind !== 'stateMachine') return
  const name = stateMachineName(schedule.target.logicalId)
  if (!name) return log(`${schedule.rule}: no local definition for ${schedule.target.logicalId}`)
  // A scheduled lake-refresh (`{}`) plans from what has landed, and ends before Spark when nothing has.
  await lakeRunner.run(name, (schedule.input ?? {}) as Record<string, unknown>)
}

/** The template's schedules fired as EventBridge would, on the lake schedule policy's terms. */
function startSchedules(
  scheduled: Schedule[],
  policy: LakeSchedulePolicy,
  functions: Map<string, LocalFunction>,
  lakeRunner: LakeRunner,
  paths: LocalPaths,
  log: Log,
): Scheduler {
  const scheduler = startScheduler(
    scheduled,
    async (schedule, event) => {
      if (schedule.target.kind === 'stateMachine') return runLakeSchedule(schedule, lakeRunner, log)
      const target = functions.get(schedule.target.name)
      if (!target) return log(`${schedule.rule}: no local function ${schedule.target.name}`)
      const result = (await target.invoke(event).catch((error: Error) => {
        log(`${target.name} ${event.time}: failed: ${error.message}`)
        return undefined
      })) as { emitted?: number; rejected?: number } | undefined
      if (result)
        log(`${target.name} ${event.time}: emitted ${result.emitted ?? 0}, rejected ${result.rejected ?? 0}`)
    },
    {
      offsetMs: SCHEDULE_DELIVERY_MS,
      state: fileScheduleState(paths.schedulerState),
      catchUp: policy.catchUp,
      speedup: policy.speedup,
      log,
    },
  )
  for (const schedule of scheduled) log(policy.describe(schedule))
  return scheduler
}

/** The status line's samples and the dashboard, until the returned stop. */
async function startLiveStatus(
  options: RunOptions,
  pipeline: Pipeline,
  sources: Array<{ name: string; source: EventSource }>,
  lakeRunner: LakeRunner,
  startedAt: Date,
  paths: LocalPaths,
): Promise<() => Promise<void>> {
  const { log } = options
  const monitor = createPipelineMonitor({
    kafka: pipeline.kafka,
    search: pipeline.search,
    rawStore: fileObjectStore(paths.rawBucket),
    topics: CONTRACT_TOPICS,
    startOffsets: pipeline.startOffsets,
    startedAt,
    sources: sources.map(({ name, source }) => ({ functionName: name.split(':')[0] ?? name, source })),
    lake: observeLakeRuns(lakeRunner),
    functions: () => functionCounts(pipeline.functions.values()),
  })
  const sampling = setInterval(() => {
    monitor.sample().then(options.onStatus, (error: Error) => log(`status: ${error.message}`))
  }, STATUS_EVERY_MS)
  const live: Cleanup[] = [() => clearInterval(sampling)]
  if (options.dashboard) {
    // The market the producers work on: poll-bars' SYMBOLS, as its local environment sets them.
    const env = localFunctionEnvironment(pipeline.template, 'pollBars', pipeline.standIns)
    const dashboard = await startDashboard({
      search: pipeline.search,
      symbols: z.object(SymbolsEnv).parse(env).SYMBOLS,
      pipeline: () => monitor.latest,
      port: options.dashboard.port,
    })
    live.push(() => dashboard.close())
    log(`dashboard: ${dashboard.url} (open it in a browser; --no-dashboard turns it off)`)
  }
  return async () => {
    for (const stop of live.splice(0)) await stop()
  }
}

/** Stops firing, lets running invocations end, then drains and stops the event sources. */
async function stopAndDrain(
  why: string,
  scheduler: Scheduler,
  sources: Array<{ name: string; source: EventSource }>,
  log: Log,
) {
  log(`stopping (${why}): waiting for running invocations...`)
  await scheduler.stop()
  log('draining the event sources...')
  // Stopping closes every batch window now: land-raw would otherwise hold its records for 60 s.
  const behind = await drainEventSources(sources, { limitMs: 90_000, pollMs: 500 })
  if (behind.length > 0) log(`drain timed out: ${behind.map((w) => `${w.name} lag ${w.lag}`).join(', ')}`)
  for (const { source } of sources) await source.stop()
}
