/**
 * Backfill benchmark (not a test): 24 h of 1-minute bars for 20 symbols, from the bundled Alpaca
 * simulator through the real poll-bars core into the real Kafka broker (test profile). Prints
 * records/s and whether the whole backfill fits in one invocation of the packaged timeout.
 *
 *   npx tsx bench/backfill.ts [--symbols 20] [--hours 24] [--timeout-seconds 60]
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createAlpacaClient } from '../functions/poll-bars/alpaca.ts'
import { pollBars } from '../functions/poll-bars/core.ts'
import { fileWatermarkStore } from '../functions/poll-bars/watermark.ts'
import { createKafkaProducer, type KafkaConnection } from '../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../functions/shared/adapters/kafka-admin.ts'
import { isoSeconds } from '../functions/shared/time.ts'
import { TOPIC_DECLARATIONS } from '../functions/shared/topics.ts'
import { localKafka } from '../local/runtime/local-sinks.ts'
import { startServices } from '../local/services/index.ts'
import { startAlpacaSimulator } from '../local/simulators/alpaca.ts'
import { benchMain } from './kit.ts'
import { reportRows } from './rows.ts'

const BASES = 'BTC ETH LTC SOL AVAX LINK DOGE DOT UNI AAVE BCH XRP XTZ SUSHI YFI BAT CRV GRT MKR SHIB'.split(
  ' ',
)

/** `count` distinct symbols: the bases, then the bases again with a number. */
const symbolsOf = (count: number) =>
  Array.from({ length: count }, (_, i) => `${BASES[i % BASES.length]}${i >= BASES.length ? i : ''}/USD`)

/** The poll-bars core, once, with each symbol's watermark `hours` back: all of it is backfill. */
async function backfillOnce(
  kafka: KafkaConnection,
  alpacaUrl: string,
  symbols: string[],
  hours: number,
  timeoutMs: number,
) {
  const producer = createKafkaProducer(kafka, 'bench-backfill')
  const stateDir = mkdtempSync(join(tmpdir(), 'bench-backfill-'))
  const watermarks = fileWatermarkStore(join(stateDir, 'watermarks.json'))
  const now = new Date()
  const closed = Math.floor(now.getTime() / 60_000) * 60_000
  // Each symbol last saw a bar `hours` ago: the next poll must backfill all of it.
  const since = isoSeconds(closed - hours * 3_600_000 - 60_000)
  await watermarks.save(Object.fromEntries(symbols.map((symbol) => [symbol, since])), undefined)

  const client = createAlpacaClient({ baseUrl: alpacaUrl, location: 'us', timeoutMs: 10_000 })
  const started = performance.now()
  const summary = await pollBars(
    { scheduledAt: now, deadline: Date.now() + timeoutMs - 3_000 },
    {
      fetchBars: client.fetchBars,
      producer,
      watermarks,
      quarantine: async () => {},
      counter: { count: () => {} },
      clock: () => new Date(),
      config: { symbols, backfillMaxMinutes: hours * 60 + 1, initialLookbackMinutes: 5 },
    },
  )
  const seconds = (performance.now() - started) / 1000
  return { summary, seconds, close: () => producer.close() }
}

async function main() {
  const { values } = parseArgs({
    options: {
      symbols: { type: 'string', default: '20' },
      hours: { type: 'string', default: '24' },
      'timeout-seconds': { type: 'string', default: '60' },
    },
  })
  const symbolCount = Number(values.symbols)
  const hours = Number(values.hours)
  const timeoutMs = Number(values['timeout-seconds']) * 1000

  const services = await startServices('test')
  const kafka = localKafka(services)
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  const simulator = await startAlpacaSimulator({ seed: 11, faults: {} })
  const { summary, seconds, close } = await backfillOnce(
    kafka,
    simulator.url,
    symbolsOf(symbolCount),
    hours,
    timeoutMs,
  )
  const expected = symbolCount * hours * 60
  const complete =
    Object.values(summary.perSymbol).every((s) => s.status !== 'failed') && summary.emitted >= expected

  console.log(
    `backfill: ${symbolCount} symbols x ${hours} h of 1-minute bars, simulator -> poll-bars core -> Kafka ${services.kafka}`,
  )
  console.log(`  bars emitted        ${summary.emitted} (expected ${expected})`)
  console.log(`  wall time           ${seconds.toFixed(2)} s`)
  console.log(`  throughput          ${Math.round(summary.emitted / seconds)} records/s`)
  console.log(`  simulator requests  ${simulator.stats().requests}`)
  console.log(
    `  fits one invocation ${complete && seconds * 1000 < timeoutMs ? 'yes' : 'NO'} (timeout ${timeoutMs / 1000} s, ${((seconds * 1000 * 100) / timeoutMs).toFixed(0)}% used)`,
  )

  const fits = complete && seconds * 1000 < timeoutMs
  reportRows([
    {
      figure: `backfill ${hours} h x ${symbolCount} symbols -> Kafka`,
      project: summary.emitted / seconds,
      peer: null,
      ratio: null,
      aim: `fits one ${timeoutMs / 1000} s invocation (${seconds.toFixed(0)} s)`,
      unit: 'records/s',
      met: fits,
    },
  ])

  await close()
  await simulator.close()
  await services.stop()
}

await benchMain(import.meta.url, main)
