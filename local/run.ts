/**
 * `make run`: the whole pipeline on one machine. Real Kafka and OpenSearch, the bundled market
 * simulator (or the APIs named by ALPACA_DATA_URL), the schedules and event source mappings of
 * the packaged service, and each function's real handler. Ends — on Ctrl-C or after
 * `--duration` — by draining the event sources and writing the accounting report.
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { fileWatermarkStore, WATERMARK_KEY } from '../functions/poll-bars/watermark.ts'
import type { KafkaConnection } from '../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../functions/shared/adapters/object-store.ts'
import { createOpenSearchClient } from '../functions/shared/adapters/opensearch.ts'
import { SymbolsEnv } from '../functions/shared/config.ts'
import { TOPICS, type TopicName } from '../functions/shared/contracts.ts'
import { applySearchConfig } from '../functions/shared/search-templates.ts'
import { TOPIC_DECLARATIONS } from '../functions/shared/topics.ts'
import { createPipelineMonitor, observeLakeRuns, type PipelineStatus } from './dashboard/pipeline-status.ts'
import { startDashboard } from './dashboard/server.ts'
import { lakeCounts } from './lake/counts.ts'
import { createLakeRunner, stateMachineName } from './lake/runner.ts'
import {
  newestRevisions,
  type ProducedEvents,
  producerRejections,
  quarantineSince,
  quarantineSummary,
  type Report,
  reportFailed,
  searchSinkCounts,
  summarizeRecords,
} from './report/report.ts'
import {
  committedOffsets,
  lakeFigures,
  lakeJudgement,
  readStoreTopics,
  recordsBetween,
  type StoreSinkFigures,
  storeSection,
} from './report/store.ts'
import { rawSinkCounts } from './report/stream.ts'
import { type EventSource, startMappedEventSource } from './runtime/event-source.ts'
import { endOffsets } from './runtime/kafka-read.ts'
import { type LocalFunction, loadFunction } from './runtime/lambda.ts'
import { fileScheduleState, startScheduler } from './runtime/schedules.ts'
import { eventSourceMappings, functionTimeouts, packageService, schedules } from './runtime/template.ts'
import { type Profile, projectRoot, startServices } from './services/index.ts'
import { alpacaUpstream, coinApiUpstream } from './simulators/upstream.ts'

export interface RunOptions {
  profile: Profile
  stage: string
  /** Headless: stop after this long. Without it, run until Ctrl-C. */
  durationMs?: number
  reportPath?: string
  fresh: boolean
  /** How often `lake-refresh` runs (its hourly schedule, compressed); 0 = only once, at the end. */
  lakeEveryMs: number
  /** The local dashboard page (port 0 = any free one), or false for none. */
  dashboard: { port: number } | false
  /** Receives a fresh pipeline sample every few seconds (the terminal's status line). */
  onStatus?: (status: PipelineStatus) => void
  log: (line: string) => void
}

const STATUS_EVERY_MS = 3_000

const CONTRACT_TOPICS = Object.values(TOPICS)

/** Local stand-ins for the AWS resources, all under `.local/<profile>/`. */
/** EventBridge delivers a scheduled event some seconds after its time; locally, this late. */
export const SCHEDULE_DELIVERY_MS = 2_000

export function localPaths(profile: Profile) {
  const root = join(projectRoot, '.local', profile)
  return {
    root,
    rawBucket: join(root, 'buckets', 'raw'),
    stateBucket: join(root, 'buckets', 'state'),
    onFailure: join(root, 'buckets', 'on-failure'),
    piiKey: join(root, 'secrets', 'pii-hmac.key'),
    /** When each schedule last fired (local/runtime/schedules.ts). */
    schedulerState: join(root, 'scheduler.json'),
    functionLog: join(root, 'logs', 'functions.ndjson'),
    packageDir: join(projectRoot, '.local', 'package'),
  }
}

/** What every local function finds in its environment: the profile's services and buckets, its PII key. */
export function localFunctionEnv(
  services: { kafka: string; opensearch: string },
  paths: ReturnType<typeof localPaths>,
  piiKey: string,
): Record<string, string> {
  return {
    KAFKA_BROKERS: services.kafka,
    KAFKA_AUTH: 'none',
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    OPENSEARCH_REPLICAS: '0',
    RAW_DIR: paths.rawBucket,
    STATE_DIR: paths.stateBucket,
    PII_HMAC_KEY: piiKey,
    POWERTOOLS_DEV: '',
  }
}

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

async function drain(sources: Array<{ name: string; source: EventSource }>, log: (line: string) => void) {
  // Stopping closes every batch window now: land-raw would otherwise hold its records for 60 s.
  for (const { source } of sources) source.flush()
  const deadline = Date.now() + 90_000
  for (;;) {
    const lags = await Promise.all(
      sources.map(async ({ name, source }) => ({ name, lag: await source.lag() })),
    )
    const waiting = lags.filter((entry) => entry.lag > 0)
    if (waiting.length === 0) return
    if (Date.now() > deadline) {
      log(`drain timed out: ${waiting.map((w) => `${w.name} lag ${w.lag}`).join(', ')}`)
      return
    }
    await sleep(500)
  }
}

/**
 * What the deploy's custom resources do, done on the local services: the topics (create-topics)
 * and the index templates and aliases (apply-search-config), idempotently, before any function
 * runs, so every index a local run creates (old months of a backfill too) follows the templates.
 */
export async function provisionLocalSinks(
  services: { kafka: string; opensearch: string },
  log: (line: string) => void,
): Promise<{ kafka: KafkaConnection }> {
  const kafka: KafkaConnection = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  const topics = await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  if (topics.created.length > 0) log(`kafka: created topics ${topics.created.join(', ')}`)
  const search = createOpenSearchClient({
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    AWS_REGION: 'local',
  })
  try {
    const searchConfig = await applySearchConfig(search, {
      replicas: 0,
      log: (line) => log(`opensearch: ${line}`),
    })
    log(`opensearch: templates ${searchConfig.templates.join(', ')} applied on ${services.opensearch}`)
  } finally {
    await search.close()
  }
  return { kafka }
}

export async function runPipeline(options: RunOptions): Promise<{ report: Report; exitCode: number }> {
  const { log } = options
  const startedAt = new Date()
  const paths = localPaths(options.profile)

  log(`starting services (profile ${options.profile}${options.fresh ? ', fresh state' : ''})...`)
  const services = await startServices(options.profile, { fresh: options.fresh, log: (line) => log(line) })
  const cleanups: Array<() => Promise<void> | void> = []
  try {
    const { kafka } = await provisionLocalSinks(services, log)
    const search = createOpenSearchClient({
      OPENSEARCH_URL: services.opensearch,
      OPENSEARCH_AUTH: 'none',
      AWS_REGION: 'local',
    })

    const alpacaUrl = await alpacaUpstream(cleanups, log)
    const coinApiUrl = await coinApiUpstream(cleanups, log)

    // The functions read their configuration from the environment at cold start, as on Lambda.
    Object.assign(process.env, localFunctionEnv(services, paths, readOrCreateKey(paths.piiKey)), {
      ALPACA_DATA_URL: alpacaUrl,
      COINAPI_URL: coinApiUrl,
      COINAPI_KEY: process.env.COINAPI_KEY || 'local-simulator-key',
    })

    const template = await packageService(
      projectRoot,
      join(paths.packageDir, options.stage),
      options.stage,
      log,
    )
    const timeouts = functionTimeouts(template)
    const functions = new Map<string, LocalFunction>()
    const fn = async (name: string) => {
      let loaded = functions.get(name)
      if (!loaded) {
        loaded = await loadFunction(projectRoot, name, timeouts[name] ?? 6)
        functions.set(name, loaded)
      }
      return loaded
    }

    const restoreStdout = captureFunctionOutput(paths.functionLog)
    cleanups.push(restoreStdout)
    log(`function logs and metrics: ${paths.functionLog}`)

    const startOffsets = await endOffsets(kafka, CONTRACT_TOPICS)

    const sources: Array<{ name: string; source: EventSource }> = []
    const onFailureStore = fileObjectStore(paths.onFailure)
    for (const mapping of eventSourceMappings(template)) {
      const target = await fn(mapping.functionName)
      const name = `${mapping.functionName}:${mapping.topics.join(',')}`
      sources.push({
        name,
        source: await startMappedEventSource(mapping, {
          kafka,
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
        }),
      })
      log(`event source: ${name} (batch ${mapping.batchSize}, window ${mapping.batchWindowMs} ms)`)
    }

    const scheduled = schedules(template)
    const lakeRunner = createLakeRunner(options.profile, log)
    const lakeActivity = observeLakeRuns(lakeRunner)
    const scheduler = startScheduler(
      scheduled,
      async (schedule, event) => {
        if (schedule.target.kind === 'stateMachine') {
          const name = stateMachineName(schedule.target.logicalId)
          if (!name) return log(`${schedule.rule}: no local definition for ${schedule.target.logicalId}`)
          // The rule's own input, as EventBridge sends it: a scheduled lake-refresh (`{}`) plans
          // from what has landed, and ends before Spark when nothing has.
          await lakeRunner.run(name, (schedule.input ?? {}) as Record<string, unknown>)
          return
        }
        const target = await fn(schedule.target.name)
        const result = (await target.invoke(event).catch((error: Error) => {
          log(`${target.name} ${event.time}: failed: ${error.message}`)
          return undefined
        })) as { emitted?: number; rejected?: number } | undefined
        if (result)
          log(
            `${target.name} ${event.time}: emitted ${result.emitted ?? 0}, rejected ${result.rejected ?? 0}`,
          )
      },
      {
        offsetMs: SCHEDULE_DELIVERY_MS,
        state: fileScheduleState(paths.schedulerState),
        // Functions catch up at start (the daily asset refresh is due); the lake jobs keep to their
        // schedule, compressed for lake-refresh (`--lake-every`) with the same phase.
        catchUp: (schedule) => schedule.target.kind === 'function',
        speedup: (schedule) =>
          schedule.target.kind === 'stateMachine' &&
          stateMachineName(schedule.target.logicalId) === 'lake-refresh' &&
          options.lakeEveryMs > 0
            ? schedule.periodMs / options.lakeEveryMs
            : 1,
        log,
      },
    )
    for (const schedule of scheduled) {
      const target = schedule.target.kind === 'function' ? schedule.target.name : schedule.target.logicalId
      const compressed =
        schedule.target.kind === 'stateMachine' &&
        stateMachineName(schedule.target.logicalId) === 'lake-refresh'
      log(
        `schedule: ${schedule.expression} -> ${target}${compressed && options.lakeEveryMs > 0 ? ` (locally every ${options.lakeEveryMs / 1000} s)` : ''}`,
      )
    }
    const monitor = createPipelineMonitor({
      kafka,
      search,
      rawStore: fileObjectStore(paths.rawBucket),
      topics: CONTRACT_TOPICS,
      startOffsets,
      startedAt,
      sources: sources.map(({ name, source }) => ({ functionName: name.split(':')[0] ?? name, source })),
      lake: lakeActivity,
      functions: () =>
        Object.fromEntries(
          [...functions.values()].map((f) => [f.name, { invocations: f.invocations, errors: f.errors }]),
        ),
    })
    const sampling = setInterval(() => {
      monitor.sample().then(options.onStatus, (error: Error) => log(`status: ${error.message}`))
    }, STATUS_EVERY_MS)
    const live: Array<() => Promise<void> | void> = [() => clearInterval(sampling)]
    const stopLive = async () => {
      for (const stop of live.splice(0)) await stop()
    }
    cleanups.push(stopLive)
    if (options.dashboard) {
      const dashboard = await startDashboard({
        search,
        symbols: z.object(SymbolsEnv).parse(process.env).SYMBOLS,
        pipeline: () => monitor.latest,
        port: options.dashboard.port,
      })
      live.push(() => dashboard.close())
      log(`dashboard: ${dashboard.url} (open it in a browser; --no-dashboard turns it off)`)
    }
    log(
      options.durationMs === undefined
        ? 'running; Ctrl-C to stop'
        : `running for ${Math.round(options.durationMs / 1000)} s`,
    )

    const why = await waitForStop(options.durationMs, log)
    log(`stopping (${why}): waiting for running invocations...`)
    await scheduler.stop()
    log('draining the event sources...')
    await drain(sources, log)
    for (const { source } of sources) await source.stop()

    log('reading the topics back...')
    const finalOffsets = await endOffsets(kafka, CONTRACT_TOPICS)
    // Each topic read once, whole (what it retains): the store's figures, and the run's share.
    const storeTopics = await readStoreTopics(kafka, CONTRACT_TOPICS)
    const produced = new Map<TopicName, ProducedEvents>()
    for (const { topic, records } of storeTopics) {
      const from = startOffsets.get(topic) ?? []
      produced.set(topic, summarizeRecords(recordsBetween(records, from, finalOffsets.get(topic) ?? [])))
    }

    // The next scheduled refresh, fired early (the event sources are drained: land-raw has
    // flushed), with the schedule's own `{}`: no hand-picked window, so the lake holds what a
    // scheduled run on AWS would pick up, and the report accounts for it.
    const lakeSchedule = scheduled.find(
      (schedule) =>
        schedule.target.kind === 'stateMachine' &&
        stateMachineName(schedule.target.logicalId) === 'lake-refresh',
    )
    const lakeEnabled = lakeSchedule !== undefined
    if (lakeSchedule)
      await lakeRunner.run('lake-refresh', (lakeSchedule.input ?? {}) as Record<string, unknown>)

    log('reading the sinks back for the report...')
    const store = fileObjectStore(paths.rawBucket)
    const quarantined = await quarantineSince(store, startedAt)
    const report: Report = {
      started_at: startedAt.toISOString(),
      ended_at: new Date().toISOString(),
      services: { kafka: services.kafka, opensearch: services.opensearch },
      topics: {},
      opensearch: {},
      raw: {},
      quarantined: quarantineSummary(quarantined),
      lost: 0,
      duplicates: 0,
      stale: 0,
      functions: Object.fromEntries(
        [...functions.values()].map((f) => [f.name, { invocations: f.invocations, errors: f.errors }]),
      ),
      event_sources: Object.fromEntries(sources.map(({ name, source }) => [name, { ...source.stats }])),
      state_machines: lakeRunner.runs,
    }
    const producerRejects = producerRejections(quarantined)
    for (const [topic, events] of produced) {
      report.topics[topic] = {
        produced: events.eventIds.size,
        records: events.records,
        revisions: events.revisions ?? 0,
        rejected: producerRejects[topic] ?? 0,
      }
      const sink = await searchSinkCounts(search, topic, events.searchIds, events.revisionsById)
      report.opensearch[sinkName(topic)] = sink
      const { events: _events, ...raw } = await rawSinkCounts(
        store,
        topic,
        events.eventIds,
        events.revisionsById,
      )
      report.raw[topic] = raw
      report.lost += sink.lost + raw.lost
      report.duplicates += sink.duplicates + raw.duplicates
      report.stale += sink.stale
    }
    const consumers = eventSourceMappings(template).flatMap((mapping) =>
      mapping.topics.map((topic) => ({
        sink: mapping.functionName === 'landRaw' ? ('raw' as const) : ('opensearch' as const),
        groupId: mapping.consumerGroupId ?? `${mapping.functionName}-local`,
        topic,
      })),
    )
    const committed = await committedOffsets(
      kafka,
      consumers.map((consumer) => consumer.groupId),
    )
    const landRawCommitted = (topic: string) => {
      const group = consumers.find((c) => c.sink === 'raw' && c.topic === topic)?.groupId
      return group ? committed.get(group)?.get(topic) : undefined
    }
    const judged = lakeEnabled ? await lakeJudgement(store, storeTopics, landRawCommitted) : undefined
    let storeLake: Record<string, StoreSinkFigures> | undefined
    if (lakeEnabled) {
      const lake = await lakeCounts(
        options.profile,
        Object.fromEntries([...produced].map(([topic, events]) => [topic, [...events.eventIds]])),
        undefined,
        Object.fromEntries(
          [...produced].map(([topic, events]) => [
            topic,
            Object.fromEntries(newestRevisions(events.revisionsById ?? new Map())),
          ]),
        ),
        judged,
      )
      report.lake = { ...lake.tables, topics: lake.topics }
      storeLake = lakeFigures(lake.store_topics ?? {}, storeTopics, judged?.pending ?? {})
      for (const counts of Object.values(lake.topics)) {
        report.lost += counts.lost
        report.duplicates += counts.duplicates
        report.stale += counts.stale ?? 0
      }
    }
    report.run = {
      scope: 'the event ids appended to the topics during this run (offsets from..to)',
      offsets: Object.fromEntries(
        CONTRACT_TOPICS.map((topic) => [
          topic,
          {
            from: (startOffsets.get(topic) ?? []).map(String),
            to: (finalOffsets.get(topic) ?? []).map(String),
          },
        ]),
      ),
      lost: report.lost,
      duplicates: report.duplicates,
      stale: report.stale,
    }
    report.store = {
      lake_judged_until: judged?.checkpoint ?? null,
      ...(await storeSection({
        topics: storeTopics,
        search,
        rawStore: store,
        consumers,
        committed,
        searchIndex: (topic) => ({ name: sinkName(topic) ?? topic }),
        lake: storeLake,
        settle: await fileWatermarkStore(join(paths.stateBucket, WATERMARK_KEY))
          .load()
          .then((loaded) => loaded.settle),
      })),
    }
    if (options.reportPath) {
      mkdirSync(dirname(options.reportPath), { recursive: true })
      writeFileSync(options.reportPath, `${JSON.stringify(report, null, 2)}\n`)
      log(`report written to ${options.reportPath}`)
    }
    await stopLive()
    await search.close()
    return { report, exitCode: reportFailed(report) ? 1 : 0 }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
    if (services.startedHere) {
      log('stopping the services this run started (their data stays in .local/)...')
      await services.stop()
    }
  }
}

const sinkName = (topic: TopicName) =>
  ({ [TOPICS.bars]: 'crypto-bars', [TOPICS.trades]: 'crypto-trades', [TOPICS.assets]: 'crypto-assets' })[
    topic
  ]
