/**
 * index-events' bulk writes on the real node, called directly (no broker): a bulk response where
 * only some items fail, and bar revisions under external versioning (a newer revision wins
 * whatever the delivery order, an older or repeated one is skipped and counted).
 */
import type { Client } from '@opensearch-project/opensearch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { indexEvents } from '../../functions/index-events/core.ts'
import { createOpenSearchClient, openSearchIndex } from '../../functions/shared/adapters/opensearch.ts'
import type { BarEvent } from '../../functions/shared/contracts.ts'
import type { BulkDoc } from '../../functions/shared/ports.ts'
import {
  applyIndexTemplates,
  applySearchConfig,
  indexTemplates,
} from '../../functions/shared/search-templates.ts'
import { isoSeconds } from '../../functions/shared/time.ts'
import { searchSinkCounts } from '../../local/report/report.ts'
import { startServices } from '../../local/services/index.ts'
import { bar, FIRST_REVISION } from '../helpers/events.ts'
import { recordingCounter, recordingQuarantine, runId } from '../helpers/fakes.ts'
import { mskEvent, mskRecord } from '../helpers/msk.ts'
import { docCounts } from '../helpers/search.ts'

const run = runId()
const start = Date.parse('2026-11-30T10:00:00Z')
let search: Client

beforeAll(async () => {
  const services = await startServices('test')
  search = createOpenSearchClient({
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    AWS_REGION: 'local',
  })
  // The bar indices' templates and aliases, as the deploy applies them.
  await applySearchConfig(search, { replicas: 0, log: () => {} })
})

afterAll(async () => {
  await search?.close()
})

describe('a bulk response with some failed items', () => {
  it('retries only the items the node rejected with 429', async () => {
    // An index of its own, blocked read_only_allow_delete: the node answers its items with 429
    // while the rest of the same bulk request succeeds.
    const year = 1990 + Math.floor(Math.random() * 9)
    const blocked = `crypto-bars-${year}.07`
    const symbol = `IE${run}D/USD`
    await search.indices.create({ index: blocked }).catch(() => undefined)
    await search.indices.putSettings({
      index: blocked,
      body: { 'index.blocks.read_only_allow_delete': true },
    })
    const recent = [0, 1, 2].map((i) => bar(symbol, isoSeconds(start + i * 60_000)))
    const old = [0, 1].map((i) => bar(symbol, `${year}-07-01T00:0${i}:00Z`))
    const records = [...recent, old[0], old[1]].map((e, i) => mskRecord('crypto.bars', 0, 100 + i, e, symbol))
    const calls: string[][] = []
    const real = openSearchIndex(search)
    try {
      const response = await indexEvents(mskEvent(records), {
        index: {
          bulkIndex: (docs: BulkDoc[]) => {
            calls.push(docs.map((doc) => doc.id))
            return real.bulkIndex(docs)
          },
        },
        piiKey: 'b'.repeat(64),
        counter: { count() {} },
        quarantine: async (rejections) => {
          if (rejections.length > 0) throw new Error(`unexpected quarantine: ${JSON.stringify(rejections)}`)
        },
        attempts: 3,
        baseDelayMs: 1,
        // Between the first and the second attempt the block is lifted.
        sleep: async () => {
          await search.indices.putSettings({
            index: blocked,
            body: { 'index.blocks.read_only_allow_delete': null },
          })
        },
      })
      expect(response.batchItemFailures).toEqual([])
      expect(calls).toEqual([[...recent, ...old].map((e) => e.event_id), old.map((e) => e.event_id)])
      await search.indices.refresh({ index: blocked })
      const count = await search.count({ index: blocked })
      expect(count.body.count).toBe(2)
    } finally {
      await search.indices.delete({ index: blocked }).catch(() => undefined)
    }
  })
})

describe('bar revisions (external versioning on the real node)', () => {
  const symbol = `IE${run}R/USD`
  const minute = isoSeconds(start)
  const revision1 = bar(symbol, minute, '97000.5', FIRST_REVISION)
  const revision2 = { ...bar(symbol, minute, '97012.25', FIRST_REVISION + 45_000), volume: '1.75' }
  let offset = 500

  async function deliver(...events: BarEvent[]) {
    const counter = recordingCounter()
    const { quarantine, rejections: quarantined } = recordingQuarantine()
    const response = await indexEvents(
      mskEvent(events.map((e) => mskRecord('crypto.bars', 0, offset++, e, symbol))),
      {
        index: openSearchIndex(search),
        piiKey: 'b'.repeat(64),
        counter,
        quarantine,
        sleep: async () => {},
        attempts: 2,
      },
    )
    return { failures: response.batchItemFailures, counts: counter.totals(), quarantined }
  }

  async function stored() {
    const doc = await search.get({ index: 'crypto-bars-2026.11', id: revision1.event_id })
    return {
      version: doc.body._version,
      seqNo: doc.body._seq_no,
      source: doc.body._source as Record<string, unknown>,
    }
  }

  it('keeps revision 2 when revision 1 arrives after it, and takes a redelivered revision 2 as a no-op', async () => {
    await applyIndexTemplates(search, 0)
    expect(await deliver(revision2)).toEqual({ failures: [], counts: { EventsIndexed: 1 }, quarantined: [] })
    const first = await stored()
    expect(first.version).toBe(Date.parse('2026-11-30T10:01:50Z'))
    expect(first.source).toMatchObject({ close: '97012.25', volume: '1.75', revision: first.version })

    expect(await deliver(revision1)).toEqual({
      failures: [],
      counts: { EventsIndexed: 0, StaleRevisionsSkipped: 1 },
      quarantined: [],
    })
    expect(await stored()).toEqual(first)

    expect(await deliver(revision2)).toEqual({
      failures: [],
      counts: { EventsIndexed: 0, StaleRevisionsSkipped: 1 },
      quarantined: [],
    })
    // Not rewritten: the same sequence number, not only the same content.
    expect(await stored()).toEqual(first)
    expect(await docCounts(search, 'crypto-bars', 'event_id', [revision1.event_id])).toEqual({
      [revision1.event_id]: 1,
    })
  })

  it('takes a newer revision in the same batch as an older one, whatever their order', async () => {
    const revision3 = { ...bar(symbol, minute, '97020', FIRST_REVISION + 90_000), high: '97030' }
    expect(await deliver(revision3, revision1)).toEqual({
      failures: [],
      counts: { EventsIndexed: 1, StaleRevisionsSkipped: 1 },
      quarantined: [],
    })
    const now = await stored()
    expect(now.version).toBe(Date.parse('2026-11-30T10:02:35Z'))
    expect(now.source).toMatchObject({ close: '97020', high: '97030' })
  })

  it('is reported stale when the node holds an older revision than the newest produced', async () => {
    const ids = new Set([revision1.event_id])
    const produced = (...revisions: number[]) => new Map([[revision1.event_id, new Set(revisions)]])
    // The node holds revision 3 (seen 90 s after revision 1).
    const revision3 = FIRST_REVISION + 90_000
    expect(await searchSinkCounts(search, 'crypto.bars', ids, produced(FIRST_REVISION, revision3))).toEqual({
      documents: 1,
      lost: 0,
      duplicates: 0,
      stale: 0,
    })
    expect(
      await searchSinkCounts(search, 'crypto.bars', ids, produced(FIRST_REVISION, revision3 + 1)),
    ).toEqual({ documents: 1, lost: 0, duplicates: 0, stale: 1 })
  })

  it('adds revision to a bar index created before the field existed', async () => {
    const year = 1980 + Math.floor(Math.random() * 9)
    const old = `crypto-bars-${year}.08`
    const template = indexTemplates(0)['crypto-bars'].template.mappings
    const { revision: _revision, ...before } = template.properties
    try {
      // Created with the mapping of bar contract v1 (no template applies to an explicit mapping).
      await search.indices.create({
        index: old,
        body: { mappings: { dynamic: 'strict', properties: before } },
      })
      await applyIndexTemplates(search, 0)
      const event = bar(symbol, `${year}-08-01T00:00:00Z`)
      expect(await deliver(event)).toEqual({ failures: [], counts: { EventsIndexed: 1 }, quarantined: [] })
      const mapping = await search.indices.getMapping({ index: old })
      expect(
        (mapping.body as Record<string, { mappings: { properties: Record<string, unknown> } }>)[old]?.mappings
          .properties.revision,
      ).toEqual({ type: 'long' })
    } finally {
      await search.indices.delete({ index: old }).catch(() => undefined)
    }
  })
})
