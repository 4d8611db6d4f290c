/**
 * Input faults: what reaches the pipeline is wrong or late — a schedule delivered twice, poison
 * records, upstream APIs that throttle, fail or stall, a local Lambda host that dies at the worst
 * moment.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Producer, stringSerializers } from '@platformatic/kafka'
import { assetsOfSymbols } from '../../functions/refresh-assets/core.ts'
import { TOPICS } from '../../functions/shared/contracts.ts'
import { localPaths, SCHEDULE_DELIVERY_MS } from '../run.ts'
import { loadPackagedFunction, localStandIns } from '../runtime/environment.ts'
import { fileScheduleState, scheduledEvent } from '../runtime/schedules.ts'
import { readTemplate } from '../runtime/template.ts'
import { endpointsFor, projectRoot } from '../services/index.ts'
import { stopWhenDrained } from './runtime.ts'
import { DRAIN_TIMEOUT_MS, INJECT_AFTER_MS, RUN_SECONDS, running, type Scenario } from './scenario-kit.ts'

/**
 * A schedule firing twice at once: poll-bars and simulate-trades invoked in this process for the
 * same scheduled time as the runtime's own next firing, started at the same moment (EventBridge
 * delivers at least once, and two deliveries can overlap). Both poll-bars invocations wait for
 * the same second of the minute and race on the watermark; the sinks must hold each event once.
 */
export const scheduleTwice: Scenario = {
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
    // The package the runtime runs (its default stage), each function in the environment it gives it.
    const template = readTemplate(join(paths.packageDir, 'dev'))
    const standIns = {
      ...localStandIns(endpointsFor('chaos'), paths, readFileSync(paths.piiKey, 'utf8').trim()),
      ALPACA_DATA_URL: alpaca,
    }
    const functions = [
      await loadPackagedFunction(template, 'pollBars', standIns, projectRoot),
      await loadPackagedFunction(template, 'simulateTrades', standIns, projectRoot),
    ]
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

export const poison: Scenario = {
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
export function simulatorFaults(
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
export const coinApiFaults = (name: string, description: string, faults: string) =>
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
export function hostFault(name: string, description: string, faults: object): Scenario {
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
