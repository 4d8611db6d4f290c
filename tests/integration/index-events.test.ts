/**
 * index-events on the real broker and node, with the fan-out parts: mixed topics, poison records
 * of every kind, trades carrying their asset's icon, redelivery, an OpenSearch outage (a TCP proxy
 * in front of the shared node is cut, then restored — the node itself is never stopped), the
 * search config applied twice, and no clear personal data anywhere in the indices. Bulk responses
 * with failed items and bar revisions on the node: index-events-bulk.test.ts.
 */
import { mkdtempSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKafkaProducer, type KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { createOpenSearchClient } from '../../functions/shared/adapters/opensearch.ts'
import {
  type AssetEvent,
  type BarEvent,
  LAKE_ONLY,
  SINK_HEADER,
  type TopicName,
  type TradeEvent,
} from '../../functions/shared/contracts.ts'
import type { MskRecord } from '../../functions/shared/msk.ts'
import type { EventProducer, ObjectStore } from '../../functions/shared/ports.ts'
import { applySearchConfig } from '../../functions/shared/search-templates.ts'
import { isoSeconds } from '../../functions/shared/time.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import type { EventSource } from '../../local/runtime/event-source.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { startServices } from '../../local/services/index.ts'
import { startHandlerSource, untilCaughtUp } from '../helpers/event-source.ts'
import { asset, bar, trade } from '../helpers/events.ts'
import { DIGITS, runId } from '../helpers/fakes.ts'
import { sendTombstone } from '../helpers/kafka.ts'
import { loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'
import { quarantineRecords } from '../helpers/quarantine.ts'
import { docCounts } from '../helpers/search.ts'
import { until } from '../helpers/until.ts'

const run = runId()
const ASSET = `IE${run}`
const SYMBOLS = [`${ASSET}/USD`, `IE${run}B/USD`]
const POISON_KEY = `poison-${run}`
const tradePrefix = runId(12, DIGITS)
const start = Date.parse('2026-11-30T10:00:00Z')
const TOPICS_CONSUMED: TopicName[] = ['crypto.bars', 'crypto.trades', 'crypto.assets']

/** A TCP proxy in front of the shared node, that the test can cut and restore. */
interface Proxy {
  url: string
  cut(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

async function startProxy(target: URL): Promise<Proxy> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname)
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on('close', () => sockets.delete(socket))
        socket.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  }
  const cut = async () => {
    await new Promise<void>((resolve) => {
      server?.close(() => resolve())
      for (const socket of sockets) socket.destroy()
    })
  }
  await listen()
  return { url: `http://127.0.0.1:${port}`, cut, restore: listen, close: cut }
}

let kafka: KafkaConnection
let producer: EventProducer
let search: Client
let proxy: Proxy
let handler: LocalFunction
let store: ObjectStore
const discarded: MskRecord[] = []

async function consume(groupId: string, body: (source: EventSource) => Promise<void>) {
  const source = await startHandlerSource(handler, {
    kafka,
    topics: TOPICS_CONSUMED,
    groupId,
    batchSize: 100,
    batchWindowMs: 300,
    maximumRetryAttempts: 10,
    onFailure: async (records) => {
      discarded.push(...records)
    },
  })
  try {
    await body(source)
  } finally {
    await source.stop()
  }
}

function send(records: Array<{ topic: TopicName; key: string; value: string }>) {
  return producer.send(records)
}

const bars: BarEvent[] = SYMBOLS.flatMap((symbol) =>
  Array.from({ length: 10 }, (_, i) => bar(symbol, isoSeconds(start + i * 60_000), `${97000 + i}.5`)),
)
const trades: TradeEvent[] = Array.from({ length: 8 }, (_, i) => ({
  ...trade(`${tradePrefix}-${String(i + 1).padStart(4, '0')}`),
  symbol: SYMBOLS[i % 2] as string,
  user_id: `u-${String(100000 + i)}`,
}))
const icon: AssetEvent = { ...asset(ASSET), icon_url: `https://icons.example.com/${ASSET}.png` }

/** The 20 bars and 8 trades are each one document, however often they were delivered. */
async function expectEachEventIndexedOnce() {
  const barCounts = await docCounts(
    search,
    'crypto-bars',
    'event_id',
    bars.map((e) => e.event_id),
  )
  const tradeCounts = await docCounts(
    search,
    'crypto-trades',
    'event_id',
    trades.map((e) => e.event_id),
  )
  expect(Object.keys(barCounts)).toHaveLength(20)
  expect(Object.keys(tradeCounts)).toHaveLength(8)
  expect(Object.values({ ...barCounts, ...tradeCounts }).every((count) => count === 1)).toBe(true)
}

beforeAll(async () => {
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  proxy = await startProxy(new URL(services.opensearch))
  const rawDir = mkdtempSync(join(tmpdir(), 'index-events-it-'))
  store = fileObjectStore(rawDir)
  search = createOpenSearchClient({
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    AWS_REGION: 'local',
  })
  producer = createKafkaProducer(kafka, 'index-events-test')
  handler = await loadTestFunction('indexEvents', {
    ...testStandIns(services, { raw: rawDir }),
    OPENSEARCH_URL: proxy.url,
    INDEX_ATTEMPTS: '2',
  })
})

afterAll(async () => {
  await producer?.close()
  await proxy?.close()
  await search?.close()
})

describe('search config', () => {
  it('applies templates and aliases idempotently, and says ISM is unavailable on the minimal node', async () => {
    const logged: string[] = []
    const first = await applySearchConfig(search, { replicas: 0, log: (message) => logged.push(message) })
    const second = await applySearchConfig(search, { replicas: 0, log: (message) => logged.push(message) })
    expect(first.templates).toEqual(['crypto-bars', 'crypto-trades', 'crypto-assets'])
    expect(second).toEqual(first)
    expect(first.ism).toBe('unavailable')
    expect(logged).toHaveLength(2)
    expect(logged[0]).toContain('ISM is not available')
    const template = await search.indices.getIndexTemplate({ name: 'crypto-trades' })
    const mappings = (
      template.body as {
        index_templates: Array<{
          index_template: {
            template: {
              mappings: {
                dynamic: string
                properties: Record<string, { type: string }>
              }
            }
          }
        }>
      }
    ).index_templates[0]?.index_template.template.mappings
    expect(mappings?.dynamic).toBe('strict')
    expect(mappings?.properties.symbol).toEqual({ type: 'keyword' })
    expect(mappings?.properties.price).toEqual({ type: 'double' })
    expect(mappings?.properties.executed_at?.type).toBe('date')
    expect(mappings?.properties).not.toHaveProperty('user_email')
  })
})

describe('Kafka -> index-events -> OpenSearch', () => {
  it('indexes N valid events of mixed topics, quarantines each poison record with its reason, loses nothing', async () => {
    await consume(`index-events-it-${run}`, async (source) => {
      // The asset first, so the trades after it find its icon.
      await send([{ topic: 'crypto.assets', key: ASSET, value: JSON.stringify(icon) }])
      await untilCaughtUp(source)
      const valid = bars[0] as BarEvent
      await send([
        ...bars.map((e) => ({ topic: 'crypto.bars' as const, key: e.symbol, value: JSON.stringify(e) })),
        ...trades.map((e) => ({ topic: 'crypto.trades' as const, key: e.user_id, value: JSON.stringify(e) })),
        { topic: 'crypto.bars', key: POISON_KEY, value: 'not json at all' },
        { topic: 'crypto.bars', key: POISON_KEY, value: JSON.stringify({ ...valid, timeframe: '5Min' }) },
        { topic: 'crypto.bars', key: POISON_KEY, value: JSON.stringify({ ...valid, close: 97000.5 }) },
        {
          topic: 'crypto.trades',
          key: POISON_KEY,
          value: JSON.stringify({ ...trades[0], user_email: 'nope' }),
        },
        {
          topic: 'crypto.bars',
          key: POISON_KEY,
          value: JSON.stringify({ ...valid, pad: 'x'.repeat(70_000) }),
        },
      ])
      await sendTombstone(kafka, 'crypto.bars', POISON_KEY)
      await untilCaughtUp(source)
    })

    await expectEachEventIndexedOnce()
    expect(discarded).toEqual([])

    const quarantined = (await quarantineRecords(store)).filter((r) => r.key === POISON_KEY)
    expect(quarantined.map((r) => `${r.topic} ${r.reason}`).sort()).toEqual([
      'crypto.bars malformed_json',
      'crypto.bars null_value',
      'crypto.bars oversized',
      'crypto.bars schema_violation',
      'crypto.bars schema_violation',
      'crypto.trades schema_violation',
    ])
    expect(quarantined.every((r) => r.stage === 'index-events')).toBe(true)
  })

  it('attaches the asset icon to the trades of that asset only', async () => {
    await search.indices.refresh({ index: 'crypto-trades' })
    const response = await search.transport.request({
      method: 'POST',
      path: '/crypto-trades/_search',
      body: { size: 100, query: { terms: { event_id: trades.map((e) => e.event_id) } } },
    })
    const docs = (
      response.body as { hits: { hits: Array<{ _source: Record<string, string> }> } }
    ).hits.hits.map((hit) => hit._source)
    expect(docs).toHaveLength(8)
    for (const doc of docs) {
      if (doc.symbol === SYMBOLS[0]) expect(doc.asset_icon_url).toBe(`https://icons.example.com/${ASSET}.png`)
      else expect(doc).not.toHaveProperty('asset_icon_url')
    }
  })

  it('holds no clear personal data in any index', async () => {
    await search.indices.refresh({ index: 'crypto-*' })
    for (const clear of ['Maria Souza', 'maria.souza@example.com.br', '52998224725']) {
      const response = await search.transport.request({
        method: 'POST',
        path: '/crypto-*/_search',
        body: { size: 0, query: { multi_match: { query: clear, fields: ['*'], lenient: true } } },
      })
      expect((response.body as { hits: { total: { value: number } } }).hits.total.value).toBe(0)
    }
    const doc = await search.get({ index: 'crypto-trades-2026.11', id: trades[0]?.event_id as string })
    const source = doc.body._source as Record<string, unknown>
    expect(source).not.toHaveProperty('user_name')
    expect(source).not.toHaveProperty('user_email')
    expect(source).not.toHaveProperty('document_id')
    expect(source.document_id_token).toMatch(/^[0-9a-f]{64}$/)
  })

  it('creates no duplicate when the same records are consumed again', async () => {
    await consume(`index-events-it-${run}-again`, untilCaughtUp)
    await expectEachEventIndexedOnce()
    expect(await docCounts(search, 'crypto-assets', 'asset_id', [ASSET])).toEqual({ [ASSET]: 1 })
  })

  it('leaves a bar marked lake-only to the raw zone and the lake: consumed, not indexed', async () => {
    const symbol = `IE${run}L/USD`
    const old = bar(symbol, '2024-01-01T00:00:00Z')
    const live = bar(symbol, isoSeconds(start))
    await consume(`index-events-it-${run}-lake-only`, async (source) => {
      await producer.send([
        {
          topic: 'crypto.bars',
          key: symbol,
          value: JSON.stringify(old),
          headers: { [SINK_HEADER]: LAKE_ONLY },
        },
        { topic: 'crypto.bars', key: symbol, value: JSON.stringify(live) },
      ])
      await untilCaughtUp(source)
    })
    expect(await docCounts(search, 'crypto-bars', 'event_id', [old.event_id, live.event_id])).toEqual({
      [live.event_id]: 1,
    })
    expect(discarded).toEqual([])
  })

  it('retries through an OpenSearch outage and loses nothing', async () => {
    const symbol = `IE${run}C/USD`
    const late = Array.from({ length: 15 }, (_, i) => bar(symbol, isoSeconds(start + i * 60_000)))
    await consume(`index-events-it-${run}`, async (source) => {
      await proxy.cut()
      await send(late.map((e) => ({ topic: 'crypto.bars' as const, key: symbol, value: JSON.stringify(e) })))
      // Invocations have failed against the cut proxy and are retried; none of the records is done.
      await until(
        'retries against the cut proxy',
        () => source.stats.retries,
        (retries) => retries > 0,
      )
      expect(await source.lag()).toBeGreaterThanOrEqual(15)
      await proxy.restore()
      await untilCaughtUp(source)
    })
    const counts = await docCounts(
      search,
      'crypto-bars',
      'event_id',
      late.map((e) => e.event_id),
    )
    expect(Object.keys(counts)).toHaveLength(15)
    expect(Object.values(counts).every((count) => count === 1)).toBe(true)
    expect(discarded).toEqual([])
  })
})
