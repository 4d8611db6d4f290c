/**
 * The report's store section on the real broker, OpenSearch node and raw zone. An "earlier run"
 * appended bars whose index-events consumer committed past them without indexing them (the
 * crash the section exists for); this run's bars are indexed as index-events indexes them
 * (its bulk documents) and landed by the real land-raw handler. The run's figures are clean; the
 * store's show the earlier bars lost in OpenSearch, in the topic, consumed. One raw line removed
 * below land-raw's committed offset is an offset gap, and a loss, although the same event id
 * landed again at a later offset.
 *
 * crypto.bars and the crypto-bars alias are shared with other tests and their consumers (which
 * index whatever the topic holds): the reconciliation is given this test's records only (its own
 * symbols), its own consumer groups and its own index of the crypto-bars template.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toBulkDoc } from '../../functions/index-events/core.ts'
import { createKafkaProducer, type KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { createOpenSearchClient, openSearchIndex } from '../../functions/shared/adapters/opensearch.ts'
import { type BarEvent, TOPICS } from '../../functions/shared/contracts.ts'
import type { EventProducer, ObjectStore } from '../../functions/shared/ports.ts'
import { decodeLines, encodeLines } from '../../functions/shared/raw-zone.ts'
import { applySearchConfig } from '../../functions/shared/search-templates.ts'
import { isoSeconds } from '../../functions/shared/time.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import { searchSinkHoldings, summarizeRecords } from '../../local/report/report.ts'
import { type StoreSection, storeSection } from '../../local/report/store.ts'
import { committedOffsets, readStoreTopics, recordsBetween } from '../../local/report/store-topics.ts'
import { endOffsets, type Offsets } from '../../local/runtime/kafka-read.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { startServices } from '../../local/services/index.ts'
import { startHandlerSource, untilCaughtUp } from '../helpers/event-source.ts'
import { bar } from '../helpers/events.ts'
import { runId } from '../helpers/fakes.ts'
import { commitGroupAt } from '../helpers/kafka.ts'
import { loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'

const run = runId()
const EARLIER = `RE${run}E/USD`
const CURRENT = `RE${run}C/USD`
const INDEX_GROUP = `report-it-index-${run}`
const LAND_GROUP = `report-it-land-${run}`
/** Matches the crypto-bars index template (mappings, alias), and no other test's documents. */
const INDEX = `crypto-bars-report-it-${run.toLowerCase()}`
const start = Date.parse('2026-11-30T10:00:00Z')
const earlier: BarEvent[] = Array.from({ length: 3 }, (_, i) => bar(EARLIER, isoSeconds(start + i * 60_000)))
const current: BarEvent[] = Array.from({ length: 4 }, (_, i) => bar(CURRENT, isoSeconds(start + i * 60_000)))
const resent = earlier[1] as BarEvent

let kafka: KafkaConnection
let producer: EventProducer
let search: Client
let store: ObjectStore
let runStart: Offsets
let section: StoreSection
let runFigures: { found: number; missing: string[]; duplicates: string[]; stale: string[] }
/** The offset of the raw line removed (the earlier copy of `resent`), and its partition. */
let removed: { partition: number; offset: number }

const send = (events: BarEvent[]) =>
  producer.send(events.map((e) => ({ topic: TOPICS.bars, key: e.symbol, value: JSON.stringify(e) })))

const commitAt = (groupId: string, offsets: Offsets) =>
  commitGroupAt(kafka, groupId, new Map([[TOPICS.bars, offsets]]))

async function drainWith(handler: LocalFunction, groupId: string) {
  const source = await startHandlerSource(handler, {
    kafka,
    topics: [TOPICS.bars],
    groupId,
    batchSize: 100,
    batchWindowMs: 300,
    maximumRetryAttempts: 2,
  })
  try {
    await untilCaughtUp(source, 120_000)
  } finally {
    await source.stop()
  }
}

beforeAll(async () => {
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  const rawDir = mkdtempSync(join(tmpdir(), 'report-it-'))
  store = fileObjectStore(rawDir)
  search = createOpenSearchClient({
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    AWS_REGION: 'local',
  })
  await applySearchConfig(search, { replicas: 0, log: () => {} })
  producer = createKafkaProducer(kafka, 'report-test')

  // The earlier run: its bars reach the topic; its index-events consumer commits past them
  // without indexing them, and its land-raw consumer had not got there yet.
  const earlierStart = (await endOffsets(kafka, [TOPICS.bars])).get(TOPICS.bars) ?? []
  await send(earlier)
  runStart = (await endOffsets(kafka, [TOPICS.bars])).get(TOPICS.bars) ?? []
  await commitAt(INDEX_GROUP, runStart)
  await commitAt(LAND_GROUP, earlierStart)

  // This run: its bars, and one earlier bar sent again; indexed, and landed by the real land-raw.
  await send([...current, resent])
  const docs = [...current, resent].map((e) => ({ ...toBulkDoc(TOPICS.bars, e, 'unused'), index: INDEX }))
  const results = await openSearchIndex(search).bulkIndex(docs)
  expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201])
  await drainWith(await loadTestFunction('landRaw', testStandIns(services, { raw: rawDir })), LAND_GROUP)

  // A raw object write that lost the earlier copy of the resent bar: its line is gone from its block.
  for (const key of await store.list(`raw/${TOPICS.bars}/`)) {
    const lines = await decodeLines((await store.get(key)) as Uint8Array)
    const copies = lines.filter((line) => line.event_id === resent.event_id)
    if (copies.length !== 2) continue
    const first = copies.reduce((a, b) => (a.offset < b.offset ? a : b))
    removed = { partition: first.partition, offset: first.offset }
    await store.put(key, await encodeLines(lines.filter((line) => line !== first)))
  }

  const ours = (id: string) => id.includes(EARLIER) || id.includes(CURRENT)
  const [bars] = await readStoreTopics(kafka, [TOPICS.bars])
  if (!bars) throw new Error('crypto.bars was not read')
  const mine = { ...bars, records: bars.records.filter((r) => r.event && ours(r.event.eventId)) }
  const consumers = [
    { sink: 'opensearch' as const, groupId: INDEX_GROUP, topic: TOPICS.bars },
    { sink: 'raw' as const, groupId: LAND_GROUP, topic: TOPICS.bars },
  ]
  section = await storeSection({
    topics: [mine],
    search,
    rawStore: store,
    consumers,
    committed: await committedOffsets(kafka, [INDEX_GROUP, LAND_GROUP]),
    searchIndex: () => ({ name: 'crypto-bars', alias: INDEX }),
  })
  const runEvents = summarizeRecords(recordsBetween(mine.records, runStart, mine.end))
  const held = await searchSinkHoldings(
    search,
    TOPICS.bars,
    runEvents.searchIds,
    runEvents.revisionsById,
    INDEX,
  )
  runFigures = {
    found: held.found,
    missing: held.missing,
    duplicates: held.duplicateIds,
    stale: held.staleIds,
  }
}, 300_000)

afterAll(async () => {
  await search?.indices.delete({ index: INDEX, ignore_unavailable: true })
  await producer?.close()
  await search?.close()
})

describe('the report reconciles the whole store', () => {
  it("keeps this run's figures clean: its 4 bars and the resent one are indexed once", () => {
    expect(runFigures).toEqual({ found: 5, missing: [], duplicates: [], stale: [] })
  })

  it('shows the earlier bars OpenSearch never got as lost, in the topic, consumed', () => {
    const figures = section.opensearch['crypto-bars']
    expect(figures?.checked).toBe(7)
    expect(figures?.lost).toBe(2)
    expect(figures?.duplicates).toBe(0)
    const lost = figures?.lost_ids ?? []
    expect(lost.map((l) => l.event_id).sort()).toEqual([earlier[0]?.event_id, earlier[2]?.event_id].sort())
    for (const entry of lost) {
      expect(entry).toMatchObject({ in_topic: true, topic: TOPICS.bars, consumed: true })
      // Appended by the earlier run: below where this run started.
      expect(BigInt(entry.offset ?? -1)).toBeLessThan(runStart[entry.partition ?? 0] ?? 0n)
    }
  })

  it('reports the raw-zone offset gap below the committed offset although the id landed again', () => {
    const raw = section.raw[TOPICS.bars]
    expect(raw).toMatchObject({ checked: 7, lost: 1, duplicates: 0, offset_gaps: 1, lost_ids: [] })
    const partition = section.topics[TOPICS.bars]?.partitions[removed.partition]
    expect(partition?.raw.gaps).toEqual([
      { first: String(removed.offset), last: String(removed.offset), records: 1 },
    ])
    expect(partition?.raw.missing).toBe(1)
    expect(BigInt(partition?.committed[LAND_GROUP] ?? -1)).toBeGreaterThan(BigInt(removed.offset))
    expect(section.lost).toBe(3)
    expect(section.duplicates).toBe(0)
  })
})
