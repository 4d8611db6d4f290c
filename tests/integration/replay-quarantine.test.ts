/**
 * Quarantine replay on the real node: index-events meets an index that refuses writes (an
 * operator's `index.blocks.write`, answered 403 per item), so it quarantines the bars as
 * `index_rejected`. Once the block is lifted, the replay delivers them again to the real
 * handler: each bar is then indexed exactly once, each quarantine object gets its replay
 * marker, and a second replay finds nothing left to do.
 *
 * The month's index (2019.03) is this test's own; the block is lifted whatever happens.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { createOpenSearchClient } from '../../functions/shared/adapters/opensearch.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import { applySearchConfig } from '../../functions/shared/search-templates.ts'
import { isoSeconds, MINUTE } from '../../functions/shared/time.ts'
import { REPLAYED_PREFIX, replayQuarantine } from '../../local/replay-quarantine.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { startServices } from '../../local/services/index.ts'
import { bar } from '../helpers/events.ts'
import { runId } from '../helpers/fakes.ts'
import { mskEvent, mskRecord } from '../helpers/msk.ts'
import { loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'
import { quarantineRecords } from '../helpers/quarantine.ts'
import { docCounts } from '../helpers/search.ts'

const SYMBOL = `RQ${runId()}/USD`
const INDEX = 'crypto-bars-2019.03'
const bars = Array.from({ length: 3 }, (_, i) =>
  bar(SYMBOL, isoSeconds(Date.parse('2019-03-01T00:00:00Z') + i * MINUTE), `${97000 + i}.5`),
)

let search: Client
let store: ObjectStore
let handler: LocalFunction

const blockWrites = (blocked: boolean) =>
  search.indices.putSettings({ index: INDEX, body: { 'index.blocks.write': blocked } })

beforeAll(async () => {
  const services = await startServices('test')
  search = createOpenSearchClient({
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    AWS_REGION: 'local',
  })
  await applySearchConfig(search, { replicas: 0, log: () => undefined })
  const rawDir = mkdtempSync(join(tmpdir(), 'replay-quarantine-it-'))
  store = fileObjectStore(rawDir)
  handler = await loadTestFunction('indexEvents', {
    ...testStandIns(services, { raw: rawDir }),
    INDEX_ATTEMPTS: '2',
  })
  if (!(await search.indices.exists({ index: INDEX })).body) await search.indices.create({ index: INDEX })
})

afterAll(async () => {
  await blockWrites(false).catch(() => undefined)
  await search?.close()
})

describe('quarantine replay into the real index-events', () => {
  it('indexes what a write-blocked index refused, once the block is lifted, exactly once', async () => {
    await blockWrites(true)
    const event = mskEvent(bars.map((b, offset) => mskRecord('crypto.bars', 0, offset, b, SYMBOL)))
    await handler.invoke(event)
    const quarantined = await quarantineRecords(store, 'quarantine/crypto.bars/')
    expect(quarantined.map((r) => [r.stage, r.reason, r.key])).toEqual(
      Array(3).fill(['index-events', 'index_rejected', SYMBOL]),
    )
    expect(quarantined[0]?.detail).toContain('block')

    await blockWrites(false)
    const ports = { store, invoke: (_: string, e: unknown) => handler.invoke(e), log: () => undefined }
    const report = await replayQuarantine(ports, {
      dryRun: false,
      topic: 'crypto.bars',
      reason: 'index_rejected',
    })
    expect(report).toMatchObject({ found: 3, replayed: 3, accepted: 3, still_rejected: [], failed: [] })
    expect((await store.list(REPLAYED_PREFIX)).length).toBe(3)

    await search.indices.refresh({ index: INDEX })
    const counts = await docCounts(
      search,
      'crypto-bars',
      'event_id',
      bars.map((b) => b.event_id),
    )
    expect(counts).toEqual(Object.fromEntries(bars.map((b) => [b.event_id, 1])))

    const again = await replayQuarantine(ports, { dryRun: false, topic: 'crypto.bars' })
    expect(again).toMatchObject({ found: 0, replayed: 0, already_replayed: 3 })
  })
})
