/**
 * The fault matrix: one fault per scenario, injected into the real local pipeline (the runtime
 * of `make run` as a child process, the chaos profile's Kafka and OpenSearch), then lifted.
 * Each scenario returns when its runtime has drained; the runner reads the sinks back.
 * Here the process faults (a runtime or a service killed or stopped) and the matrix itself; the
 * input faults are in scenarios-input.ts, the lake's in scenarios-lake.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { kafkaPid } from '../services/kafka.ts'
import { opensearchPid } from '../services/opensearch.ts'
import { stopWhenDrained } from './runtime.ts'
import { DRAIN_TIMEOUT_MS, INJECT_AFTER_MS, RUN_SECONDS, running, type Scenario } from './scenario-kit.ts'
import { coinApiFaults, hostFault, poison, scheduleTwice, simulatorFaults } from './scenarios-input.ts'
import { lakeMaintenanceDuringRefresh, lakeRefreshRerun } from './scenarios-lake.ts'

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
