/**
 * Benchmark (not a test) of index-events against the local OpenSearch node, in one run:
 *  - throughput of the real handler on one 10,000-record MSK batch of mixed topics, in records/s
 *    and as a ratio to a plain `_bulk` of the same documents (pre-built: no decoding, no
 *    validation, no tokenization) — the limit the node sets;
 *  - decode + validation cost per record, as a ratio to `JSON.parse` alone;
 *  - the handler's peak memory.
 *
 *   npx tsx bench/index-events.ts            # against the test profile's node (127.0.0.1:29200)
 *   OPENSEARCH_URL=http://127.0.0.1:19200 npx tsx bench/index-events.ts
 *
 * The documents go to indices of their own (event month 2001-01, deleted at the end) and to
 * `crypto-assets` under bench-only asset ids (deleted at the end): nothing else is touched.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { slicesOf } from '../functions/index-events/bulk-pipeline.ts'
import { toBulkDoc } from '../functions/index-events/core.ts'
import { baseAssetOf } from '../functions/index-events/icons.ts'
import {
  BULK_RESPONSE_FIELDS,
  bulkBody,
  createOpenSearchClient,
} from '../functions/shared/adapters/opensearch.ts'
import type { AssetEvent, BarEvent, TradeEvent } from '../functions/shared/contracts.ts'
import { decodeRecord } from '../functions/shared/decode-record.ts'
import type { KafkaBatchResponse, MskEvent, MskRecord } from '../functions/shared/msk.ts'
import { loadFunction } from '../local/runtime/lambda.ts'
import { projectRoot, startServices } from '../local/services/index.ts'
import { benchMain, median } from './kit.ts'
import { reportRows } from './rows.ts'

const RECORDS = 10_000
/** Timed rounds, each a handler invocation next to a plain bulk: the node's load drifts between rounds. */
const ROUNDS = 15
/**
 * Plain-bulk shapes tried on this node (documents per request x requests in flight): the fastest
 * is the baseline, so the ratio is to what the node does at its best, not to one arbitrary shape.
 * Refresh stays at the index templates' interval on both sides: the live index must become
 * searchable within seconds, so a disabled refresh is not a shape index-events could use.
 */
const BULK_SHAPES = [
  { docs: 10_000, inFlight: 1 },
  { docs: 5_000, inFlight: 2 },
  { docs: 2_500, inFlight: 2 },
  { docs: 2_500, inFlight: 4 },
  { docs: 1_000, inFlight: 4 },
]
const run = Math.random()
  .toString(36)
  .slice(2, 6)
  .toUpperCase()
  .replace(/[^A-Z0-9]/g, 'X')
const MONTH = '2001-01'
const PII_KEY = 'c'.repeat(64)

/** 60% bars, 38% trades, 2% assets, interleaved the way a mixed batch arrives. */
function events(): Array<{
  topic: MskRecord['topic']
  key: string
  value: BarEvent | TradeEvent | AssetEvent
}> {
  const assets = Array.from({ length: RECORDS / 50 }, (_, i) => `B${run}${i}`)
  const out: Array<{ topic: MskRecord['topic']; key: string; value: BarEvent | TradeEvent | AssetEvent }> = []
  for (let i = 0; i < RECORDS; i++) {
    const assetId = assets[i % assets.length] as string
    const symbol = `${assetId}/USD`
    const minute = String(Math.floor(i / assets.length) % 60).padStart(2, '0')
    const hour = String(Math.floor(i / assets.length / 60) % 24).padStart(2, '0')
    const at = `${MONTH}-01T${hour}:${minute}:00Z`
    if (i % 50 === 0) {
      out.push({
        topic: 'crypto.assets',
        key: assetId,
        value: {
          schema_version: 1,
          event_id: `coinapi:${assetId}:${MONTH}-01`,
          source: 'coinapi',
          asset_id: assetId,
          icon_url: `https://icons.example.com/${assetId}.png`,
          icon_size: 32,
          fetch_date: `${MONTH}-01`,
          fetched_at: `${MONTH}-01T00:00:10Z`,
        },
      })
    } else if (i % 5 < 3) {
      out.push({
        topic: 'crypto.bars',
        key: symbol,
        value: {
          schema_version: 2,
          revision: Date.parse(`${MONTH}-01T${hour}:${minute}:05Z`),
          event_id: `alpaca:${symbol}:${at}`,
          source: 'alpaca',
          symbol,
          timeframe: '1Min',
          start: at,
          open: '96990.1',
          // Holds every close below: the contract requires low <= open, close <= high.
          high: '97100',
          low: '96980.25',
          close: `${97000 + (i % 100)}.5`,
          volume: '0.5123',
          trade_count: 12,
          vwap: '96999.9',
          ingested_at: `${MONTH}-01T${hour}:${minute}:05Z`,
        },
      })
    } else {
      const tradeId = `20010101${hour}${minute}-${String(i % 10_000).padStart(4, '0')}`
      out.push({
        topic: 'crypto.trades',
        key: `u-${String(i % 1000).padStart(6, '0')}`,
        value: {
          schema_version: 1,
          event_id: `sim:${tradeId}`,
          source: 'simulator',
          trade_id: tradeId,
          scheduled_at: at,
          executed_at: at.replace(':00Z', ':07Z'),
          user_id: `u-${String(i % 1000).padStart(6, '0')}`,
          user_name: 'Maria Souza',
          user_email: 'maria.souza@example.com.br',
          document_id: '52998224725',
          symbol,
          side: i % 2 === 0 ? 'BUY' : 'SELL',
          price: '97001.25',
          quantity: '0.002',
          notional: '194.0025',
          quote_at: at,
        },
      })
    }
  }
  return out
}

function mskBatch(): MskEvent {
  const records: Record<string, MskRecord[]> = {}
  const partitions = { 'crypto.bars': 3, 'crypto.trades': 6, 'crypto.assets': 1 } as Record<string, number>
  const nextOffset = new Map<string, number>()
  for (const { topic, key, value } of events()) {
    const partition =
      [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 0) % (partitions[topic] ?? 1)
    const id = `${topic}-${partition}`
    const offset = nextOffset.get(id) ?? 0
    nextOffset.set(id, offset + 1)
    const list = records[id] ?? []
    list.push({
      topic,
      partition,
      offset,
      timestamp: Date.parse(`${MONTH}-01T00:00:00Z`),
      timestampType: 'CREATE_TIME',
      key: Buffer.from(key).toString('base64'),
      value: Buffer.from(JSON.stringify(value)).toString('base64'),
      headers: [],
    })
    records[id] = list
  }
  return { eventSource: 'aws:kafka', eventSourceArn: 'arn:bench', bootstrapServers: 'bench', records }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

type Search = ReturnType<typeof createOpenSearchClient>
type Timed = () => Promise<void>

/** Decode + validation per record, against JSON.parse alone on the same value texts, in ns. */
function decodeCost(records: MskRecord[]): { parseNs: number; decodeNs: number } {
  const texts = records.map((r) => Buffer.from(r.value ?? '', 'base64').toString('utf8'))
  const parseTimes: number[] = []
  const decodeTimes: number[] = []
  // Many short rounds, median: a collection landing in one loop moves a mean, not a median.
  for (let round = 0; round < 21; round++) {
    let t = performance.now()
    for (const text of texts) JSON.parse(text)
    parseTimes.push(performance.now() - t)
    t = performance.now()
    for (const record of records) if (!decodeRecord(record).ok) throw new Error('bench record rejected')
    decodeTimes.push(performance.now() - t)
  }
  return {
    parseNs: (median(parseTimes) * 1e6) / records.length,
    decodeNs: (median(decodeTimes) * 1e6) / records.length,
  }
}

/**
 * The same documents index-events sends, pre-built for a plain _bulk: per shape, a run that sends
 * them in request bodies of `shape.docs`, `shape.inFlight` at a time.
 */
function plainBulk(client: Search, records: MskRecord[]) {
  const decoded = records.map((record) => {
    const result = decodeRecord(record)
    if (!result.ok) throw new Error('bench record rejected')
    return result
  })
  // With the icon index-events attaches to a trade: the batch's own asset events carry them.
  const icons = new Map<string, string>()
  for (const { topic, event } of decoded)
    if (topic === 'crypto.assets') icons.set((event as AssetEvent).asset_id, (event as AssetEvent).icon_url)
  const docs = decoded.map(({ topic, event }) => {
    const icon = topic === 'crypto.trades' ? icons.get(baseAssetOf((event as TradeEvent).symbol)) : undefined
    return toBulkDoc(topic, event, PII_KEY, icon)
  })
  const bulkOnce = async (body: Array<Record<string, unknown>>) => {
    // The same response fields index-events asks for: a baseline that parses a 2 MB answer it does
    // not read would flatter the handler.
    const response = await client.bulk({ body, filter_path: BULK_RESPONSE_FIELDS })
    // As in index-events, a bar the node already holds at its revision (every round after the
    // first, on both sides) is a version conflict, not an error.
    const items = response.body.items as Array<{ index?: { error?: { type?: string } } }>
    const failed = items.filter(
      (item) => item.index?.error && item.index.error.type !== 'version_conflict_engine_exception',
    )
    if (failed.length > 0) throw new Error('plain _bulk reported item errors')
  }
  return (shape: (typeof BULK_SHAPES)[number]): Timed => {
    const bodies = slicesOf(docs, shape.docs).map(bulkBody)
    return async () => {
      let next = 0
      await Promise.all(
        Array.from({ length: shape.inFlight }, async () => {
          while (next < bodies.length) await bulkOnce(bodies[next++] as Array<Record<string, unknown>>)
        }),
      )
    }
  }
}

/** Each bulk shape twice (after the handler's warm-up); the fastest becomes the baseline. */
async function bulkShapes(plainBulkOf: ReturnType<typeof plainBulk>) {
  const shapes = BULK_SHAPES.map((shape) => ({ shape, run: plainBulkOf(shape), times: [] as number[] }))
  for (let i = 0; i < 2; i++) {
    for (const shape of shapes) {
      const t = performance.now()
      await shape.run()
      shape.times.push(performance.now() - t)
    }
  }
  const best = shapes.reduce((a, b) => (median(b.times) < median(a.times) ? b : a))
  return { shapes, best, bestLabel: `${best.shape.docs} docs x ${best.shape.inFlight} in flight` }
}

/**
 * Timed rounds: the handler next to the baseline, which goes first every other round (whatever
 * the node still does after a run, merges or a refresh, slows the run after it); the ratio is
 * the median of the rounds' ratios, which the node's drifting load moves least.
 */
async function timedRounds(invokeHandler: Timed, baseline: Timed) {
  const handlerTimes: number[] = []
  const bulkTimes: number[] = []
  const ratios: number[] = []
  const timed = async (run: Timed, into: number[]) => {
    const t = performance.now()
    await run()
    into.push(performance.now() - t)
  }
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      await timed(invokeHandler, handlerTimes)
      await timed(baseline, bulkTimes)
    } else {
      await timed(baseline, bulkTimes)
      await timed(invokeHandler, handlerTimes)
    }
    ratios.push((bulkTimes.at(-1) as number) / (handlerTimes.at(-1) as number))
  }
  return { handlerTimes, bulkTimes, ratios }
}

/** Memory on one more invocation, sampled apart from the timed rounds (sampling costs CPU). */
async function peakMemory(invokeHandler: Timed): Promise<{ heapPeak: number; rssPeak: number }> {
  let heapPeak = 0
  let rssPeak = 0
  const sampler = setInterval(() => {
    const usage = process.memoryUsage()
    heapPeak = Math.max(heapPeak, usage.heapUsed)
    rssPeak = Math.max(rssPeak, usage.rss)
  }, 5)
  try {
    await invokeHandler()
  } finally {
    clearInterval(sampler)
  }
  return { heapPeak, rssPeak }
}

interface Measured {
  url: string
  records: MskRecord[]
  cost: ReturnType<typeof decodeCost>
  baseline: Awaited<ReturnType<typeof bulkShapes>>
  rounds: Awaited<ReturnType<typeof timedRounds>>
  memory: Awaited<ReturnType<typeof peakMemory>>
  rssBefore: number
}

function report({ url, records, cost, baseline, rounds, memory, rssBefore }: Measured): void {
  const { parseNs, decodeNs } = cost
  const { handlerTimes, bulkTimes, ratios } = rounds
  const handlerRate = records.length / (median(handlerTimes) / 1000)
  const bulkRate = records.length / (median(bulkTimes) / 1000)
  const ratio = median(ratios)
  const counts = records.reduce<Record<string, number>>((acc, r) => {
    acc[r.topic] = (acc[r.topic] ?? 0) + 1
    return acc
  }, {})
  const lines = [
    `index-events benchmark — ${records.length} records (${Object.entries(counts)
      .map(([topic, n]) => `${topic} ${n}`)
      .join(', ')}), node ${url}, median of ${ROUNDS} rounds`,
    ...baseline.shapes.map(
      (shape) =>
        `  warm-up plain _bulk, ${`${shape.shape.docs} docs x ${shape.shape.inFlight} in flight:`.padEnd(34)}${(records.length / (median(shape.times) / 1000)).toFixed(0)} records/s  (${shape.times.map((t) => t.toFixed(0)).join(' / ')} ms)`,
    ),
    `  handler (decode, validate, tokenize, icons, _bulk, item checks): ${handlerRate.toFixed(0)} records/s  (${handlerTimes.map((t) => t.toFixed(0)).join(' / ')} ms)`,
    `  plain _bulk baseline (fastest shape, ${baseline.bestLabel}):   ${bulkRate.toFixed(0)} records/s  (${bulkTimes.map((t) => t.toFixed(0)).join(' / ')} ms)`,
    `  ratio handler / plain _bulk, median of the rounds' ratios: ${ratio.toFixed(2)}  (${ratios.map((r) => r.toFixed(2)).join(' / ')}; aim >= 0.80)`,
    `  decode + validation: ${decodeNs.toFixed(0)} ns/record; JSON.parse alone: ${parseNs.toFixed(0)} ns/record; ratio ${(decodeNs / parseNs).toFixed(1)}x`,
    `  handler peak memory: heap used ${mib(memory.heapPeak)}, RSS ${mib(memory.rssPeak)} (RSS before loading the handler ${mib(rssBefore)}; process max RSS ${mib(process.resourceUsage().maxRSS * 1024)})`,
  ]
  console.log(lines.join('\n'))
  reportRows([
    {
      figure: 'index-events, 10,000-record MSK batch',
      project: handlerRate,
      peer: bulkRate,
      peerLabel: `plain _bulk, ${baseline.bestLabel}`,
      ratio,
      aim: '>= 0.8x',
      unit: 'records/s',
      met: ratio >= 0.8,
    },
    {
      figure: 'decode + validate per record',
      project: decodeNs / 1000,
      peer: parseNs / 1000,
      peerLabel: 'JSON.parse alone',
      ratio: decodeNs / parseNs,
      aim: '<= 3x',
      unit: 'µs',
      met: decodeNs / parseNs <= 3,
    },
  ])
}

async function main() {
  // Services are started (or reused) only without an explicit node, and stopped only if started here.
  const services = process.env.OPENSEARCH_URL ? undefined : await startServices('test')
  const url = process.env.OPENSEARCH_URL ?? (services?.opensearch as string)
  const client = createOpenSearchClient({ OPENSEARCH_URL: url, OPENSEARCH_AUTH: 'none', AWS_REGION: 'local' })
  const rawDir = mkdtempSync(join(tmpdir(), 'bench-index-events-'))
  Object.assign(process.env, {
    OPENSEARCH_URL: url,
    OPENSEARCH_AUTH: 'none',
    OPENSEARCH_REPLICAS: '0',
    RAW_DIR: rawDir,
    PII_HMAC_KEY: PII_KEY,
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  })
  const batch = mskBatch()
  const records = Object.values(batch.records).flat()
  const assetIds = records
    .filter((r) => r.topic === 'crypto.assets')
    .map((r) => Buffer.from(r.key ?? '', 'base64').toString())
  const cost = decodeCost(records)
  const plainBulkOf = plainBulk(client, records)

  const rssBefore = process.memoryUsage().rss
  const handler = await loadFunction(projectRoot, 'indexEvents', 120)
  const invokeHandler = async () => {
    const response = (await handler.invoke(batch)) as KafkaBatchResponse
    if (response.batchItemFailures.length > 0)
      throw new Error(`handler failed items: ${JSON.stringify(response)}`)
  }
  try {
    // Warm-up: templates, the monthly indices, the JIT, connections; then each bulk shape.
    await invokeHandler()
    const baseline = await bulkShapes(plainBulkOf)
    const rounds = await timedRounds(invokeHandler, baseline.best.run)
    const memory = await peakMemory(invokeHandler)
    report({ url, records, cost, baseline, rounds, memory, rssBefore })
  } finally {
    await client.indices.delete({ index: `crypto-bars-2001.01,crypto-trades-2001.01` }, { ignore: [404] })
    await client.bulk({ body: assetIds.map((id) => ({ delete: { _index: 'crypto-assets', _id: id } })) })
    await client.close()
    rmSync(rawDir, { recursive: true, force: true })
    await services?.stop()
  }
}

await benchMain(import.meta.url, main)
