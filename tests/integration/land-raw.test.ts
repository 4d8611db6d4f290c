/**
 * land-raw on the real broker: records produced to crypto.bars and crypto.trades reach the raw
 * zone through the event-source emulator and the real handler — N valid events in, N lines out,
 * with their coordinates and values as produced, under deterministic keys; every poison record
 * quarantined by stage land-raw with its reason; the same records consumed again by another
 * consumer group change nothing.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKafkaProducer, type KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import type { BarEvent, QuarantineRecord, TradeEvent } from '../../functions/shared/contracts.ts'
import type { EventProducer, ObjectStore } from '../../functions/shared/ports.ts'
import { decodeLines, type RawLine, readRawTopic } from '../../functions/shared/raw-zone.ts'
import { isoSeconds } from '../../functions/shared/time.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import { rawSinkCounts } from '../../local/report/stream.ts'
import { endOffsets, type Offsets } from '../../local/runtime/kafka-read.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { startServices } from '../../local/services/index.ts'
import { startHandlerSource, untilCaughtUp } from '../helpers/event-source.ts'
import { bar, trade } from '../helpers/events.ts'
import { DIGITS, runId } from '../helpers/fakes.ts'
import { commitGroupAt, sendTombstone } from '../helpers/kafka.ts'
import { loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'
import { quarantineRecords } from '../helpers/quarantine.ts'

const run = runId()
const SYMBOLS = [`LR${run}A/USD`, `LR${run}B/USD`]
/** 09:56 .. 10:03: the bars straddle an hour, so they land in two event-hour partitions. */
const start = Date.parse('2026-11-30T09:56:00Z')
const tradePrefix = runId(12, DIGITS)
const POISON_KEY = `poison-${run}`

const bars: BarEvent[] = SYMBOLS.flatMap((symbol) =>
  Array.from({ length: 8 }, (_, i) => bar(symbol, isoSeconds(start + i * 60_000), `${97000 + i}.5`)),
)
const trades: TradeEvent[] = Array.from({ length: 6 }, (_, i) => {
  const tradeId = `${tradePrefix}-${String(i + 1).padStart(4, '0')}`
  return { ...trade(tradeId), symbol: SYMBOLS[0] as string }
})

let kafka: KafkaConnection
let producer: EventProducer
let landRaw: LocalFunction
let rawDir: string
let store: ObjectStore

/** Where the topics ended before this test produced: its consumers start there. */
let startOffsets: Map<string, Offsets>

async function consumeAll(groupId: string) {
  await commitGroupAt(kafka, groupId, startOffsets)
  const source = await startHandlerSource(landRaw, {
    kafka,
    topics: ['crypto.bars', 'crypto.trades'],
    groupId,
    batchSize: 50,
    batchWindowMs: 300,
    maximumRetryAttempts: 2,
  })
  try {
    await untilCaughtUp(source, 90_000)
  } finally {
    await source.stop()
  }
}

/** Our lines of a topic, each with the key of the object that holds it. */
async function ourLines(topic: string, ids: Set<string>) {
  const out: Array<{ key: string; line: RawLine }> = []
  for (const key of await store.list(`raw/${topic}/`)) {
    const body = await store.get(key)
    if (!body) continue
    for (const line of await decodeLines(body)) if (ids.has(line.event_id)) out.push({ key, line })
  }
  return out
}

async function landRawQuarantine(): Promise<QuarantineRecord[]> {
  return (await quarantineRecords(store)).filter((r) => r.stage === 'land-raw' && r.key === POISON_KEY)
}

beforeAll(async () => {
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  rawDir = mkdtempSync(join(tmpdir(), 'land-raw-it-'))
  store = fileObjectStore(rawDir)
  landRaw = await loadTestFunction('landRaw', testStandIns(services, { raw: rawDir }))
  producer = createKafkaProducer(kafka, 'land-raw-test')
  startOffsets = await endOffsets(kafka, ['crypto.bars', 'crypto.trades'])

  const valid = bars[0] as BarEvent
  await producer.send([
    ...bars.map((e) => ({
      topic: 'crypto.bars' as const,
      key: e.symbol,
      value: JSON.stringify(e),
      headers: { producer: 'land-raw-test' },
    })),
    ...trades.map((e) => ({ topic: 'crypto.trades' as const, key: e.user_id, value: JSON.stringify(e) })),
    { topic: 'crypto.bars' as const, key: POISON_KEY, value: '{"truncated": ' },
    {
      topic: 'crypto.bars' as const,
      key: POISON_KEY,
      value: JSON.stringify({ ...valid, event_id: 'alpaca:nope' }),
    },
    {
      topic: 'crypto.bars' as const,
      key: POISON_KEY,
      value: JSON.stringify({ ...valid, trade_count: '12' }),
    },
    {
      topic: 'crypto.bars' as const,
      key: POISON_KEY,
      value: JSON.stringify({ ...valid, note: 'x'.repeat(70_000) }),
    },
    {
      topic: 'crypto.trades' as const,
      key: POISON_KEY,
      value: JSON.stringify({ ...trades[0], document_id: '123' }),
    },
  ])
  await sendTombstone(kafka, 'crypto.bars', POISON_KEY)
  await consumeAll(`land-raw-it-${run}`)
})

afterAll(async () => {
  await producer?.close()
})

describe('Kafka -> land-raw -> raw zone', () => {
  it('lands every valid event once, with its coordinates and its value as produced', async () => {
    const barIds = new Set(bars.map((e) => e.event_id))
    const tradeIds = new Set(trades.map((e) => e.event_id))
    const barLines = await ourLines('crypto.bars', barIds)
    const tradeLines = await ourLines('crypto.trades', tradeIds)
    expect(barLines).toHaveLength(16)
    expect(tradeLines).toHaveLength(6)
    expect(new Set(barLines.map(({ line }) => line.event_id)).size).toBe(16)

    const first = barLines.find(({ line }) => line.event_id === `alpaca:${SYMBOLS[0]}:2026-11-30T09:57:00Z`)
    expect(first?.line).toMatchObject({
      topic: 'crypto.bars' as const,
      key: SYMBOLS[0],
      headers: { producer: 'land-raw-test' },
      timestamp_type: 'CREATE_TIME',
      event_time: '2026-11-30T09:57:00Z',
      value: JSON.stringify(bars[1]),
    })
    expect(JSON.parse(first?.line.value ?? '{}').close).toBe('97001.5')
    // Personal data stays in the raw zone (encrypted bucket): the value is the event as produced.
    expect(JSON.parse(tradeLines[0]?.line.value ?? '{}').document_id).toBe('52998224725')

    expect(await rawSinkCounts(store, 'crypto.bars', barIds)).toMatchObject({ lost: 0, duplicates: 0 })
    expect(await rawSinkCounts(store, 'crypto.trades', tradeIds)).toMatchObject({ lost: 0, duplicates: 0 })
  })

  it('puts each line under the key of its event hour, partition and fixed offset block', async () => {
    const lines = [
      ...(await ourLines('crypto.bars', new Set(bars.map((e) => e.event_id)))),
      ...(await ourLines('crypto.trades', new Set(trades.map((e) => e.event_id)))),
    ]
    const hourOf: Record<string, string> = {
      '09:56': '09',
      '09:57': '09',
      '09:58': '09',
      '09:59': '09',
      '10:00': '10',
      '10:01': '10',
      '10:02': '10',
      '10:03': '10',
      '10:00:07': '10',
    }
    for (const { key, line } of lines) {
      const clock = line.topic === 'crypto.trades' ? '10:00:07' : line.event_time.slice(11, 16)
      const block = Math.floor(line.offset / 1000) * 1000
      expect(key).toBe(
        `raw/${line.topic}/dt=2026-11-30/hour=${hourOf[clock]}/${line.partition}-${block}-${block + 999}.ndjson.gz`,
      )
    }
  })

  it('marks every event-time partition it landed in for the lake-refresh planner, after the data', async () => {
    const markers = await store.listObjects('raw/_lake/landed/')
    const keys = markers.map((m) => m.key)
    for (const key of [
      'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=09.json',
      'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json',
      'raw/_lake/landed/crypto.trades/dt=2026-11-30/hour=10.json',
    ])
      expect(keys).toContain(key)
    const objects = await store.listObjects('raw/crypto.bars/dt=2026-11-30/hour=09/')
    const marker = markers.find((m) => m.key === 'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=09.json')
    const newestObject = Math.max(...objects.map((o) => o.lastModified.getTime()))
    expect(marker?.lastModified.getTime()).toBeGreaterThanOrEqual(newestObject)
    const body = JSON.parse(new TextDecoder().decode(await store.get(marker?.key ?? '')))
    expect(Date.parse(body.landed_at)).toBeGreaterThanOrEqual(newestObject)
  })

  it('quarantines each poison record with its reason and lands none of them', async () => {
    const records = await landRawQuarantine()
    expect(records.map((r) => `${r.topic} ${r.reason}`).sort()).toEqual([
      'crypto.bars malformed_json',
      'crypto.bars null_value',
      'crypto.bars oversized',
      'crypto.bars schema_violation',
      'crypto.bars schema_violation',
      'crypto.trades schema_violation',
    ])
    expect(records.every((r) => r.stage === 'land-raw' && r.offset !== undefined)).toBe(true)
    const { lines } = await readRawTopic(store, 'crypto.bars')
    expect(lines.filter((line) => line.key === POISON_KEY)).toEqual([])
  })

  it('changes nothing when the same records are consumed again', async () => {
    // Our lines only: other engineers' records may land in the same shared topics meanwhile.
    const ids = new Set([...bars, ...trades].map((e) => e.event_id))
    const snapshot = async () =>
      [...(await ourLines('crypto.bars', ids)), ...(await ourLines('crypto.trades', ids))]
        .map(({ key, line }) => JSON.stringify({ key, line }))
        .sort()
    const before = await snapshot()
    expect(before).toHaveLength(22)
    await consumeAll(`land-raw-it-${run}-again`)
    expect(await snapshot()).toEqual(before)
    const barIds = new Set(bars.map((e) => e.event_id))
    expect(await ourLines('crypto.bars', barIds)).toHaveLength(16)
    expect(await rawSinkCounts(store, 'crypto.bars', barIds)).toMatchObject({ lost: 0, duplicates: 0 })
    expect(await landRawQuarantine()).toHaveLength(6)
  })
})
