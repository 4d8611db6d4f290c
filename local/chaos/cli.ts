/**
 * `make chaos`: the fault matrix on the real local pipeline. Starts the chaos profile's Kafka and
 * OpenSearch (fresh state, ports of their own: the run and test profiles are never touched), runs
 * each selected scenario — the runtime of `make run` as a child process, one fault injected and
 * lifted — reads every sink back with the run report's own readers (local/report/report.ts), runs the
 * lake once at the end over every scenario's events, prints one table and exits non-zero on any
 * loss or duplicate.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Command, InvalidArgumentError } from 'commander'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import type { createOpenSearchClient } from '../../functions/shared/adapters/opensearch.ts'
import { TOPICS, type TopicName } from '../../functions/shared/contracts.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import { localLake, runStateMachine } from '../lake/step-functions.ts'
import { progressLog } from '../progress-log.ts'
import { type ProducedEvents, producedBetween, quarantineSince, searchSinkCounts } from '../report/report.ts'
import { rawSinkCounts } from '../report/stream.ts'
import { captureFunctionOutput, localPaths } from '../run.ts'
import { endOffsets, type Offsets } from '../runtime/kafka-read.ts'
import { localKafka, localSearchClient } from '../runtime/local-sinks.ts'
import { startServices } from '../services/index.ts'
import { stopKafka } from '../services/kafka.ts'
import { opensearchPid, stopOpensearch } from '../services/opensearch.ts'
import { lakeFigures, lakeRow, type Measured } from './lake.ts'
import { matrixFailed, renderTable, type ScenarioRow, seconds } from './matrix.ts'
import { killRuntimes, type Runtime, startRuntime } from './runtime.ts'
import type { Scenario, ScenarioContext } from './scenario-kit.ts'
import { SCENARIOS } from './scenarios.ts'

const PROFILE = 'chaos' as const
const CONTRACT_TOPICS = Object.values(TOPICS)
/** Recovery: OpenSearch holds every event produced so far; checked this often, for this long. */
const RECOVERY_POLL_MS = 2_000
const RECOVERY_TIMEOUT_MS = 6 * 60_000

const log = progressLog('chaos')

async function produced(
  kafka: KafkaConnection,
  from: Map<string, Offsets>,
  to: Map<string, Offsets>,
  topics: TopicName[] = CONTRACT_TOPICS,
): Promise<Map<TopicName, ProducedEvents>> {
  const result = new Map<TopicName, ProducedEvents>()
  for (const topic of topics)
    result.set(topic, await producedBetween(kafka, topic, from.get(topic) ?? [], to.get(topic) ?? []))
  return result
}

/**
 * Resolves with the time when OpenSearch first held every bar and trade produced since `from`
 * (read back at that moment), or undefined when it did not within the timeout or `stop` came first.
 */
async function timeCaughtUp(
  kafka: KafkaConnection,
  search: ReturnType<typeof createOpenSearchClient>,
  from: Map<string, Offsets>,
  stop: { done: boolean },
): Promise<number | undefined> {
  const deadline = Date.now() + RECOVERY_TIMEOUT_MS
  while (!stop.done && Date.now() < deadline) {
    try {
      const now = await endOffsets(kafka, CONTRACT_TOPICS)
      const events = await produced(kafka, from, now, [TOPICS.bars, TOPICS.trades])
      let missing = 0
      for (const [topic, ids] of events) {
        const counts = await searchSinkCounts(search, topic, ids.searchIds, ids.revisionsById)
        missing += counts.lost + counts.stale
      }
      if (missing === 0) return Date.now()
    } catch {
      // A service still coming back: try again.
    }
    await sleep(RECOVERY_POLL_MS)
  }
  return undefined
}

/** When a scenario's fault came and went, and when OpenSearch caught up after it. */
interface Timeline {
  started: number
  from: Map<string, Offsets>
  injectedAt?: number
  liftedAt?: number
  recovery?: Promise<number | undefined>
  stop: { done: boolean }
}

/** What a scenario is given: its runtimes (collected to be killed after), the lake, its clock. */
function scenarioContext(
  scenario: Scenario,
  kafka: KafkaConnection,
  search: ReturnType<typeof createOpenSearchClient>,
  logDir: string,
  timeline: Timeline,
  runtimes: Runtime[],
): ScenarioContext {
  const say = (line: string) => log(`${scenario.name}: ${line}`)
  return {
    kafka,
    log: say,
    runtime: (options) => {
      const runtime = startRuntime({ ...options, logPath: join(logDir, `${scenario.name}.log`) })
      runtimes.push(runtime)
      return runtime
    },
    lake: async (name, input) => {
      say(`${name} started ${JSON.stringify(input)}`)
      const result = await runStateMachine(name, input as never, localLake(PROFILE), {
        retryDelayMs: 2_000,
      })
      say(`${name} ${JSON.stringify(input)}: ${result.status} (${result.states.join(' > ')})`)
      return result
    },
    restartServices: async () => {
      await startServices(PROFILE, { log: say })
    },
    injected: () => {
      timeline.injectedAt = Date.now()
      say(`fault injected at ${seconds(timeline.injectedAt - timeline.started)} s`)
    },
    lifted: () => {
      const lifted = Date.now()
      timeline.liftedAt = lifted
      say(`fault lifted at ${seconds(lifted - timeline.started)} s`)
      timeline.recovery = timeCaughtUp(kafka, search, timeline.from, timeline.stop).then((at) => {
        say(
          at === undefined
            ? 'OpenSearch never held every event produced'
            : `OpenSearch held every event produced ${seconds(at - lifted)} s after the fault was lifted`,
        )
        return at
      })
    },
  }
}

async function runScenario(
  scenario: Scenario,
  kafka: KafkaConnection,
  search: ReturnType<typeof createOpenSearchClient>,
  logDir: string,
): Promise<Measured> {
  const startedAt = new Date()
  const timeline: Timeline = {
    started: Date.now(),
    from: await endOffsets(kafka, CONTRACT_TOPICS),
    stop: { done: false },
  }
  const runtimes: Runtime[] = []
  let error: string | undefined
  log(`${scenario.name}: ${scenario.description}`)
  try {
    await scenario.run(scenarioContext(scenario, kafka, search, logDir, timeline, runtimes))
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught)
    log(`${scenario.name}: ${error}`)
  } finally {
    for (const runtime of runtimes) {
      runtime.kill('SIGKILL')
      await runtime.exited
    }
  }
  const caughtUp = timeline.recovery ? await timeline.recovery : undefined
  timeline.stop.done = true
  // The fault must be over whatever happened: services down are started again before reading.
  await startServices(PROFILE, { log: (line) => log(`${scenario.name}: ${line}`) })

  const events = await produced(kafka, timeline.from, await endOffsets(kafka, CONTRACT_TOPICS))
  const store = fileObjectStore(localPaths(PROFILE).rawBucket)
  const { injectedAt, liftedAt, started } = timeline
  const row: ScenarioRow = {
    scenario: scenario.name,
    injectedAt: injectedAt === undefined ? 'never' : `${seconds(injectedAt - started)} s`,
    produced: 0,
    indexed: 0,
    landedRaw: 0,
    quarantined: (await quarantineSince(store, startedAt)).length,
    expectedQuarantined: scenario.quarantines,
    lost: 0,
    duplicates: 0,
    stale: 0,
    recoverSeconds:
      caughtUp === undefined || liftedAt === undefined ? undefined : seconds(caughtUp - liftedAt),
    error: error ?? shortfall(scenario, events),
  }
  await addSinkFigures(row, events, search, store)
  if (scenario.lake) {
    const lake = await lakeFigures([events])
    row.merged = lake.merged
    row.lost += lake.lost
    row.duplicates += lake.duplicates
    row.stale += lake.stale
  }
  return { row, events }
}

/** Each topic's events read back from OpenSearch and the raw zone, added to the row. */
async function addSinkFigures(
  row: ScenarioRow,
  events: Map<TopicName, ProducedEvents>,
  search: ReturnType<typeof createOpenSearchClient>,
  store: ReturnType<typeof fileObjectStore>,
): Promise<void> {
  for (const [topic, ids] of events) {
    const searchCounts = await searchSinkCounts(search, topic, ids.searchIds, ids.revisionsById)
    const raw = await rawSinkCounts(store, topic, ids.eventIds, ids.revisionsById)
    row.produced += ids.eventIds.size
    row.indexed += ids.searchIds.size - searchCounts.lost
    row.landedRaw += Math.max(0, ids.eventIds.size - raw.lost)
    row.lost += searchCounts.lost + raw.lost
    row.duplicates += searchCounts.duplicates + raw.duplicates
    row.stale += searchCounts.stale
    log(
      `${row.scenario}: ${topic} produced ${ids.eventIds.size}, opensearch lost ${searchCounts.lost} dup ${searchCounts.duplicates} stale ${searchCounts.stale}, raw lost ${raw.lost} dup ${raw.duplicates}`,
    )
  }
}

/** The topics the scenario produced fewer events to than it must (its faulty path did not work). */
function shortfall(scenario: Scenario, events: Map<TopicName, ProducedEvents>): string | undefined {
  const count = (topic: string) => events.get(topic as TopicName)?.eventIds.size ?? 0
  const short = Object.entries(scenario.produces ?? {}).filter(
    ([topic, fewest]) => count(topic) < (fewest ?? 0),
  )
  if (short.length === 0) return undefined
  return short.map(([topic, fewest]) => `${topic}: ${count(topic)} produced, ${fewest} expected`).join('; ')
}

function parseScenarios(text: string): Scenario[] {
  const names = text.split(',').map((name) => name.trim())
  const unknown = names.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name))
  if (unknown.length > 0)
    throw new InvalidArgumentError(
      `unknown scenario ${unknown.join(', ')}; --list shows them (${SCENARIOS.map((s) => s.name).join(', ')})`,
    )
  return SCENARIOS.filter((scenario) => names.includes(scenario.name))
}

const program = new Command()
  .name('chaos')
  .description(
    'the fault matrix on the real local pipeline (chaos profile): one fault per scenario, every sink read back',
  )
  .option('--scenario <names>', 'comma-separated scenarios to run (default: all)', parseScenarios)
  .option('--list', 'list the scenarios and exit', false)
  .option('--no-lake', 'skip the lake refresh and lake report at the end (~3 min)')
  .option('--keep', 'keep the chaos profile state of a previous matrix (default: start fresh)', false)
  .option('--report <path>', 'also write the rows as JSON here')
  .action(
    async (opts: { scenario?: Scenario[]; list: boolean; lake: boolean; keep: boolean; report?: string }) => {
      if (opts.list) {
        const width = Math.max(...SCENARIOS.map((scenario) => scenario.name.length))
        for (const scenario of SCENARIOS)
          process.stdout.write(`${scenario.name.padEnd(width)}  ${scenario.description}\n`)
        return
      }
      const selected = opts.scenario ?? SCENARIOS
      const started = Date.now()
      const services = await startServices(PROFILE, { fresh: !opts.keep, log })
      const kafka = localKafka(services)
      const search = localSearchClient(services)
      // As make run creates them: the first scenario reads their offsets before its runtime starts.
      await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
      const logDir = join(localPaths(PROFILE).root, 'logs', 'chaos')
      mkdirSync(logDir, { recursive: true })
      log(`runtime logs: ${logDir}`)
      const measured: Measured[] = []
      // The functions run in the runtimes' processes, and here too (a second firing, lake-window):
      // their logs and metrics go to the profile's function log, as make run's do, not to the table.
      const releaseOutput = captureFunctionOutput(localPaths(PROFILE).functionLog)
      try {
        for (const scenario of selected) {
          measured.push(await runScenario(scenario, kafka, search, logDir))
          log(`\n${renderTable(measured.map((m) => m.row))}`)
        }
        const rows = measured.map((m) => m.row)
        if (opts.lake) rows.push(await lakeRow(measured, log))
        releaseOutput()
        const table = renderTable(rows)
        process.stdout.write(`${table}\n`)
        if (opts.report) writeFileSync(opts.report, `${JSON.stringify(rows, null, 2)}\n`)
        const failed = matrixFailed(rows)
        log(`${rows.length} rows in ${seconds(Date.now() - started)} s: ${failed ? 'FAILED' : 'OK'}`)
        process.exitCode = failed ? 1 : 0
      } finally {
        releaseOutput()
        await search.close()
        // Whatever a scenario restarted too: the chaos profile's services are this command's own.
        await Promise.all([stopKafka(PROFILE, log), stopOpensearch(PROFILE, log)])
      }
    },
  )

// Ctrl-C: the runtimes run in process groups of their own, and a hung node must not stay hung.
process.once('SIGINT', () => {
  killRuntimes()
  const pid = opensearchPid(PROFILE)
  if (pid !== undefined) process.kill(pid, 'SIGCONT')
  process.exit(130)
})

await program.parseAsync()
