/**
 * The first end-to-end slice on the real broker and node: bars produced to crypto.bars reach
 * OpenSearch through the event-source emulator and the real index-events handler — N in, N
 * documents; the same records delivered again, still N; poison records quarantined while the
 * rest flows on.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKafkaProducer, type KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { createOpenSearchClient } from '../../functions/shared/adapters/opensearch.ts'
import type { BarEvent } from '../../functions/shared/contracts.ts'
import type { EventProducer } from '../../functions/shared/ports.ts'
import { isoSeconds } from '../../functions/shared/time.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import type { EventSource } from '../../local/runtime/event-source.ts'
import { startServices } from '../../local/services/index.ts'
import { startHandlerSource, untilCaughtUp } from '../helpers/event-source.ts'
import { bar } from '../helpers/events.ts'
import { runId } from '../helpers/fakes.ts'
import { loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'
import { quarantineRecords } from '../helpers/quarantine.ts'

const run = runId()
const SYMBOLS = [`IT${run}A/USD`, `IT${run}B/USD`, `IT${run}C/USD`]
const MINUTES = 20
const start = Date.parse('2026-11-30T09:00:00Z')

function bars(): BarEvent[] {
  return SYMBOLS.flatMap((symbol) =>
    Array.from({ length: MINUTES }, (_, i) => bar(symbol, isoSeconds(start + i * 60_000), `${97000 + i}.5`)),
  )
}

let kafka: KafkaConnection
let producer: EventProducer
let search: Client
let source: EventSource
let rawDir: string

async function documentsFor(symbols: string[]) {
  await search.indices.refresh({ index: 'crypto-bars' })
  const response = await search.transport.request({
    method: 'POST',
    path: '/crypto-bars/_search',
    body: {
      size: 0,
      query: { terms: { symbol: symbols } },
      aggs: { ids: { terms: { field: 'event_id', size: 1000 } } },
    },
  })
  const body = response.body as {
    hits: { total: { value: number } }
    aggregations: { ids: { buckets: Array<{ key: string; doc_count: number }> } }
  }
  return { total: body.hits.total.value, buckets: body.aggregations.ids.buckets }
}

beforeAll(async () => {
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  rawDir = mkdtempSync(join(tmpdir(), 'slice-raw-'))
  search = createOpenSearchClient({
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    AWS_REGION: 'local',
  })
  producer = createKafkaProducer(kafka, 'slice-test')
  const indexEvents = await loadTestFunction('indexEvents', testStandIns(services, { raw: rawDir }))
  source = await startHandlerSource(indexEvents, {
    kafka,
    topics: ['crypto.bars'],
    groupId: `slice-${run}`,
    batchSize: 100,
    batchWindowMs: 500,
    maximumRetryAttempts: 2,
  })
})

afterAll(async () => {
  await source?.stop()
  await producer?.close()
  await search?.close()
})

describe('bars -> Kafka -> index-events -> OpenSearch', () => {
  it('indexes N produced bars as N documents with their event ids', async () => {
    const events = bars()
    await producer.send(
      events.map((e) => ({ topic: 'crypto.bars', key: e.symbol, value: JSON.stringify(e) })),
    )
    await untilCaughtUp(source, 60_000)
    const { total, buckets } = await documentsFor(SYMBOLS)
    expect(total).toBe(60)
    expect(buckets).toHaveLength(60)
    expect(buckets.every((bucket) => bucket.doc_count === 1)).toBe(true)
    const doc = await search.get({
      index: 'crypto-bars-2026.11',
      id: `alpaca:${SYMBOLS[0]}:2026-11-30T09:03:00Z`,
    })
    expect(doc.body._source).toMatchObject({
      symbol: SYMBOLS[0],
      close: '97003.5',
      start: '2026-11-30T09:03:00Z',
    })
  })

  it('keeps N documents when the same records are delivered again', async () => {
    const events = bars()
    await producer.send(
      events.map((e) => ({ topic: 'crypto.bars', key: e.symbol, value: JSON.stringify(e) })),
    )
    await untilCaughtUp(source, 60_000)
    const { total, buckets } = await documentsFor(SYMBOLS)
    expect(total).toBe(60)
    expect(buckets.filter((bucket) => bucket.doc_count > 1)).toEqual([])
  })

  it('quarantines poison records with their reasons and keeps the valid ones flowing', async () => {
    const symbol = `IT${run}D/USD`
    const valid = Array.from({ length: 5 }, (_, i) => bar(symbol, isoSeconds(start + i * 60_000)))
    await producer.send([
      { topic: 'crypto.bars', key: symbol, value: '{"truncated": ' },
      { topic: 'crypto.bars', key: symbol, value: JSON.stringify({ ...valid[0], high: 'NaN' }) },
      ...valid.map((e) => ({ topic: 'crypto.bars' as const, key: symbol, value: JSON.stringify(e) })),
      { topic: 'crypto.bars', key: symbol, value: JSON.stringify({ ...valid[1], trade_count: '12' }) },
    ])
    await untilCaughtUp(source, 60_000)
    expect((await documentsFor([symbol])).total).toBe(5)
    const all = await quarantineRecords(fileObjectStore(rawDir), 'quarantine/crypto.bars/')
    // The shared topic also carries other runs' poison records: count this test's own.
    const records = all.filter((r) => r.key === symbol)
    expect(records.map((r) => r.reason).sort()).toEqual([
      'malformed_json',
      'schema_violation',
      'schema_violation',
    ])
    expect(records.every((r) => r.stage === 'index-events' && r.topic === 'crypto.bars' && r.offset)).toBe(
      true,
    )
    expect(records.find((r) => r.reason === 'malformed_json')?.value).toBe(
      Buffer.from('{"truncated": ').toString('base64'),
    )
  })
})
