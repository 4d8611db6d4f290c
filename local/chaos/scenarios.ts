/**
 * The fault matrix: one fault per scenario, injected into the real local pipeline (the runtime
 * of `make run` as a child process, the chaos profile's Kafka and OpenSearch), then lifted.
 * Each scenario returns when its runtime has drained; the runner reads the sinks back.
 */
import { appendFileSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { Producer, stringSerializers } from '@platformatic/kafka'
import type { KafkaConnection } from '../../functions/shared/kafka.ts'
import { loadFunction } from '../lambda.ts'
import { localPaths } from '../run.ts'
import { scheduledEvent } from '../schedules.ts'
import { projectRoot } from '../services/index.ts'
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
}

export interface Scenario {
  name: string
  description: string
  /** The fewest quarantine records the scenario must leave behind. */
  quarantines?: number
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

/** Longer than a few bulk attempts (8 with a doubling backoff from 200 ms: ~25 s); bounded. */
const HANG_MS = 90_000

const opensearchHang: Scenario = {
  name: 'opensearch-hang',
  description: `the OpenSearch node SIGSTOPped for ${HANG_MS / 1000} s (requests stall, not fail), then SIGCONT`,
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
 * A schedule firing twice: poll-bars and simulate-trades invoked a second time, in this process,
 * with the same scheduled time as a firing the runtime has just logged (EventBridge delivers at
 * least once). The sinks must hold each event once.
 */
const scheduleTwice: Scenario = {
  name: 'schedule-twice',
  description: 'a second invocation of poll-bars and simulate-trades for a scheduled time already fired',
  async run(ctx) {
    const runtime = await running(ctx)
    const alpaca = /alpaca: bundled simulator on (\S+)/.exec(
      await runtime.waitFor(/alpaca: bundled simulator on/, 1000),
    )?.[1]
    const fired = /pollBars (\S+): emitted/.exec(await runtime.waitFor(/pollBars \S+: emitted/, 120_000))?.[1]
    const firedTrades = /simulateTrades (\S+): emitted/.exec(
      await runtime.waitFor(/simulateTrades \S+: emitted/, 120_000),
    )?.[1]
    if (!alpaca || !fired || !firedTrades) throw new Error('the runtime logged no alpaca URL or firing')
    const paths = localPaths('chaos')
    // The functions read their configuration from this process's environment, as the runtime's
    // do; it is put back afterwards, so the next scenario's runtime does not inherit it.
    const saved = { ...process.env }
    Object.assign(process.env, {
      KAFKA_BROKERS: ctx.kafka.KAFKA_BROKERS.join(','),
      KAFKA_AUTH: 'none',
      RAW_DIR: paths.rawBucket,
      STATE_DIR: paths.stateBucket,
      PII_HMAC_KEY: readFileSync(paths.piiKey, 'utf8').trim(),
      ALPACA_DATA_URL: alpaca,
      POWERTOOLS_DEV: '',
    })
    ctx.injected()
    // Their logs and metrics go where the runtime's functions write theirs, not into the table.
    const stdout = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((chunk: string | Uint8Array) => {
      appendFileSync(paths.functionLog, chunk)
      return true
    }) as typeof process.stdout.write
    try {
      for (const [name, time, timeout] of [
        ['pollBars', fired, 60],
        ['simulateTrades', firedTrades, 30],
      ] as const) {
        const fn = await loadFunction(projectRoot, name, timeout)
        const result = (await fn.invoke(scheduledEvent(`chaos-${name}`, new Date(time)))) as {
          emitted?: number
        }
        ctx.log(`${name} ${time} fired again: emitted ${result?.emitted ?? 0}`)
      }
    } finally {
      process.stdout.write = stdout
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
function simulatorFaults(name: string, description: string, env: Record<string, string>): Scenario {
  return {
    name,
    description,
    async run(ctx) {
      ctx.injected()
      const runtime = await running(ctx, { durationSeconds: RUN_SECONDS, env })
      ctx.lifted()
      await stopWhenDrained(runtime, DRAIN_TIMEOUT_MS)
    },
  }
}

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
]
