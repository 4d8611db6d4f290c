/**
 * backfill-bars benchmark (not a test): one simulated month of 1-minute bars for 5 symbols
 * (216,000 bars) through the local backfill path - the real backfill-bars state machine on the
 * local runtime, the poll-bars core into the test profile's Kafka, index-events and land-raw
 * consuming - then the lake refresh of the month on local Spark. Reports bars/s into Kafka (the
 * Alpaca free tier's ceiling, 200 requests/min x 10,000 bars a page, as the limit), the time to
 * land, the lake refresh time, and a re-run of the same window.
 *
 *   npx tsx bench/backfill-bars.ts [--days 30] [--symbols 5] [--no-lake]
 */
import { parseArgs } from 'node:util'
import { runLocalBackfill } from '../local/backfill.ts'
import { startAlpacaSimulator } from '../local/simulators/alpaca.ts'
import { benchMain } from './kit.ts'
import { type BenchRow, reportRows } from './rows.ts'

const FREE_TIER_BARS_PER_S = (200 * 10_000) / 60

interface Timings {
  days: number
  symbolCount: number
  bars: number
  expected: number
  planned: number
  produced: number
  landed: number
  /** The lake refresh, when the run had one. */
  refreshSeconds: number | null
  rerunSeconds: number
  rerunSucceeded: boolean
}

function backfillRows(t: Timings): BenchRow[] {
  const rate = t.bars / ((t.produced - t.planned) / 1000)
  const seconds = (figure: string, project: number, met?: boolean): BenchRow => ({
    figure,
    project,
    peer: null,
    ratio: null,
    aim: '-',
    unit: 's',
    ...(met === undefined ? {} : { met }),
  })
  return [
    {
      figure: `backfill-bars: ${t.days} d x ${t.symbolCount} symbols into Kafka (${t.bars.toLocaleString('en-US')} bars)`,
      project: rate,
      peer: FREE_TIER_BARS_PER_S,
      peerLabel: 'Alpaca free tier ceiling',
      ratio: rate / FREE_TIER_BARS_PER_S,
      aim: 'every bar once',
      unit: 'bars/s',
      met: t.bars === t.expected,
    },
    seconds('backfill-bars: produced -> landed (land-raw)', (t.landed - t.produced) / 1000),
    ...(t.refreshSeconds === null
      ? []
      : [
          seconds(
            `backfill-bars: lake refresh of the ${t.days} d (${Math.ceil(t.days / 7)} windows)`,
            t.refreshSeconds,
          ),
        ]),
    seconds('backfill-bars: re-run of the same window (nothing fetched)', t.rerunSeconds, t.rerunSucceeded),
  ]
}

async function main() {
  const { values } = parseArgs({
    options: {
      days: { type: 'string', default: '30' },
      symbols: { type: 'string', default: '5' },
      'no-lake': { type: 'boolean', default: false },
    },
  })
  const days = Number(values.days)
  const symbolCount = Number(values.symbols)
  // Unique per run: the progress objects of a symbol set and window outlive a run (that is the point).
  const run = Date.now().toString(36).toUpperCase().slice(-5)
  const symbols = Array.from({ length: symbolCount }, (_, i) => `BN${String.fromCharCode(65 + i)}${run}/USD`)
  const end = Date.UTC(2026, 9, 1)
  const input = {
    symbols,
    start: new Date(end - days * 86_400_000).toISOString().replace('.000Z', 'Z'),
    end: new Date(end).toISOString().replace('.000Z', 'Z'),
    refreshLake: !values['no-lake'],
  }
  const expected = days * 1440 * symbolCount

  const simulator = await startAlpacaSimulator({ seed: 31, timing: 'ideal' })
  const marks = new Map<string, number>()
  let bars = 0
  const started = performance.now()
  const result = await runLocalBackfill(input, {
    profile: 'test',
    alpacaUrl: simulator.url,
    eventSources: true,
    onTaskOutput: (state, output) => {
      marks.set(state, performance.now())
      if (state === 'Chunk') bars += (output as { emitted?: number }).emitted ?? 0
    },
    log: (line) => console.error(`[bench backfill-bars] ${line}`),
  })
  const finished = performance.now()
  if (result.status !== 'SUCCEEDED') {
    console.error(`backfill failed: ${result.error?.name}: ${result.error?.message}`)
    process.exit(1)
  }
  const planned = marks.get('Plan') ?? started
  const produced = marks.get('Chunk') ?? finished
  const landed = marks.get('AwaitLanded') ?? produced
  const refreshSeconds = input.refreshLake ? (finished - landed) / 1000 : null

  const rerunStarted = performance.now()
  const rerun = await runLocalBackfill(
    { ...input, refreshLake: false },
    { profile: 'test', alpacaUrl: simulator.url, eventSources: false, log: () => {} },
  )
  const rerunSeconds = (performance.now() - rerunStarted) / 1000
  await simulator.close()

  console.error(
    `[bench backfill-bars] ${bars} of ${expected} bars in ${((produced - planned) / 1000).toFixed(1)} s into Kafka; landed after ${((landed - produced) / 1000).toFixed(1)} s; lake refresh ${refreshSeconds?.toFixed(1) ?? '-'} s; re-run ${rerun.status} in ${rerunSeconds.toFixed(1)} s`,
  )
  reportRows(
    backfillRows({
      days,
      symbolCount,
      bars,
      expected,
      planned,
      produced,
      landed,
      refreshSeconds,
      rerunSeconds,
      rerunSucceeded: rerun.status === 'SUCCEEDED',
    }),
  )
  process.exit(0)
}

await benchMain(import.meta.url, main)
