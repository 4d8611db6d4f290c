/**
 * Benchmark (not a test): how fresh the live index is, through the real local pipeline.
 *
 * Starts the bundled Alpaca simulator in its realistic timing (a bar published 1 s after its
 * minute, a seeded 30 % recalculated 30 s later), runs `make run`'s pipeline against it on the
 * test profile's Kafka and OpenSearch for a few minutes, and watches OpenSearch meanwhile
 * (a search every 250 ms). For each bar it records when the simulator published it and when it
 * first became searchable; for each recalculated bar, when the recalculation was published and
 * when the index first held the final values. Prints p50/p99 of both, each also as a ratio to
 * the one-minute schedule period (the bound of the old `rate(1 minute)` design) and to the
 * index -> searchable round trip of a probe document measured in the same run (the node's floor).
 *
 * It also reports produced -> searchable and produced -> raw zone: the produce instant of a bar is
 * the Kafka timestamp (CREATE_TIME, set by poll-bars' producer) of its first record on
 * crypto.bars in this run, read back after the run; this leaves out the poller's deliberate wait
 * for the minute's publication, so it is the event-source -> index-events -> OpenSearch path alone.
 *
 * It ends by checking convergence against the simulator's truth: every bar whose final version
 * was published at least 90 s before the end holds that final version, once, in OpenSearch; the
 * run report says the same of the lake (`stale`, `lost`, `duplicates` over the newest revisions).
 *
 *   npx tsx bench/freshness.ts                 # 8 minutes of polling
 *   FRESHNESS_MINUTES=10 npx tsx bench/freshness.ts
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { gunzipSync } from 'node:zlib'
import Big from 'big.js'
import type { KafkaConnection } from '../functions/shared/adapters/kafka.ts'
import { barEventId } from '../functions/shared/contracts.ts'
import { isoSeconds } from '../functions/shared/time.ts'
import { progressLog } from '../local/progress-log.ts'
import { storeSummary } from '../local/report/store.ts'
import { localPaths } from '../local/run.ts'
import { endOffsets, readRange } from '../local/runtime/kafka-read.ts'
import { localKafka, localSearchClient } from '../local/runtime/local-sinks.ts'
import { startServices } from '../local/services/index.ts'
import {
  DEFAULT_TIMING,
  isRecalculated,
  simulatedBar,
  startAlpacaSimulator,
} from '../local/simulators/alpaca.ts'
import { benchMain, percentile, runMeasuredPipeline } from './kit.ts'
import { type BenchRow, reportRows } from './rows.ts'

const MINUTE = 60_000
const minutes = Number(process.env.FRESHNESS_MINUTES ?? 8)
const seed = Number(process.env.ALPACA_SIM_SEED ?? 7)
const symbols = (process.env.SYMBOLS ?? 'BTC/USD,LTC/USD').split(',')
const SETTLED_FOR_MS = 90_000
const log = progressLog('bench')

interface Seen {
  /** First time any revision of the bar was searchable. */
  first?: number
  /** First time the searchable document held the final values. */
  final?: number
}

type Search = ReturnType<typeof localSearchClient>

const sameValues = (doc: Record<string, unknown>, truth: ReturnType<typeof simulatedBar>) =>
  new Big(String(doc.close)).eq(truth.c) &&
  new Big(String(doc.high)).eq(truth.h) &&
  new Big(String(doc.low)).eq(truth.l) &&
  new Big(String(doc.volume)).eq(truth.v) &&
  Number(doc.trade_count) === truth.n

/** Runs `step` every `everyMs` until stopped; stop() resolves when the last step is done. */
function watchEvery(everyMs: number, step: () => Promise<void> | void): { stop(): Promise<void> } {
  let watching = true
  const loop = (async () => {
    while (watching) {
      await step()
      await sleep(everyMs)
    }
  })()
  return {
    stop: async () => {
      watching = false
      await loop
    },
  }
}

/** The node's own floor: index one probe document and poll until a search finds it, five times. */
async function nodeFloors(search: Search): Promise<number[]> {
  const probeIndex = 'bench-freshness-probe'
  const floors: number[] = []
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    await search.index({ index: probeIndex, id: String(i), body: { at: Date.now() } })
    for (;;) {
      const found = await search.search({
        index: probeIndex,
        body: { query: { ids: { values: [String(i)] } } },
      })
      if ((found.body.hits.hits as unknown[]).length > 0) break
      await sleep(50)
    }
    floors.push(performance.now() - started)
  }
  await search.indices.delete({ index: probeIndex })
  return floors
}

/** Every 250 ms: which bars are searchable, and which hold the simulator's final values. */
function watchSearchable(search: Search, started: number, seen: Map<string, Seen>) {
  return watchEvery(250, async () => {
    const result = await search
      .search({
        index: 'crypto-bars',
        body: {
          size: 1000,
          query: { range: { start: { gte: isoSeconds(started - 10 * MINUTE) } } },
        },
      })
      .catch(() => undefined)
    const now = Date.now()
    for (const hit of (result?.body.hits.hits ?? []) as Array<{ _source: Record<string, unknown> }>) {
      const doc = hit._source
      const id = String(doc.event_id)
      const entry = seen.get(id) ?? {}
      entry.first ??= now
      const minute = Date.parse(String(doc.start)) / MINUTE
      if (entry.final === undefined && sameValues(doc, simulatedBar(seed, String(doc.symbol), minute)))
        entry.final = now
      seen.set(id, entry)
    }
  })
}

/**
 * The raw zone: when each bar first appears in a landed block (land-raw's NDJSON.gz objects
 * under the profile's raw bucket directory), checked every second.
 */
function watchRawZone(started: number, landed: Map<string, number>) {
  const barsDir = join(localPaths('test').rawBucket, 'raw', 'crypto.bars')
  const readAt = new Map<string, number>()
  return watchEvery(1000, () => {
    const now = Date.now()
    const days = existsSync(barsDir)
      ? readdirSync(barsDir).filter((d) => d >= `dt=${isoSeconds(started - 10 * MINUTE).slice(0, 10)}`)
      : []
    for (const day of days) {
      for (const hour of readdirSync(join(barsDir, day))) {
        for (const file of readdirSync(join(barsDir, day, hour))) {
          const path = join(barsDir, day, hour, file)
          const mtime = statSync(path, { throwIfNoEntry: false })?.mtimeMs
          if (mtime === undefined || readAt.get(path) === mtime) continue
          readAt.set(path, mtime)
          try {
            for (const line of gunzipSync(readFileSync(path)).toString('utf8').split('\n')) {
              if (!line) continue
              const id = (JSON.parse(line) as { event_id?: string }).event_id
              if (id && !landed.has(id)) landed.set(id, now)
            }
          } catch {
            readAt.delete(path) // caught mid-write: read it again next time
          }
        }
      }
    }
  })
}

/** The produce instant of each bar: the timestamp of its first record in this run. */
async function producedTimes(kafka: KafkaConnection, from: bigint[]): Promise<Map<string, number>> {
  const to = (await endOffsets(kafka, ['crypto.bars'])).get('crypto.bars') ?? []
  const producedAt = new Map<string, number>()
  for (const message of await readRange(kafka, 'crypto.bars', from, to)) {
    const id = (JSON.parse(message.value.toString('utf8')) as { event_id?: string }).event_id
    const at = Number(message.timestamp)
    if (id && !(at >= (producedAt.get(id) ?? Number.POSITIVE_INFINITY))) producedAt.set(id, at)
  }
  return producedAt
}

/** What was observed of each bar: searchable (first, final), landed, produced. */
interface Observed {
  seen: Map<string, Seen>
  landed: Map<string, number>
  producedAt: Map<string, number>
}

/**
 * The latencies of the bars published while the schedules ran (earlier ones are a start-up
 * backfill), with time for one poll after their publication before the schedules stopped; and
 * which bars final >= 90 s before the end hold their final version.
 */
function latencies({ seen, landed, producedAt }: Observed, runningAt: number, ended: number) {
  const firstMinute = Math.ceil((runningAt - DEFAULT_TIMING.publishDelayMs) / MINUTE) - 1
  const lastMinute = Math.floor((ended - 10_000 - DEFAULT_TIMING.publishDelayMs) / MINUTE) - 1
  const out = {
    published: [] as number[],
    publishedToRaw: [] as number[],
    revised: [] as number[],
    produced: [] as number[],
    producedToRaw: [] as number[],
    expectedFinal: 0,
    heldFinal: 0,
    notFinal: [] as string[],
  }
  for (const symbol of symbols) {
    for (let minute = firstMinute; minute <= lastMinute; minute++) {
      const id = barEventId(symbol, isoSeconds(minute * MINUTE))
      const publishedAt = (minute + 1) * MINUTE + DEFAULT_TIMING.publishDelayMs
      const recalculated = isRecalculated(seed, symbol, minute, DEFAULT_TIMING.recalcFraction)
      const finalAt = recalculated ? publishedAt + DEFAULT_TIMING.recalcDelayMs : publishedAt
      const entry = seen.get(id)
      if (entry?.first !== undefined) out.published.push(entry.first - publishedAt)
      const landedAt = landed.get(id)
      if (landedAt !== undefined) out.publishedToRaw.push(landedAt - publishedAt)
      const producedFirst = producedAt.get(id)
      if (producedFirst !== undefined && entry?.first !== undefined)
        out.produced.push(entry.first - producedFirst)
      if (producedFirst !== undefined && landedAt !== undefined)
        out.producedToRaw.push(landedAt - producedFirst)
      if (recalculated && entry?.final !== undefined) out.revised.push(entry.final - finalAt)
      if (finalAt + SETTLED_FOR_MS <= ended) {
        out.expectedFinal++
        if (entry?.final !== undefined) out.heldFinal++
        else out.notFinal.push(id)
      }
    }
  }
  return out
}

type Latencies = ReturnType<typeof latencies>

function printLatencies(l: Latencies, floor: number): void {
  const line = (name: string, values: number[]) => {
    const p50 = percentile(values, 50)
    const p99 = percentile(values, 99)
    return `${name}: n=${values.length} p50 ${(p50 / 1000).toFixed(2)} s, p99 ${(p99 / 1000).toFixed(2)} s | p50/period ${(p50 / MINUTE).toFixed(3)}, p99/period ${(p99 / MINUTE).toFixed(3)} | p50/node floor ${(p50 / floor).toFixed(1)}x`
  }
  console.log(`node floor (index -> searchable, probe document): p50 ${(floor / 1000).toFixed(2)} s`)
  console.log(line('bar published -> searchable', l.published))
  console.log(line('bar produced -> searchable (250 ms polling)', l.produced))
  console.log(line('revision published -> searchable', l.revised))
  console.log(line('bar published -> in the raw zone (1 s polling)', l.publishedToRaw))
  console.log(line('bar produced -> in the raw zone (1 s polling)', l.producedToRaw))
  console.log(
    `final version held in OpenSearch for bars final >= 90 s before the end: ${l.heldFinal}/${l.expectedFinal}${l.notFinal.length ? ` (missing: ${l.notFinal.join(', ')})` : ''}`,
  )
}

function latencyRows(l: Latencies, floor: number): BenchRow[] {
  /** A percentile row; searchable figures are set against the node's floor, raw-zone ones alone. */
  const row = (figure: string, values: number[], aim?: number): BenchRow => {
    const p = percentile(values, figure.includes('p99') ? 99 : 50) / 1000
    const searchable = figure.includes('searchable')
    return {
      figure,
      project: p,
      peer: searchable ? floor / 1000 : null,
      ...(searchable ? { peerLabel: 'node floor: probe index -> searchable' } : {}),
      ratio: searchable ? p / (floor / 1000) : null,
      aim: aim === undefined ? 'informative' : `<= ${aim} s`,
      unit: 's',
      ...(aim === undefined ? {} : { met: values.length > 0 && p <= aim }),
    }
  }
  // Produced = the Kafka CREATE_TIME of the bar's first record; the sampling interval bounds how
  // late an observation can be.
  const searchPolling = 'Kafka timestamp, 250 ms search polling'
  const rawPolling = 'Kafka timestamp, 1 s raw-zone polling'
  return [
    row(`bar published -> searchable p50 (n=${l.published.length})`, l.published),
    row(`bar published -> searchable p99 (n=${l.published.length})`, l.published),
    row(`bar produced -> searchable p50 (n=${l.produced.length}, ${searchPolling})`, l.produced),
    row(`bar produced -> searchable p99 (n=${l.produced.length}, ${searchPolling})`, l.produced, 3),
    row(`bar produced -> raw zone p50 (n=${l.producedToRaw.length}, ${rawPolling})`, l.producedToRaw),
    row(`bar produced -> raw zone p99 (n=${l.producedToRaw.length}, ${rawPolling})`, l.producedToRaw),
    row(`bar published -> raw zone p50 (n=${l.publishedToRaw.length})`, l.publishedToRaw),
    row(`bar published -> raw zone p99 (n=${l.publishedToRaw.length})`, l.publishedToRaw),
    row(`revision published -> searchable p50 (n=${l.revised.length})`, l.revised),
    row(`revision published -> searchable p99 (n=${l.revised.length})`, l.revised),
    {
      figure: 'final bar versions held in OpenSearch',
      project: l.heldFinal,
      peer: l.expectedFinal,
      peerLabel: 'published',
      ratio: l.expectedFinal > 0 ? l.heldFinal / l.expectedFinal : null,
      aim: 'all',
      unit: 'bars',
      met: l.heldFinal === l.expectedFinal && l.expectedFinal > 0,
    },
  ]
}

async function main() {
  const services = await startServices('test', { log })
  const search = localSearchClient(services)
  const floors = await nodeFloors(search)

  const simulator = await startAlpacaSimulator({ seed, timing: 'realistic' })
  process.env.ALPACA_DATA_URL = simulator.url
  log(`simulator ${simulator.url} (realistic timing, seed ${seed}); running the pipeline for ${minutes} min`)

  const kafka = localKafka(services)
  const barsFrom = (await endOffsets(kafka, ['crypto.bars'])).get('crypto.bars') ?? []
  const started = Date.now()
  const seen = new Map<string, Seen>()
  const landed = new Map<string, number>()
  const watchers = [watchSearchable(search, started, seen), watchRawZone(started, landed)]
  const { report, exitCode, runningAt, stoppedAt } = await runMeasuredPipeline({ profile: 'test', minutes })
  for (const watcher of watchers) await watcher.stop()
  if (runningAt === undefined || stoppedAt === undefined)
    throw new Error('the run never reported its schedules running')

  const observed = { seen, landed, producedAt: await producedTimes(kafka, barsFrom) }
  const l = latencies(observed, runningAt, stoppedAt)
  const floor = percentile(floors, 50)
  printLatencies(l, floor)
  reportRows(latencyRows(l, floor))
  const lake = (report.lake as { topics?: Record<string, Record<string, number>> } | undefined)?.topics?.[
    'crypto.bars'
  ]
  console.log(
    `run report: lost ${report.lost}, duplicates ${report.duplicates}, stale ${report.stale}; lake bars ${JSON.stringify(lake ?? {})}`,
  )
  // The whole store is reconciled too (everything the profile's topics hold): say what failed it.
  if (exitCode !== 0) for (const line of storeSummary(report.store)) console.log(`store: ${line}`)
  await simulator.close()
  await search.close()
  await services.stop()
  process.exit(exitCode === 0 && l.heldFinal === l.expectedFinal && l.published.length > 0 ? 0 : 1)
}

await benchMain(import.meta.url, main)
