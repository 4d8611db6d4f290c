import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  BarsNotLandedYet,
  backfillChunk,
  backfillCounter,
  type Chunk,
  type ChunkDeps,
  chunkId,
  defaultChunkMinutes,
  InvalidBackfill,
  notLandedYet,
  planBackfill,
} from '../../functions/backfill-bars/core.ts'
import { objectProgressStore } from '../../functions/backfill-bars/progress.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { LAKE_ONLY, SINK_HEADER } from '../../functions/shared/contracts.ts'
import type { FetchBars, OutgoingRecord } from '../../functions/shared/ports.ts'

const NOW = new Date('2026-12-07T04:30:20Z')

describe('planBackfill', () => {
  it('defaults to the 7 days before the current hour and the function symbols', () => {
    const plan = planBackfill({}, NOW, ['BTC/USD', 'ETH/USD'])
    expect(plan.symbols).toEqual(['BTC/USD', 'ETH/USD'])
    expect(plan.start).toBe('2026-11-30T04:00:00Z')
    expect(plan.end).toBe('2026-12-07T04:00:00Z')
    // 30,000 bars / (2 symbols x 60) = 250 h, capped at a day.
    expect(plan.chunkMinutes).toBe(1440)
    expect(plan.chunks).toHaveLength(7)
    expect(plan.refreshWindows).toEqual([{ start: '2026-11-30T04:00:00Z', end: '2026-12-07T04:00:00Z' }])
  })

  it('splits a window into chunks that tile it exactly, the last one shorter', () => {
    const plan = planBackfill(
      { symbols: ['BTC/USD'], start: '2026-12-01T00:00:00Z', end: '2026-12-01T02:30:00Z', chunkMinutes: 60 },
      NOW,
      [],
    )
    expect(plan.chunks.map((c) => [c.start, c.end])).toEqual([
      ['2026-12-01T00:00:00Z', '2026-12-01T01:00:00Z'],
      ['2026-12-01T01:00:00Z', '2026-12-01T02:00:00Z'],
      ['2026-12-01T02:00:00Z', '2026-12-01T02:30:00Z'],
    ])
    expect(plan.chunks[0]?.id).toBe(chunkId(['BTC/USD'], '2026-12-01T00:00:00Z', '2026-12-01T01:00:00Z'))
  })

  it('gives the chunks that start before lakeOnlyBefore its minute, and the others nothing', () => {
    const plan = planBackfill(
      {
        symbols: ['BTC/USD'],
        start: '2026-12-01T00:00:00Z',
        end: '2026-12-01T03:00:00Z',
        chunkMinutes: 60,
        lakeOnlyBefore: '2026-12-01T01:30:45Z',
      },
      NOW,
      [],
    )
    expect(plan.chunks.map((c) => c.lakeOnlyBefore)).toEqual([
      '2026-12-01T01:30:00Z',
      '2026-12-01T01:30:00Z',
      undefined,
    ])
  })

  it('splits the lake refresh into windows of at most 7 days, or none when asked', () => {
    const input = { symbols: ['BTC/USD'], start: '2026-11-01T00:00:00Z', end: '2026-11-20T00:00:00Z' }
    expect(planBackfill(input, NOW, []).refreshWindows).toEqual([
      { start: '2026-11-01T00:00:00Z', end: '2026-11-08T00:00:00Z' },
      { start: '2026-11-08T00:00:00Z', end: '2026-11-15T00:00:00Z' },
      { start: '2026-11-15T00:00:00Z', end: '2026-11-20T00:00:00Z' },
    ])
    expect(planBackfill({ ...input, refreshLake: false }, NOW, []).refreshWindows).toEqual([])
  })

  it('sizes default chunks in whole hours near 30,000 bars', () => {
    expect(defaultChunkMinutes(20)).toBe(1440)
    expect(defaultChunkMinutes(50)).toBe(600)
    expect(defaultChunkMinutes(1000)).toBe(60)
  })

  it('refuses an empty, reversed, future or too long window and unknown keys', () => {
    const symbols = ['BTC/USD']
    expect(() =>
      planBackfill({ start: '2026-12-01T00:00:00Z', end: '2026-12-01T00:00:00Z' }, NOW, symbols),
    ).toThrow(InvalidBackfill)
    expect(() =>
      planBackfill({ start: '2026-12-02T00:00:00Z', end: '2026-12-01T00:00:00Z' }, NOW, symbols),
    ).toThrow(/must be before/)
    expect(() =>
      planBackfill({ start: '2026-12-07T04:00:00Z', end: '2026-12-07T04:31:00Z' }, NOW, symbols),
    ).toThrow(/future/)
    expect(() =>
      planBackfill({ start: '2024-01-01T00:00:00Z', end: '2026-01-01T00:00:00Z' }, NOW, symbols),
    ).toThrow(/longer than a year/)
    expect(() => planBackfill({ symbol: 'BTC/USD' }, NOW, symbols)).toThrow(InvalidBackfill)
    expect(() => planBackfill({ symbols: ['btc'] }, NOW, symbols)).toThrow(InvalidBackfill)
  })
})

describe('backfillCounter', () => {
  it('renames the poller metrics and drops the live lag', () => {
    const seen: string[] = []
    const counter = backfillCounter({ count: (name, value) => seen.push(`${name}=${value}`) })
    counter.count('BarsEmitted', 5)
    counter.count('WatermarkLagMinutes', 9000)
    counter.count('BarsBackfillTruncatedMinutes', 3)
    expect(seen).toEqual(['BackfillBarsEmitted=5'])
  })
})

const bar = (t: string, close = '10.5') => ({
  t,
  o: '10',
  h: '11',
  l: '9.5',
  c: close,
  v: '2',
  n: '4',
  vw: '10.2',
})

function fakes(pages: Record<string, unknown[]>) {
  const requests: Array<{ symbols: string[]; start: string; end: string }> = []
  const sent: OutgoingRecord[] = []
  const fetchBars: FetchBars = async (symbols, start, end) => {
    requests.push({ symbols, start, end })
    return { bars: pages, malformed: [] }
  }
  const progress = objectProgressStore(fileObjectStore(mkdtempSync(join(tmpdir(), 'backfill-progress-'))))
  const quarantined: unknown[] = []
  const deps: ChunkDeps = {
    fetchBars,
    producer: {
      send: async (records) => {
        sent.push(...records)
      },
      close: async () => {},
    },
    progress,
    quarantine: async (rejections) => quarantined.push(...rejections),
    counter: { count: () => {} },
    clock: () => NOW,
  }
  return { deps, requests, sent, progress, quarantined }
}

const CHUNK: Chunk = {
  id: chunkId(['BTC/USD', 'ETH/USD'], '2026-12-01T00:00:00Z', '2026-12-01T00:03:00Z'),
  symbols: ['BTC/USD', 'ETH/USD'],
  start: '2026-12-01T00:00:00Z',
  end: '2026-12-01T00:03:00Z',
}

describe('backfillChunk', () => {
  it('fetches exactly the chunk through the poll-bars core, emits with the chunk end as revision, then records progress', async () => {
    const { deps, requests, sent, progress, quarantined } = fakes({
      'BTC/USD': [bar('2026-12-01T00:00:00Z'), bar('2026-12-01T00:01:00Z'), bar('2026-12-01T00:02:00Z')],
      'ETH/USD': [
        bar('2026-12-01T00:00:00Z'),
        bar('2026-12-01T00:01:00Z', '99'),
        bar('2026-12-01T00:02:00Z'),
      ],
    })
    const result = await backfillChunk(CHUNK, Number.POSITIVE_INFINITY, deps)
    expect(requests).toEqual([
      { symbols: ['BTC/USD', 'ETH/USD'], start: '2026-12-01T00:00:00Z', end: '2026-12-01T00:02:00Z' },
    ])
    expect(result).toEqual({ id: CHUNK.id, status: 'done', emitted: 5, rejected: 1 })
    expect(quarantined).toHaveLength(1)
    const events = sent.map(
      (record) => JSON.parse(record.value ?? '') as { event_id: string; revision: number },
    )
    expect(events.map((e) => e.event_id)).toEqual([
      'alpaca:BTC/USD:2026-12-01T00:00:00Z',
      'alpaca:BTC/USD:2026-12-01T00:01:00Z',
      'alpaca:BTC/USD:2026-12-01T00:02:00Z',
      'alpaca:ETH/USD:2026-12-01T00:00:00Z',
      'alpaca:ETH/USD:2026-12-01T00:02:00Z',
    ])
    expect(new Set(events.map((e) => e.revision))).toEqual(new Set([Date.parse('2026-12-01T00:03:00Z')]))
    const stored = await progress.load(CHUNK.id)
    expect(stored?.emitted).toBe(5)
    expect(stored?.sent).toEqual({
      'raw/_lake/landed/crypto.bars/dt=2026-12-01/hour=00.json': '2026-12-07T04:30:20Z',
    })
  })

  it('marks the bars before lakeOnlyBefore for the raw zone and the lake only', async () => {
    const { deps, sent } = fakes({
      'BTC/USD': [bar('2026-12-01T00:00:00Z'), bar('2026-12-01T00:01:00Z'), bar('2026-12-01T00:02:00Z')],
    })
    await backfillChunk(
      { ...CHUNK, symbols: ['BTC/USD'], lakeOnlyBefore: '2026-12-01T00:02:00Z' },
      Number.POSITIVE_INFINITY,
      deps,
    )
    expect(sent.map((record) => record.headers?.[SINK_HEADER])).toEqual([LAKE_ONLY, LAKE_ONLY, undefined])
  })

  it('skips a chunk that is done, without fetching', async () => {
    const { deps, requests, sent } = fakes({ 'BTC/USD': [bar('2026-12-01T00:00:00Z')] })
    await backfillChunk(CHUNK, Number.POSITIVE_INFINITY, deps)
    requests.length = 0
    sent.length = 0
    const again = await backfillChunk(CHUNK, Number.POSITIVE_INFINITY, deps)
    expect(again.status).toBe('skipped')
    expect(requests).toEqual([])
    expect(sent).toEqual([])
  })

  it('records no progress when a send fails, so the retry fetches the chunk again', async () => {
    const { deps, progress } = fakes({ 'BTC/USD': [bar('2026-12-01T00:00:00Z')] })
    const failing = {
      ...deps,
      producer: { send: async () => Promise.reject(new Error('broker down')), close: async () => {} },
    }
    await expect(backfillChunk(CHUNK, Number.POSITIVE_INFINITY, failing)).rejects.toThrow(/broker down/)
    expect(await progress.load(CHUNK.id)).toBeUndefined()
  })
})

describe('notLandedYet', () => {
  it('lists the hours whose marker is missing or older than the last send into it', async () => {
    const { deps, progress } = fakes({
      'BTC/USD': [bar('2026-12-01T00:00:00Z')],
      'ETH/USD': [bar('2026-12-01T00:02:00Z')],
    })
    await backfillChunk(CHUNK, Number.POSITIVE_INFINITY, deps)
    const marker = 'raw/_lake/landed/crypto.bars/dt=2026-12-01/hour=00.json'
    const listed: string[] = []
    const listing = (lastModified: string) => async (prefix: string) => {
      listed.push(prefix)
      return [{ key: marker, lastModified: new Date(lastModified) }]
    }
    expect(await notLandedYet([CHUNK], { progress, listMarkers: listing('2026-12-07T04:30:19Z') })).toEqual([
      marker,
    ])
    expect(await notLandedYet([CHUNK], { progress, listMarkers: listing('2026-12-07T04:30:20Z') })).toEqual(
      [],
    )
    expect(listed).toEqual([
      'raw/_lake/landed/crypto.bars/dt=2026-12-01/',
      'raw/_lake/landed/crypto.bars/dt=2026-12-01/',
    ])
    expect(await notLandedYet([CHUNK], { progress, listMarkers: async () => [] })).toEqual([marker])
  })

  it('refuses a chunk that is not done', async () => {
    const { progress } = fakes({})
    await expect(notLandedYet([CHUNK], { progress, listMarkers: async () => [] })).rejects.toThrow(/not done/)
    expect(new BarsNotLandedYet('x').name).toBe('BarsNotLandedYet')
  })
})
