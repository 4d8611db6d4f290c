/**
 * Scale benchmark (not a test): the whole local pipeline (`make run`'s runtime: schedules, the
 * event-source emulator, every function, real Kafka and OpenSearch) at 50 symbols and 1,000
 * trades a minute for several minutes, on services of its own: the `chaos` profile's ports by
 * default (SCALE_PROFILE=run for make run's), never the test profile the suites share. Prints, per stage, records/s over the run, the largest
 * and the final consumer lag, and the CPU and memory of the three processes doing the work (the
 * runtime with every function in it, Kafka, OpenSearch); says which stage saturates first
 * (the consumer whose lag grows, else the busiest process).
 *
 *   npx tsx bench/scale.ts                 # 4 minutes
 *   SCALE_MINUTES=6 SCALE_SYMBOLS=50 SCALE_TRADES_PER_MINUTE=1000 npx tsx bench/scale.ts
 */
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { TOPICS } from '../functions/shared/contracts.ts'
import type { PipelineStatus } from '../local/dashboard/pipeline-status.ts'
import { progressLog } from '../local/progress-log.ts'
import { localPaths } from '../local/runtime/paths.ts'
import { eventSourceMappings, readTemplate } from '../local/runtime/template.ts'
import { type Profile, servicesStatus, startServices } from '../local/services/index.ts'
import { benchMain, runMeasuredPipeline } from './kit.ts'
import { type BenchRow, reportRows } from './rows.ts'

const minutes = Number(process.env.SCALE_MINUTES ?? 4)
const profile = (process.env.SCALE_PROFILE ?? 'chaos') as Profile
const symbolCount = Number(process.env.SCALE_SYMBOLS ?? 50)
const tradesPerMinute = Number(process.env.SCALE_TRADES_PER_MINUTE ?? 1000)
const log = progressLog('scale')

const BASES = ['BTC', 'ETH', 'LTC', 'SOL', 'AVAX', 'LINK', 'DOGE', 'DOT', 'UNI', 'AAVE']
const symbols = Array.from(
  { length: symbolCount },
  (_, i) => `${BASES[i % BASES.length]}${i >= BASES.length ? Math.floor(i / BASES.length) : ''}/USD`,
)

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
function processUsage(pid: number | undefined): { cpuSeconds: number; rssBytes: number } | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
    return { cpuSeconds: ticks / 100, rssBytes: rss }
  } catch {
    return undefined
  }
}

interface Sample {
  at: number
  status: PipelineStatus
  runtimeCpu: number
  runtimeRss: number
  kafka?: { cpuSeconds: number; rssBytes: number }
  opensearch?: { cpuSeconds: number; rssBytes: number }
}

/** The steady part of the samples, and each figure's rate of change over it. */
interface Steady {
  samples: Sample[]
  first: Sample
  last: Sample
  seconds: number
  rate(pick: (s: Sample) => number): number
}

/**
 * The steady part: a minute after the schedules began (start-up backfill done) until they
 * stopped (the final lake refresh and report come after and are not load).
 */
function steadyWindow(samples: Sample[], runningAt?: number, stoppedAt?: number): Steady {
  const steady = samples.filter(
    (s) => s.at >= (runningAt ?? 0) + 60_000 && s.at <= (stoppedAt ?? Number.POSITIVE_INFINITY),
  )
  const first = steady[0]
  const last = steady.at(-1)
  if (!first || !last || first === last) throw new Error('too few pipeline samples to measure')
  const seconds = (last.at - first.at) / 1000
  return { samples: steady, first, last, seconds, rate: (pick) => (pick(last) - pick(first)) / seconds }
}

/** Per topic: produced, indexed and landed per second, and the consumers' lag (largest, final). */
function topicFigures(w: Steady, lines: string[], rows: BenchRow[]): void {
  for (const topic of Object.keys(w.last.status.topics)) {
    const produced = w.rate((s) => s.status.topics[topic]?.produced ?? 0)
    const indexed = w.rate((s) => s.status.topics[topic]?.indexed ?? 0)
    const landed = w.rate((s) => s.status.topics[topic]?.landed ?? 0)
    const lagMax: Record<string, number> = {}
    for (const s of w.samples)
      for (const [consumer, lag] of Object.entries(s.status.topics[topic]?.lag ?? {}))
        lagMax[consumer] = Math.max(lagMax[consumer] ?? 0, lag)
    const lagEnd = w.last.status.topics[topic]?.lag ?? {}
    lines.push(
      `  ${topic.padEnd(14)} produced ${produced.toFixed(1)}/s, indexed ${indexed.toFixed(1)}/s, landed ${landed.toFixed(1)}/s; lag max ${JSON.stringify(lagMax)}, at the end ${JSON.stringify(lagEnd)}`,
    )
    rows.push({
      figure: `scale: ${topic} indexed / produced`,
      project: indexed,
      peer: produced,
      peerLabel: 'produced',
      ratio: produced > 0 ? indexed / produced : null,
      aim: 'keeps up (~1x), lag bounded',
      unit: 'records/s',
    })
  }
}

/** CPU share and final RSS of the three processes doing the work; returns them, busiest first. */
function processFigures(w: Steady, lines: string[], rows: BenchRow[]) {
  const cores = cpus().length
  const cpuShare = (pick: (s: Sample) => number | undefined) => {
    const a = pick(w.first)
    const b = pick(w.last)
    return a === undefined || b === undefined ? Number.NaN : ((b - a) / w.seconds) * 100
  }
  const processes = [
    ['runtime (every function)', cpuShare((s) => s.runtimeCpu), w.last.runtimeRss],
    ['kafka', cpuShare((s) => s.kafka?.cpuSeconds), w.last.kafka?.rssBytes ?? Number.NaN],
    ['opensearch', cpuShare((s) => s.opensearch?.cpuSeconds), w.last.opensearch?.rssBytes ?? Number.NaN],
  ] as const
  for (const [name, cpu, rss] of processes) {
    lines.push(
      `  ${name.padEnd(26)} CPU ${cpu.toFixed(0)}% of one core (of ${cores * 100}%), RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
    )
    rows.push({
      figure: `scale: ${name} CPU`,
      project: cpu,
      peer: cores * 100,
      peerLabel: `${cores} cores`,
      ratio: cpu / (cores * 100),
      aim: 'informative',
      unit: '% core',
    })
  }
  return [...processes].sort((a, b) => b[1] - a[1])
}

/**
 * Saturation: a consumer whose lag grew over the steady window (a consumer that keeps up has a
 * bounded lag, one that cannot has a lag that grows as long as the load lasts) and ends above a
 * minute of input on top of what its batching window holds back by design (land-raw waits up
 * to 60 s to write larger objects: a minute's bars are lag, not saturation). `windowMs` is each
 * mapping's MaximumBatchingWindowInSeconds, by `function/topic`. The rate is a floor of the
 * input: bars come in whole-minute bursts, so a 2-minute window may count one burst or two.
 */
function saturationLine(
  w: Steady,
  busiest: readonly [string, number, number] | undefined,
  windowMs: Map<string, number>,
): string {
  const growing = Object.keys(w.last.status.topics).flatMap((topic) => {
    const perSecond = w.rate((s) => s.status.topics[topic]?.produced ?? 0)
    const lagAtStart = w.first.status.topics[topic]?.lag ?? {}
    return Object.entries(w.last.status.topics[topic]?.lag ?? {})
      .filter(
        ([consumer, lag]) =>
          lag > (lagAtStart[consumer] ?? 0) &&
          lag > perSecond * (60 + (windowMs.get(`${consumer}/${topic}`) ?? 0) / 1000),
      )
      .map(([consumer]) => `${consumer} on ${topic}`)
  })
  return growing.length > 0
    ? `  saturates first: ${growing.join(', ')} (lag grew, and ends above a minute of input` +
        ' beyond its batching window)'
    : `  no consumer fell behind; the busiest process is ${busiest?.[0]} (${busiest?.[1].toFixed(0)}% of one core)`
}

/**
 * A figure measured on a broken run is no figure: lost records, a lake refresh that did not
 * succeed, invocations that failed, and a per-minute topic that stood still are problems.
 */
function runProblems(report: Record<string, unknown>, exitCode: number, w: Steady): string[] {
  const problems: string[] = []
  if (exitCode !== 0) problems.push('the run report failed (lost, duplicate or stale records)')
  if (Number(report.lost) > 0) problems.push(`${report.lost} records lost`)
  const lakeRuns = (report.state_machines ?? []) as Array<{ name: string; status: string; error?: string }>
  for (const run of lakeRuns.filter((r) => r.status !== 'SUCCEEDED'))
    problems.push(`${run.name} ${run.status}: ${run.error ?? 'no error message'}`)
  const functions = (report.functions ?? {}) as Record<string, { invocations: number; errors: number }>
  for (const [name, { invocations, errors }] of Object.entries(functions))
    if (errors > 0) problems.push(`${name}: ${errors} of ${invocations} invocations failed`)
  for (const topic of [TOPICS.bars, TOPICS.trades])
    if (w.rate((s) => s.status.topics[topic]?.produced ?? 0) === 0)
      problems.push(`${topic}: nothing produced in the steady window`)
  return problems
}

async function main() {
  // Services of the profile, started here if down and stopped at the end only if so.
  const services = await startServices(profile, { log })
  const pids = await servicesStatus(profile)
  Object.assign(process.env, { SYMBOLS: symbols.join(','), TRADES_PER_MINUTE: String(tradesPerMinute) })
  log(`${symbolCount} symbols, ${tradesPerMinute} trades/min, ${minutes} min on the ${profile} profile`)

  const samples: Sample[] = []
  const { report, exitCode, runningAt, stoppedAt } = await runMeasuredPipeline({
    profile,
    minutes,
    onStatus: (status) => {
      const cpu = process.cpuUsage()
      samples.push({
        at: Date.now(),
        status,
        runtimeCpu: (cpu.user + cpu.system) / 1e6,
        runtimeRss: process.memoryUsage.rss(),
        kafka: processUsage(pids.kafka.pid),
        opensearch: processUsage(pids.opensearch.pid),
      })
    },
    // Progress, the lake, and every failed invocation: a failing schedule shows as a flat rate.
    log: (line) => {
      if (/^(running|stopping|lake)|failed|FAILED/.test(line)) log(line)
    },
  })
  await services.stop()

  const w = steadyWindow(samples, runningAt, stoppedAt)
  const rows: BenchRow[] = []
  const lines = [
    `scale — ${symbolCount} symbols, ${tradesPerMinute} trades/min, steady ${w.seconds.toFixed(0)} s`,
  ]
  topicFigures(w, lines, rows)
  const [busiest] = processFigures(w, lines, rows)
  // The package the run used (runPipeline packages the service there, or finds it up to date).
  const template = readTemplate(join(localPaths(profile).packageDir, 'dev'))
  const windowMs = new Map(
    eventSourceMappings(template).flatMap((m) =>
      m.topics.map((t) => [`${m.functionName}/${t}`, m.batchWindowMs] as const),
    ),
  )
  lines.push(saturationLine(w, busiest, windowMs))
  lines.push(`  run report: lost ${report.lost}, duplicates ${report.duplicates}, stale ${report.stale}`)
  console.log(lines.join('\n'))
  rows.push({
    figure: 'scale: records lost',
    project: Number(report.lost),
    peer: null,
    ratio: null,
    aim: '0',
    unit: 'records',
    met: Number(report.lost) === 0,
  })
  reportRows(rows)

  const problems = runProblems(report, exitCode, w)
  if (problems.length > 0) {
    console.log(`  FAILED: ${problems.join('; ')}`)
    process.exit(1)
  }
  process.exit(0)
}

await benchMain(import.meta.url, main)
