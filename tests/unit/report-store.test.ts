/**
 * The store reconciliation's pure parts (local/report/store.ts, store-checks.ts): records
 * decoded from a topic, lost ids explained by their coordinates, raw-zone offset gaps below the
 * committed offset, the lake judged only on partitions a successful refresh was offered, and
 * producer-side evidence from poll-bars' settle state. Expected values by hand.
 */
import { describe, expect, it } from 'vitest'
import { TOPICS } from '../../functions/shared/contracts.ts'
import type { RefreshCheckpoint } from '../../functions/shared/lake-state.ts'
import {
  reportFailed,
  summarizeRecords,
  type TopicRecord,
  toTopicRecords,
} from '../../local/report/report.ts'
import { storeSummary } from '../../local/report/store.ts'
import {
  explainLost,
  lakeDue,
  locate,
  rawOffsetGaps,
  unacknowledgedBars,
} from '../../local/report/store-checks.ts'
import { recordsBetween } from '../../local/report/store-topics.ts'
import { countRawLines } from '../../local/report/stream.ts'
import { bar, FIRST_REVISION } from '../helpers/events.ts'

const message = (partition: number, offset: number, value: unknown) => ({
  partition,
  offset: BigInt(offset),
  value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
})

const M0 = bar('BTC/USD', '2026-11-30T10:00:00Z')
const M1 = bar('BTC/USD', '2026-11-30T10:01:00Z')
const M1_REVISED = bar('BTC/USD', '2026-11-30T10:01:00Z', '97100', FIRST_REVISION + 30_000)
const M2 = bar('BTC/USD', '2026-11-30T11:02:00Z')

/** Partition 0: M0 @0, poison @1, M1 @2, M1 revised @3; partition 1: M2 @0. */
const records: TopicRecord[] = toTopicRecords(TOPICS.bars, [
  message(0, 0, M0),
  message(0, 1, '{not json'),
  message(0, 2, M1),
  message(0, 3, M1_REVISED),
  message(1, 0, M2),
])

describe('topic records', () => {
  it('keeps every record with its coordinates, and the event of the valid ones', () => {
    expect(records.map((r) => [r.partition, r.offset, r.event?.eventId, r.event?.revision])).toEqual([
      [0, 0n, 'alpaca:BTC/USD:2026-11-30T10:00:00Z', FIRST_REVISION],
      [0, 1n, undefined, undefined],
      [0, 2n, 'alpaca:BTC/USD:2026-11-30T10:01:00Z', FIRST_REVISION],
      [0, 3n, 'alpaca:BTC/USD:2026-11-30T10:01:00Z', FIRST_REVISION + 30_000],
      [1, 0n, 'alpaca:BTC/USD:2026-11-30T11:02:00Z', FIRST_REVISION],
    ])
    const summary = summarizeRecords(records)
    expect(summary.records).toBe(5)
    expect(summary.eventIds.size).toBe(3)
    expect(summary.revisions).toBe(1)
  })

  it('takes as events only the contract-valid records', () => {
    const valid = bar('BTC/USD', '2026-11-30T10:00:00Z')
    const decoded = toTopicRecords(TOPICS.bars, [
      message(0, 0, valid),
      message(0, 1, '{"event_id":"x"}'),
      message(0, 2, 'not json'),
      message(0, 3, { ...valid, close: 1 }),
    ])
    expect(decoded.map((r) => r.event?.eventId)).toEqual([
      'alpaca:BTC/USD:2026-11-30T10:00:00Z',
      undefined,
      undefined,
      undefined,
    ])
  })

  it('expects a lake-only record (sink header) in the raw zone and the lake, not in the search index', () => {
    const live = bar('BTC/USD', '2026-11-30T10:00:00Z')
    const old = bar('BTC/USD', '2024-01-01T00:00:00Z')
    const headers = new Map([[Buffer.from('crypto-sink'), Buffer.from('lake-only')]])
    const summary = summarizeRecords(
      toTopicRecords(TOPICS.bars, [message(0, 0, live), { ...message(0, 1, old), headers }]),
    )
    expect([...summary.eventIds].sort()).toEqual([
      'alpaca:BTC/USD:2024-01-01T00:00:00Z',
      'alpaca:BTC/USD:2026-11-30T10:00:00Z',
    ])
    expect([...summary.searchIds]).toEqual(['alpaca:BTC/USD:2026-11-30T10:00:00Z'])
  })

  it("takes a run's share by its start and end offsets", () => {
    const run = recordsBetween(records, [2n, 0n], [4n, 0n])
    expect(run.map((r) => `${r.partition}@${r.offset}`)).toEqual(['0@2', '0@3'])
  })
})

describe('lost ids', () => {
  it('are explained by the newest record of the id and whether its consumer committed past it', () => {
    const where = locate(records)
    const committed = new Map([[0, 3n]])
    expect(
      explainLost(
        [{ id: M1.event_id }, { id: M0.event_id }, { id: M2.event_id }, { id: 'alpaca:ETH/USD:x' }],
        where,
        'crypto.bars',
        committed,
        3,
      ),
    ).toEqual([
      // The newest revision is at offset 3, not yet committed (committed = next offset to read = 3).
      {
        event_id: M1.event_id,
        in_topic: true,
        topic: 'crypto.bars',
        partition: 0,
        offset: '3',
        consumed: false,
      },
      {
        event_id: M0.event_id,
        in_topic: true,
        topic: 'crypto.bars',
        partition: 0,
        offset: '0',
        consumed: true,
      },
      // Partition 1 has no committed offset: its consumer never got there.
      {
        event_id: M2.event_id,
        in_topic: true,
        topic: 'crypto.bars',
        partition: 1,
        offset: '0',
        consumed: false,
      },
    ])
  })

  it('name the exact record of a missing further revision', () => {
    expect(
      explainLost([{ id: M1.event_id, revision: FIRST_REVISION }], locate(records), 'crypto.bars', undefined),
    ).toEqual([
      {
        event_id: M1.event_id,
        revision: FIRST_REVISION,
        in_topic: true,
        topic: 'crypto.bars',
        partition: 0,
        offset: '2',
        consumed: false,
      },
    ])
  })
})

describe('raw zone', () => {
  const line = (partition: number, offset: number, event: { event_id: string }) => ({
    partition,
    offset,
    event_id: event.event_id,
    value: JSON.stringify(event),
  })

  it('misses each id, and each further revision, it does not hold; the same coordinates twice is a duplicate', () => {
    const produced = summarizeRecords(records)
    const counts = countRawLines(
      [line(0, 0, M0), line(0, 0, M0), line(0, 3, M1_REVISED)],
      produced.eventIds,
      produced.revisionsById,
    )
    expect(counts.missing).toEqual([
      { id: M2.event_id },
      // M2 is missing altogether: counted once, it has no further revision.
      { id: M1.event_id, revision: FIRST_REVISION },
    ])
    expect(counts.duplicates).toBe(1)
    expect(counts.records).toBe(3)
    expect(counts.events).toBe(2)
  })

  it('has a gap wherever a record below the committed offset is neither a raw line nor quarantined', () => {
    // Partition 0 committed through offset 3 (next 4): 0 landed, 1 quarantined, 2 and 3 missing.
    // Partition 1 committed nothing: not checked.
    const landed = new Set(['0:0', '0:1'])
    const gaps = rawOffsetGaps(records, landed, new Map([[0, 4n]]))
    expect(gaps.get(0)).toEqual({ checked: 4, missing: 2, gaps: [{ first: '2', last: '3', records: 2 }] })
    expect(gaps.get(1)).toEqual({ checked: 0, missing: 0, gaps: [] })
  })

  it('splits gaps at every landed record and stops at the committed offset', () => {
    const gaps = rawOffsetGaps(records, new Set(['0:2']), new Map([[0, 4n]]))
    expect(gaps.get(0)?.gaps).toEqual([
      { first: '0', last: '1', records: 2 },
      { first: '3', last: '3', records: 1 },
    ])
    expect(rawOffsetGaps(records, new Set(), new Map([[0, 1n]])).get(0)).toEqual({
      checked: 1,
      missing: 1,
      gaps: [{ first: '0', last: '0', records: 1 }],
    })
  })
})

describe('the lake is judged on the partitions a successful refresh was offered', () => {
  const hour10 = 'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json'
  const hour11 = 'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=11.json'
  const checkpoint: RefreshCheckpoint = {
    listed_at: '2026-11-30T12:00:00.000Z',
    judged_until: '2026-11-30T11:57:00Z',
    seen: { [hour11]: '2026-11-30T11:55:00.000Z' },
  }

  it('judges a marker older than the listing, and one listed at its current time', () => {
    const judged = lakeDue(
      records,
      'crypto.bars',
      [
        { key: hour10, lastModified: new Date('2026-11-30T10:30:00Z') },
        { key: hour11, lastModified: new Date('2026-11-30T11:55:00Z') },
      ],
      checkpoint,
    )
    expect([...judged.due].sort()).toEqual([M0.event_id, M1.event_id, M2.event_id])
    expect(judged.pending.size).toBe(0)
  })

  it('leaves pending a partition that landed again since, and everything before any checkpoint', () => {
    const markers = [
      { key: hour10, lastModified: new Date('2026-11-30T10:30:00Z') },
      { key: hour11, lastModified: new Date('2026-11-30T12:01:00Z') },
    ]
    const judged = lakeDue(records, 'crypto.bars', markers, checkpoint)
    expect([...judged.due].sort()).toEqual([M0.event_id, M1.event_id])
    expect([...judged.pending]).toEqual([M2.event_id])
    const before = lakeDue(records, 'crypto.bars', markers, undefined)
    expect(before.due.size).toBe(0)
    expect(before.pending.size).toBe(3)
  })

  it('leaves pending what land-raw has not consumed yet', () => {
    // Partition 0 committed through offset 2 (next 3): M1's revision at 3 is not landed yet.
    const judged = lakeDue(records, 'crypto.bars', [], checkpoint, new Map([[0, 3n]]))
    expect([...judged.due]).toEqual([M0.event_id])
    expect([...judged.pending].sort()).toEqual([M1.event_id, M2.event_id])
  })

  it('judges a partition without a marker: no schedule will ever plan it', () => {
    const judged = lakeDue(records, 'crypto.bars', [], checkpoint)
    expect(judged.due.size).toBe(3)
  })
})

describe('producer-side evidence', () => {
  it('reports a bar poll-bars recorded as emitted that the topic lacks as never acknowledged', () => {
    const lost = unacknowledgedBars(
      {
        'BTC/USD': {
          // In the topic at this revision.
          '2026-11-30T10:01:00Z': { digest: 'a', revision: FIRST_REVISION + 30_000 },
          // Recorded at a revision the topic lacks.
          '2026-11-30T10:00:00Z': { digest: 'b', revision: FIRST_REVISION + 1 },
          // Never emitted valid (quarantined): nothing to find.
          '2026-11-30T10:03:00Z': { digest: 'c', revision: 0 },
        },
        'LTC/USD': { '2026-11-30T10:00:00Z': { digest: 'd', revision: 5 } },
      },
      records,
    )
    expect(lost.map((l) => [l.event_id, l.revision, l.in_topic])).toEqual([
      ['alpaca:BTC/USD:2026-11-30T10:00:00Z', FIRST_REVISION + 1, false],
      ['alpaca:LTC/USD:2026-11-30T10:00:00Z', 5, false],
    ])
  })
})

describe('terminal summary', () => {
  it('prints one line per sink with the first lost id', () => {
    const figures = { checked: 3, lost: 0, duplicates: 0, stale: 0, lost_ids: [] }
    expect(
      storeSummary({
        opensearch: {
          'crypto-bars': {
            ...figures,
            lost: 1,
            lost_ids: [
              { event_id: M2.event_id, in_topic: true, topic: 'crypto.bars', partition: 1, offset: '0' },
            ],
          },
        },
        raw: { 'crypto.bars': { ...figures, offset_gaps: 2 } },
        lake: { 'crypto.bars': { ...figures, pending: 1 } },
        producers: { never_acknowledged: 0, lost_ids: [] },
      }),
    ).toEqual([
      'store opensearch crypto-bars: 3 checked, lost 1, duplicates 0, stale 0 (e.g. alpaca:BTC/USD:2026-11-30T11:02:00Z at crypto.bars/1@0)',
      'store raw crypto.bars: 3 checked, lost 0, duplicates 0, stale 0, offset gaps 2',
      'store lake crypto.bars: 3 checked, lost 0, duplicates 0, stale 0, pending 1',
      'store producers: never acknowledged 0',
    ])
  })
})

describe('the exit code', () => {
  it('fails on a loss in the store although the run is clean', () => {
    const clean = { lost: 0, duplicates: 0, stale: 0 }
    expect(reportFailed({ ...clean, store: clean })).toBe(false)
    expect(reportFailed({ ...clean, store: { ...clean, lost: 1 } })).toBe(true)
    expect(reportFailed({ ...clean, store: { ...clean, stale: 1 } })).toBe(true)
    expect(reportFailed({ ...clean, duplicates: 1, store: clean })).toBe(true)
  })
})
