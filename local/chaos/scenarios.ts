/**
 * The fault matrix: one fault per scenario, injected into the real local pipeline (the runtime
 * of `make run` as a child process, the chaos profile's Kafka and OpenSearch), then lifted.
 * Each scenario returns when its runtime has drained; the runner reads the sinks back.
 */
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { Producer, stringSerializers } from '@platformatic/kafka'
import type { ResolvedWindow } from '../../functions/lake-window/core.ts'
import { assetsOfSymbols } from '../../functions/refresh-assets/core.ts'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { TOPICS, type TopicName } from '../../functions/shared/contracts.ts'
import type { RunResult } from '../lake/step-functions.ts'
import { localFunctionEnv, localPaths, SCHEDULE_DELIVERY_MS } from '../run.ts'
import { loadFunction } from '../runtime/lambda.ts'
import { fileScheduleState, scheduledEvent } from '../runtime/schedules.ts'
import { endpointsFor, projectRoot } from '../services/index.ts'
import { kafkaPid } from '../services/kafka.ts'
import { opensearchPid } from '../services/opensearch.ts'
import { RUNNING, type Runtime, type RuntimeOptions, stopWhenDrained } from './runtime.ts'

export interface ScenarioContext {
  kafka: KafkaConnection
  log: (line: string) => void
  /** Starts the runtime under test (its log goes to .local/chaos/logs/<scenario>.log). */
  runtime(options: Omit<RuntimeOptions, 'logPath'>): Runtime
  /** Starts the chaos profile's services again (those that are down), as `make chaos` did. */
  restartServices(): Promise<void>
  /** Call when the fault is lifted: recovery is timed from here. */
  lifted(): void
  /** Call when the fault is injected. */
  injected(): void
  /**
   * Runs a state machine on the chaos profile's lake, as Step Functions would: runs started
   * together overlap (unlike `make run`, which queues its own), EMR dedupes client tokens.
   */
  lake(name: 'lake-refresh' | 'lake-maintenance', input: Record<string, unknown>): Promise<RunResult>
}

export interface Scenario {
  name: string
  description: string
  /** The fewest quarantine records the scenario must leave behind. */
  quarantines?: number
  /** The fewest distinct events the scenario must produce to a topic (the faulty path worked). */
  produces?: Partial<Record<TopicName, number>>
  /** The lake is read back for this scenario's events (it runs the lake itself). */
  lake?: boolean
  run(ctx: ScenarioContext): Promise<void>
}

/** Runtime length of a scenario, and when its fault comes. */
const RUN_SECONDS = 120
const INJECT_AFTER_MS = 40_000
const STARTUP_TIMEOUT_MS = 180_000
/** The drain (up to 90 s) and the reading back, past the run's duration. */
const DRAIN_TIMEOUT_MS = (RUN_SECONDS + 240) * 1000

async function running(
  ctx: ScenarioContext,
  options: Omit<RuntimeOptions, 'logPath'> = {
    durationSeconds: RUN_SECONDS,
  },
): Promise<Runtime> {
  const runtime = ctx.runtime(options)
  await runtime.waitFor(RUNNING, STARTUP_TIMEOUT_MS)
  return runtime
}

function signalService(pid: number | undefined, service: string, signal: NodeJS.Signals): void {
  if (pid === undefined) throw new Error(`${service} of the chaos profile is not running`)
  process.kill(pid, signal)
}

/** Waits until `pid` has exited (SIGKILL is delivered at once; the exit follows shortly). */
async function gone(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    await sleep(200)
  }
}

/** A run whose only "fault" is none: the baseline every other row compares against. */
const baseline: Scenario = {
  name: 'baseline',
  description: 'no fault: the pipeline as make run runs it',
  async run(ctx) {
    const runtime = await running(ctx)
    ctx.injected()
    ctx.lifted()
    await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
  },
}

const runtimeKill: Scenario = {
  name: 'runtime-kill',
  description:
    'the runtime (functions, event sources, schedules) SIGKILLed mid-run, restarted 20 s later; services stay up',
  async run(ctx) {
    const first = await running(ctx)
    await sleep(INJECT_AFTER_MS)
    ctx.injected()
    first.kill('SIGKILL')
    await first.exited
    await sleep(20_000)
    const second = await running(ctx, { durationSeconds: 120 })
    ctx.lifted()
    await stopWhenDrained(second, DRAIN_TIMEOUT_MS)
  },
}

/** A service SIGKILLed mid-run while producers and consumers run, restarted 20 s later. */
function serviceKill(
  name: string,
  label: string,
  what: string,
  pidOf: (profile: 'chaos') => number | undefined,
): Scenario {
  return {
    name,
    description: `${what} SIGKILLed while producers and consumers run, restarted 20 s later`,
    async run(ctx) {
      const runtime = await running(ctx)
      await sleep(INJECT_AFTER_MS)
      const pid = pidOf('chaos')
      ctx.injected()
      signalService(pid, label, 'SIGKILL')
      await gone(pid as number)
      await sleep(20_000)
      await ctx.restartServices()
      ctx.lifted()
      await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
    },
  }
}

const kafkaKill = serviceKill('kafka-kill', 'Kafka', 'the Kafka broker', kafkaPid)
const opensearchKill = serviceKill('opensearch-kill', 'OpenSearch', 'the OpenSearch node', opensearchPid)

/**
 * Eight minutes: far past the bulk retries of one invocation (they stop before the Lambda
 * deadline), inside the event source's retry budget (at least 15 minutes of outage).
 */
const HANG_MS = 8 * 60_000

const opensearchHang: Scenario = {
  name: 'opensearch-hang',
  description: `the OpenSearch node SIGSTOPped for ${HANG_MS / 60_000} minutes (requests stall, not fail), then SIGCONT`,
  async run(ctx) {
    const runtime = await running(ctx, { durationSeconds: RUN_SECONDS + HANG_MS / 1000 })
    await sleep(INJECT_AFTER_MS)
    const pid = opensearchPid('chaos')
    ctx.injected()
    signalService(pid, 'OpenSearch', 'SIGSTOP')
    try {
      await sleep(HANG_MS)
    } finally {
      signalService(pid, 'OpenSearch', 'SIGCONT')
    }
    ctx.lifted()
    await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS + HANG_MS)
  },
}

/**
 * A schedule firing twice at once: poll-bars and simulate-trades invoked in this process for the
 * same scheduled time as the runtime's own next firing, started at the same moment (EventBridge
 * delivers at least once, and two deliveries can overlap). Both poll-bars invocations wait for
 * the same second of the minute and race on the watermark; the sinks must hold each event once.
 */
const scheduleTwice: Scenario = {
  name: 'schedule-twice',
  description:
    'poll-bars and simulate-trades invoked a second time for the scheduled time the runtime fires, at the same moment',
  async run(ctx) {
    const runtime = await running(ctx)
    const alpaca = /alpaca: bundled simulator on (\S+)/.exec(
      await runtime.waitFor(/alpaca: bundled simulator on/, 1000),
    )?.[1]
    if (!alpaca) throw new Error('the runtime logged no alpaca URL')
    // Warm: the runtime has fired once, so its next firing is a steady one.
    await runtime.waitFor(/pollBars \S+: emitted/, 120_000)
    const paths = localPaths('chaos')
    // The functions read their configuration from this process's environment, as the runtime's
    // do; it is put back afterwards, so the next scenario's runtime does not inherit it.
    const saved = { ...process.env }
    Object.assign(
      process.env,
      localFunctionEnv(endpointsFor('chaos'), paths, readFileSync(paths.piiKey, 'utf8').trim()),
      { ALPACA_DATA_URL: alpaca },
    )
    try {
      const functions = await Promise.all([
        loadFunction(projectRoot, 'pollBars', 60),
        loadFunction(projectRoot, 'simulateTrades', 30),
      ])
      // The runtime's scheduler fires `cron(* * * * ? *)` at the next minute plus its delivery
      // delay; the second delivery comes at the same instant, with the same scheduled time.
      const scheduledAt = Math.ceil((Date.now() + 5_000) / 60_000) * 60_000
      await sleep(scheduledAt + SCHEDULE_DELIVERY_MS - Date.now())
      ctx.injected()
      const results = await Promise.all(
        functions.map(async (fn) => {
          const result = (await fn.invoke(scheduledEvent(`chaos-${fn.name}`, new Date(scheduledAt)))) as {
            emitted?: number
          }
          return `${fn.name} emitted ${result?.emitted ?? 0}`
        }),
      )
      const time = new Date(scheduledAt).toISOString().replace('.000Z', 'Z')
      const own = await Promise.all([
        runtime.waitFor(new RegExp(`pollBars ${time}: `), 120_000),
        runtime.waitFor(new RegExp(`simulateTrades ${time}: `), 120_000),
      ])
      ctx.log(
        `fired twice for ${time}: here ${results.join(', ')}; the runtime: ${own.map((line) => line.replace(/^.*\] /, '')).join(', ')}`,
      )
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
      Object.assign(process.env, saved)
    }
    ctx.lifted()
    await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
  },
}

/** One record of each poison class index-events and land-raw quarantine (as in the integration tests). */
export function poisonRecords(key: string): Array<{ topic: string; key: string; value?: string }> {
  const bar = {
    event_id: 'BTC/USD|1Min|2026-11-30T10:00:00Z',
    event_type: 'bar',
    schema_version: 2,
  }
  return [
    { topic: 'crypto.bars', key, value: 'not json at all' },
    { topic: 'crypto.bars', key, value: JSON.stringify({ ...bar, timeframe: '5Min' }) },
    { topic: 'crypto.trades', key, value: JSON.stringify({ trade_id: 'x', user_email: 'nope' }) },
    { topic: 'crypto.assets', key, value: JSON.stringify({ asset_id: 42 }) },
    { topic: 'crypto.bars', key, value: JSON.stringify({ ...bar, pad: 'x'.repeat(70_000) }) },
    // A tombstone: no value.
    { topic: 'crypto.bars', key },
  ]
}

const poison: Scenario = {
  name: 'poison',
  quarantines: poisonRecords('k').length,
  description:
    'poison records of every class (not JSON, schema violations on each topic, oversized, tombstone) produced straight into the topics',
  async run(ctx) {
    const runtime = await running(ctx)
    await sleep(INJECT_AFTER_MS)
    const producer = new Producer({
      clientId: 'chaos-poison',
      bootstrapBrokers: ctx.kafka.KAFKA_BROKERS,
      serializers: stringSerializers,
    })
    ctx.injected()
    try {
      await producer.send({ messages: poisonRecords(`chaos-poison-${Date.now()}`) })
    } finally {
      await producer.close()
    }
    ctx.lifted()
    await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
  },
}

/** A runtime whose simulators answer with `faults` (their environment variables) from the start. */
function simulatorFaults(
  name: string,
  description: string,
  env: Record<string, string>,
  extra: Pick<Scenario, 'produces'> & { before?: () => void } = {},
): Scenario {
  return {
    name,
    description,
    produces: extra.produces,
    async run(ctx) {
      extra.before?.()
      ctx.injected()
      const runtime = await running(ctx, { durationSeconds: RUN_SECONDS, env })
      ctx.lifted()
      await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
    },
  }
}

/**
 * Makes the daily asset refresh due, so that the next runtime fires it at start (as the first
 * run of a day does): its last firing is forgotten in the profile's schedule state.
 */
function assetRefreshDue(): void {
  fileScheduleState(localPaths('chaos').schedulerState).forget((rule) => rule.startsWith('RefreshAssets'))
}

/** Every asset of the stage's default symbols: what one asset refresh produces. */
const ALL_ASSETS = { [TOPICS.assets]: assetsOfSymbols(['BTC/USD', 'LTC/USD']).length }

/** CoinAPI faults during the day's asset refresh (fired at the runtime's start). */
const coinApiFaults = (name: string, description: string, faults: string) =>
  simulatorFaults(
    name,
    description,
    { COINAPI_SIM_FAULTS: faults },
    { produces: ALL_ASSETS, before: assetRefreshDue },
  )

/**
 * A runtime with a fault injected into its local Lambda host (`LOCAL_FAULTS`, local/chaos/faults.ts):
 * the fault is "injected" when the runtime logs it, once per count in the spec.
 */
function hostFault(name: string, description: string, faults: object): Scenario {
  return {
    name,
    description,
    async run(ctx) {
      const runtime = await running(ctx, {
        durationSeconds: RUN_SECONDS,
        env: { LOCAL_FAULTS: JSON.stringify(faults) },
      })
      await runtime.waitFor(/LOCAL_FAULTS: /, 120_000)
      ctx.injected()
      ctx.lifted()
      await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
    },
  }
}

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
const lakeRefreshRerun: Scenario = {
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
const lakeMaintenanceDuringRefresh: Scenario = {
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

export const SCENARIOS: Scenario[] = [
  baseline,
  runtimeKill,
  kafkaKill,
  opensearchKill,
  opensearchHang,
  scheduleTwice,
  poison,
  simulatorFaults('alpaca-429', 'Alpaca answers every 2nd request 429 (Retry-After 1 s) for the whole run', {
    ALPACA_SIM_FAULTS: 'rateLimitEvery=2,retryAfterSeconds=1',
  }),
  simulatorFaults('alpaca-5xx', 'Alpaca answers every 3rd request 503 for the whole run', {
    ALPACA_SIM_FAULTS: 'serverErrorEvery=3,serverErrorStatus=503',
  }),
  simulatorFaults('alpaca-slow', 'Alpaca answers every 2nd request 4 s late for the whole run', {
    ALPACA_SIM_FAULTS: 'slowMs=4000,slowEvery=2',
  }),
  coinApiFaults(
    'coinapi-429',
    "CoinAPI answers the day's asset refresh 429 (Retry-After 1 s) twice, then recovers",
    'rateLimitEvery=1,retryAfterSeconds=1,faultRequests=2',
  ),
  coinApiFaults(
    'coinapi-5xx',
    "CoinAPI answers the day's asset refresh 503 twice, then recovers",
    'serverErrorEvery=1,serverErrorStatus=503,faultRequests=2',
  ),
  coinApiFaults(
    'coinapi-slow',
    "CoinAPI holds the day's asset refresh's first request 20 s (past the client's 15 s timeout), then recovers",
    'slowMs=20000,faultRequests=1',
  ),
  hostFault(
    'poll-bars-dies-before-watermark',
    'poll-bars dies between its produce and its watermark write (the watermark write fails once)',
    { failWrite: { path: 'watermarks.json', times: 1 } },
  ),
  hostFault(
    'index-events-dies-after-bulk',
    'index-events dies after its bulk request succeeded, before returning (3 invocations)',
    { failAfterReturn: { function: 'indexEvents', times: 3 } },
  ),
  hostFault(
    'land-raw-write-fails',
    "land-raw's raw-zone object write fails (EIO) once, the second of the run",
    {
      failWrite: { path: '/raw/crypto.', after: 1, times: 1 },
    },
  ),
  lakeRefreshRerun,
  lakeMaintenanceDuringRefresh,
]
