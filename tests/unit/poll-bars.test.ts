import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { createAlpacaClient, isRequestRejected } from '../../functions/poll-bars/alpaca.ts'
import { toBarEvents } from '../../functions/poll-bars/bars.ts'
import {
  DEFAULT_SETTLE_WINDOW_MINUTES,
  type PollBarsConfig,
  pollBars,
  waitForPollSecond,
} from '../../functions/poll-bars/core.ts'
import { closedMinuteEnd, planBarRequests } from '../../functions/poll-bars/plan.ts'
import { PollBarsError, type PollBarsSummary } from '../../functions/poll-bars/summary.ts'
import {
  type SettleState,
  WatermarkConflictError,
  type WatermarkStore,
  type Watermarks,
} from '../../functions/poll-bars/watermark.ts'
import { HttpStatusError, MalformedBodyError, TimeoutError } from '../../functions/shared/adapters/http.ts'
import { type BarEvent, BarEventSchema } from '../../functions/shared/contracts.ts'
import type {
  EventProducer,
  FetchBars,
  FetchedBars,
  OutgoingRecord,
  Rejection,
} from '../../functions/shared/ports.ts'
import { type AlpacaSimulator, startAlpacaSimulator } from '../../local/simulators/alpaca.ts'

const at = (hhmm: string, day = '2026-11-30') => `${day}T${hhmm}:00Z`

/** A raw bar as shared/adapters/http.ts hands it over: numbers as their JSON source text. */
function raw(t: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { t, o: '100.5', h: '101.25', l: '100', c: '100.75', v: '1.5', n: '3', vw: '100.6', ...fields }
}

/** Bars for every minute in [from, to] (HH:MM, inclusive) on 2026-11-30. */
function minutes(from: string, to: string): string[] {
  const out: string[] = []
  for (let ms = Date.parse(at(from)); ms <= Date.parse(at(to)); ms += 60_000)
    out.push(new Date(ms).toISOString().replace('.000Z', 'Z'))
  return out
}

// ---------------------------------------------------------------------------------------------
// fakes

function memoryWatermarks(initial: Watermarks = {}) {
  let stored: { marks: Watermarks; settle: SettleState; version?: string } = {
    marks: { ...initial },
    settle: {},
    version: Object.keys(initial).length ? 'v0' : undefined,
  }
  let writes = 0
  const store: WatermarkStore & {
    current: () => Watermarks
    settle: () => SettleState
    writes: () => number
    set: (marks: Watermarks, settle?: SettleState) => void
  } = {
    async load() {
      return { marks: { ...stored.marks }, settle: structuredClone(stored.settle), version: stored.version }
    },
    async save(marks, version, settle = {}) {
      if (version !== stored.version) throw new WatermarkConflictError('changed')
      writes++
      stored = { marks: { ...marks }, settle: structuredClone(settle), version: `v${writes}` }
      return stored.version as string
    },
    current: () => stored.marks,
    settle: () => stored.settle,
    writes: () => writes,
    set(marks, settle = {}) {
      writes++
      stored = { marks: { ...marks }, settle: structuredClone(settle), version: `other${writes}` }
    },
  }
  return store
}

function recordingProducer(fail: (records: OutgoingRecord[], call: number) => boolean = () => false) {
  const sent: OutgoingRecord[] = []
  let calls = 0
  const producer: EventProducer & { sent: OutgoingRecord[]; events: () => BarEvent[] } = {
    sent,
    async send(records) {
      calls++
      if (fail(records, calls)) throw new Error(`broker unavailable (call ${calls})`)
      sent.push(...records)
    },
    async close() {},
    events: () => sent.map((record) => JSON.parse(record.value) as BarEvent),
  }
  return producer
}

function recordingCounter() {
  const counts: Array<{ name: string; value: number; dimensions?: Record<string, string> }> = []
  return {
    counts,
    count(name: string, value: number, dimensions?: Record<string, string>) {
      counts.push({ name, value, dimensions })
    },
    total: (name: string) => counts.filter((c) => c.name === name).reduce((sum, c) => sum + c.value, 0),
  }
}

/**
 * A fake API over a fixed market (symbol -> raw bars). Like Alpaca it filters by start/end;
 * `leakInProgress` also returns bars after `end`, to prove the core drops them itself.
 */
function fakeApi(
  market: Record<string, Array<Record<string, unknown>>>,
  options: { leakInProgress?: boolean } = {},
) {
  const calls: Array<{ symbols: string[]; start: string; end: string }> = []
  const fetchBars: FetchBars = async (symbols, start, end) => {
    calls.push({ symbols, start, end })
    const bars: Record<string, unknown[]> = {}
    for (const symbol of symbols) {
      const kept = (market[symbol] ?? []).filter(
        (bar) => String(bar.t) >= start && (options.leakInProgress || String(bar.t) <= end),
      )
      if (kept.length) bars[symbol] = kept
    }
    return { bars, malformed: [] }
  }
  return { fetchBars, calls }
}

/** The watermark path alone; 'bar revisions' below turns the settle window on. */
const config: PollBarsConfig = {
  symbols: ['BTC/USD', 'LTC/USD'],
  backfillMaxMinutes: 1440,
  initialLookbackMinutes: 5,
  settleWindowMinutes: 0,
}

function harness(options: {
  market?: Record<string, Array<Record<string, unknown>>>
  fetchBars?: FetchBars
  watermarks?: Watermarks
  now: string
  producerFails?: (records: OutgoingRecord[], call: number) => boolean
  quarantineFails?: boolean
  config?: Partial<PollBarsConfig>
  leakInProgress?: boolean
}) {
  const api = fakeApi(options.market ?? {}, { leakInProgress: options.leakInProgress })
  const producer = recordingProducer(options.producerFails)
  const watermarks = memoryWatermarks(options.watermarks)
  const counter = recordingCounter()
  const quarantined: Rejection[] = []
  let now = new Date(options.now)
  const deps = {
    fetchBars: options.fetchBars ?? api.fetchBars,
    producer,
    watermarks,
    counter,
    quarantine: async (rejections: Rejection[]) => {
      if (options.quarantineFails) throw new Error('object store down')
      quarantined.push(...rejections)
    },
    clock: () => now,
    isRequestRejected,
    config: { ...config, ...options.config },
  }
  return {
    api,
    producer,
    watermarks,
    counter,
    quarantined,
    deps,
    setNow: (iso: string) => {
      now = new Date(iso)
    },
    run: (input: { scheduledAt?: string; deadline?: number } = {}) =>
      pollBars(
        { scheduledAt: new Date(input.scheduledAt ?? now.toISOString()), deadline: input.deadline },
        deps,
      ),
  }
}

const btcAndLtc = (from: string, to: string) => ({
  'BTC/USD': minutes(from, to).map((t) => raw(t)),
  'LTC/USD': minutes(from, to).map((t) =>
    raw(t, { o: '90.1', h: '90.3', l: '89.9', c: '90.2', vw: '90.15' }),
  ),
})

// ---------------------------------------------------------------------------------------------

describe('closedMinuteEnd', () => {
  it('is the start of the current minute: every bar before it is complete', () => {
    expect(closedMinuteEnd(new Date('2026-11-30T08:15:42.123Z')).toISOString()).toBe(
      '2026-11-30T08:15:00.000Z',
    )
    expect(closedMinuteEnd(new Date('2026-11-30T08:15:00.000Z')).toISOString()).toBe(
      '2026-11-30T08:15:00.000Z',
    )
  })
})

describe('planBarRequests', () => {
  const plan = (watermarks: Watermarks, now: string, backfillMaxMinutes = 1440) =>
    planBarRequests({
      symbols: ['BTC/USD', 'LTC/USD'],
      watermarks,
      now: new Date(now),
      backfillMaxMinutes,
      initialLookbackMinutes: 5,
    })

  it('without a watermark, polls the initial lookback up to the last closed minute', () => {
    const { requests, plans, upToDate } = plan({}, '2026-11-30T08:15:30Z')
    expect(requests).toEqual([{ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:10'), end: at('08:14') }])
    expect(plans.map((p) => p.truncatedMinutes)).toEqual([0, 0])
    expect(upToDate).toEqual([])
  })

  it('resumes after each watermark; symbols with different windows get different requests', () => {
    const { requests } = plan({ 'BTC/USD': at('08:12'), 'LTC/USD': at('08:03') }, '2026-11-30T08:15:00Z')
    expect(requests).toEqual([
      { symbols: ['BTC/USD'], start: at('08:13'), end: at('08:14') },
      { symbols: ['LTC/USD'], start: at('08:04'), end: at('08:14') },
    ])
  })

  it('a symbol whose watermark is the last closed minute is up to date', () => {
    const { requests, upToDate } = plan(
      { 'BTC/USD': at('08:14'), 'LTC/USD': at('08:13') },
      '2026-11-30T08:15:59Z',
    )
    expect(upToDate).toEqual(['BTC/USD'])
    expect(requests).toEqual([{ symbols: ['LTC/USD'], start: at('08:14'), end: at('08:14') }])
  })

  it('never reaches further back than the backfill bound, and says how much it skipped', () => {
    const { requests, plans } = plan(
      { 'BTC/USD': at('06:00'), 'LTC/USD': at('07:30') },
      '2026-11-30T08:15:10Z',
      60,
    )
    // Bound: 08:15 - 60 min = 07:15. BTC wanted 06:01 -> 74 minutes (06:01..07:14) are skipped.
    expect(requests).toEqual([
      { symbols: ['BTC/USD'], start: at('07:15'), end: at('08:14') },
      { symbols: ['LTC/USD'], start: at('07:31'), end: at('08:14') },
    ])
    expect(plans.map((p) => [p.symbol, p.truncatedMinutes])).toEqual([
      ['BTC/USD', 74],
      ['LTC/USD', 0],
    ])
  })

  it('a first poll is bounded too, without counting minutes as lost', () => {
    const { requests, plans } = planBarRequests({
      symbols: ['BTC/USD'],
      watermarks: {},
      now: new Date('2026-11-30T08:15:10Z'),
      backfillMaxMinutes: 10,
      initialLookbackMinutes: 30,
    })
    expect(requests).toEqual([{ symbols: ['BTC/USD'], start: at('08:05'), end: at('08:14') }])
    expect(plans[0]?.truncatedMinutes).toBe(0)
  })

  it('the default bound is 24 hours', () => {
    const { requests, plans } = plan(
      { 'BTC/USD': at('08:00', '2026-11-27'), 'LTC/USD': at('08:14') },
      '2026-11-30T08:15:00Z',
    )
    expect(requests).toEqual([{ symbols: ['BTC/USD'], start: at('08:15', '2026-11-29'), end: at('08:14') }])
    expect(plans[0]?.truncatedMinutes).toBe(2 * 1440 + 14)
  })
})

describe('toBarEvents', () => {
  const ingestedAt = new Date('2026-11-30T08:15:03.250Z')

  it('turns raw bars into contract events, exact decimals, sorted by start', () => {
    const { events, rejections } = toBarEvents(
      'BTC/USD',
      [
        raw(at('08:01'), {
          o: '90000.5',
          h: '90010.25',
          l: '89990',
          c: '90001.125',
          v: '8.473e-05',
          n: '2',
          vw: '90000.9',
        }),
        raw(at('08:00')),
      ],
      ingestedAt,
    )
    expect(rejections).toEqual([])
    expect(events).toEqual([
      {
        schema_version: 2,
        event_id: 'alpaca:BTC/USD:2026-11-30T08:00:00Z',
        // The observation time in epoch ms: 2026-11-30T08:15:03.250Z.
        revision: 1796026503250,
        source: 'alpaca',
        symbol: 'BTC/USD',
        timeframe: '1Min',
        start: '2026-11-30T08:00:00Z',
        open: '100.5',
        high: '101.25',
        low: '100',
        close: '100.75',
        volume: '1.5',
        trade_count: 3,
        vwap: '100.6',
        ingested_at: '2026-11-30T08:15:03Z',
      },
      {
        schema_version: 2,
        event_id: 'alpaca:BTC/USD:2026-11-30T08:01:00Z',
        revision: 1796026503250,
        source: 'alpaca',
        symbol: 'BTC/USD',
        timeframe: '1Min',
        start: '2026-11-30T08:01:00Z',
        open: '90000.5',
        high: '90010.25',
        low: '89990',
        close: '90001.125',
        volume: '0.00008473',
        trade_count: 2,
        vwap: '90000.9',
        ingested_at: '2026-11-30T08:15:03Z',
      },
    ])
  })

  it('keeps zero-volume bars', () => {
    const { events } = toBarEvents(
      'LTC/USD',
      [raw(at('08:00'), { o: '90', h: '90', l: '90', c: '90', v: '0', n: '0', vw: '0' })],
      ingestedAt,
    )
    expect(events.map((e) => [e.volume, e.trade_count, e.vwap])).toEqual([['0', 0, '0']])
  })

  it('keeps prices beyond double precision exactly', () => {
    const { events } = toBarEvents(
      'BTC/USD',
      [
        raw(at('08:00'), {
          o: '90000.123456789012345678',
          h: '90000.123456789012345679',
          l: '90000.123456789012345677',
          c: '90000.123456789012345678',
        }),
      ],
      ingestedAt,
    )
    expect(events[0]?.high).toBe('90000.123456789012345679')
    expect(events[0]?.low).toBe('90000.123456789012345677')
  })

  it('rejects every malformed class with its reason, and emits the rest', () => {
    const cases: Array<[unknown, string]> = [
      [raw(at('08:00'), { c: 'NaN' }), 'c is not a finite number: "NaN"'],
      [raw(at('08:01'), { l: '-100' }), 'l is not a positive price: -100'],
      [raw(at('08:02'), { o: '0' }), 'o is not a positive price: 0'],
      [raw(at('08:03'), { h: '99', l: '101' }), 'high 99 < low 101'],
      [raw(at('08:04'), { o: '102' }), 'o 102 outside [low 100, high 101.25]'],
      [raw(at('08:05'), { c: undefined }), 'missing field(s): c'],
      [raw(at('08:06'), { v: true }), 'v is not a number: true'],
      [raw(at('08:07'), { n: '1.5' }), 'n is not a trade count: "1.5"'],
      [raw(at('08:08'), { v: '-1' }), 'v is negative: -1'],
      [raw('2026-11-30T08:09:17Z'), 't is not on the minute: 2026-11-30T08:09:17Z'],
      [raw('1764490200'), 't is not an RFC-3339 timestamp: "1764490200"'],
      [raw(at('08:11'), { h: '1e30', o: '1e30', c: '1e30' }), 'violates the bar contract'],
      ['not a bar', 'bar is not an object'],
      [raw(at('08:13')), ''],
      [raw(at('08:13'), { c: '101' }), 'duplicate bar for 2026-11-30T08:13:00Z'],
    ]
    const { events, rejections, rejected } = toBarEvents(
      'BTC/USD',
      cases.map(([bar]) => bar),
      ingestedAt,
    )
    expect(events.map((e) => e.start)).toEqual([at('08:13')])
    expect(events[0]?.close).toBe('100.75')
    const expected = cases.filter(([, detail]) => detail !== '')
    expect(rejections).toHaveLength(expected.length)
    rejections.forEach((rejection, i) => {
      expect(rejection.reason).toBe('upstream_malformed')
      expect(rejection.topic).toBe('crypto.bars')
      expect(rejection.key).toBe('BTC/USD')
      expect(rejection.detail).toContain(expected[i]?.[1])
      expect(rejection.value).toBe(JSON.stringify(expected[i]?.[0]))
    })
    // The minute of a rejected bar is known when its t is readable and on the minute.
    expect(rejected.map((r) => r.start === undefined)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      true,
      true,
      false,
      true,
      false,
    ])
  })
})

// ---------------------------------------------------------------------------------------------

describe('pollBars', () => {
  it('emits the closed minutes of the first window to crypto.bars keyed by symbol, never the in-progress one', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '08:15'),
      now: '2026-11-30T08:15:30Z',
      leakInProgress: true,
    })
    const summary = await h.run()
    expect(h.api.calls).toEqual([{ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:10'), end: at('08:14') }])
    expect(h.producer.sent.map((r) => [r.topic, r.key, JSON.parse(r.value).start])).toEqual([
      ...minutes('08:10', '08:14').map((t) => ['crypto.bars', 'BTC/USD', t]),
      ...minutes('08:10', '08:14').map((t) => ['crypto.bars', 'LTC/USD', t]),
    ])
    expect(h.producer.events()[0]).toEqual({
      schema_version: 2,
      event_id: 'alpaca:BTC/USD:2026-11-30T08:10:00Z',
      revision: 1796026530000,
      source: 'alpaca',
      symbol: 'BTC/USD',
      timeframe: '1Min',
      start: '2026-11-30T08:10:00Z',
      open: '100.5',
      high: '101.25',
      low: '100',
      close: '100.75',
      volume: '1.5',
      trade_count: 3,
      vwap: '100.6',
      ingested_at: '2026-11-30T08:15:30Z',
    })
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:14'), 'LTC/USD': at('08:14') })
    expect(summary).toEqual({
      asOf: '2026-11-30T08:15:30Z',
      emitted: 10,
      revised: 0,
      rejected: 0,
      perSymbol: {
        'BTC/USD': {
          status: 'ok',
          window: { start: at('08:10'), end: at('08:14') },
          emitted: 5,
          revised: 0,
          rejected: 0,
          truncatedMinutes: 0,
          watermark: at('08:14'),
        },
        'LTC/USD': {
          status: 'ok',
          window: { start: at('08:10'), end: at('08:14') },
          emitted: 5,
          revised: 0,
          rejected: 0,
          truncatedMinutes: 0,
          watermark: at('08:14'),
        },
      },
    } satisfies PollBarsSummary)
    expect(h.counter.total('BarsEmitted')).toBe(10)
    expect(h.counter.total('BarsOutsideWindow')).toBe(2)
    expect(h.counter.total('WatermarkLagMinutes')).toBe(0)
  })

  it('a repeated invocation emits nothing new; the next minute emits just that minute', async () => {
    const h = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:30Z' })
    await h.run()
    const again = await h.run()
    expect(again.emitted).toBe(0)
    expect(again.perSymbol['BTC/USD']?.status).toBe('up_to_date')
    expect(h.api.calls).toHaveLength(1)
    expect(h.producer.sent).toHaveLength(10)
    h.setNow('2026-11-30T08:16:02Z')
    const next = await h.run()
    expect(next.emitted).toBe(2)
    expect(
      h.producer
        .events()
        .slice(10)
        .map((e) => e.event_id),
    ).toEqual(['alpaca:BTC/USD:2026-11-30T08:15:00Z', 'alpaca:LTC/USD:2026-11-30T08:15:00Z'])
  })

  it('backfills a 30-minute outage exactly once', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '09:00'),
      watermarks: { 'BTC/USD': at('08:14'), 'LTC/USD': at('08:14') },
      now: '2026-11-30T08:45:10Z',
    })
    const summary = await h.run()
    expect(summary.emitted).toBe(60)
    const btc = h.producer
      .events()
      .filter((e) => e.symbol === 'BTC/USD')
      .map((e) => e.start)
    expect(btc).toEqual(minutes('08:15', '08:44'))
    expect((await h.run()).emitted).toBe(0)
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:44'), 'LTC/USD': at('08:44') })
  })

  it('counts the minutes beyond the backfill bound instead of skipping them silently', async () => {
    const h = harness({
      market: btcAndLtc('06:00', '09:00'),
      watermarks: { 'BTC/USD': at('06:00'), 'LTC/USD': at('08:10') },
      now: '2026-11-30T08:15:00Z',
      config: { backfillMaxMinutes: 60 },
    })
    const summary = await h.run()
    expect(summary.perSymbol['BTC/USD']?.truncatedMinutes).toBe(74)
    expect(summary.perSymbol['BTC/USD']?.emitted).toBe(60)
    expect(summary.perSymbol['LTC/USD']?.emitted).toBe(4)
    expect(h.counter.total('BarsBackfillTruncatedMinutes')).toBe(74)
  })

  it('uses the earlier of the scheduled time and the clock', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '08:20'),
      now: '2026-11-30T08:12:30Z',
      leakInProgress: true,
    })
    // An event claiming 08:18 while the clock says 08:12:30: the 08:12 bar is still open.
    await h.run({ scheduledAt: '2026-11-30T08:18:00Z' })
    expect(h.api.calls[0]?.end).toBe(at('08:11'))
    // A late delivery of the 08:13 event at 08:20 polls up to 08:12 only.
    h.setNow('2026-11-30T08:20:00Z')
    await h.run({ scheduledAt: '2026-11-30T08:13:00Z' })
    expect(h.api.calls[1]).toEqual({ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:12'), end: at('08:12') })
  })

  it('quarantines malformed bars with their reason and moves past them; emits the rest', async () => {
    const market = btcAndLtc('08:10', '08:14')
    market['BTC/USD'][1] = raw(at('08:11'), { h: '99', l: '101' })
    market['BTC/USD'][4] = raw(at('08:14'), { c: 'NaN' })
    const h = harness({ market, now: '2026-11-30T08:15:30Z' })
    const summary = await h.run()
    expect(
      h.producer
        .events()
        .filter((e) => e.symbol === 'BTC/USD')
        .map((e) => e.start),
    ).toEqual([at('08:10'), at('08:12'), at('08:13')])
    expect(h.quarantined.map((r) => [r.reason, r.key, r.detail])).toEqual([
      ['upstream_malformed', 'BTC/USD', 'high 99 < low 101'],
      ['upstream_malformed', 'BTC/USD', 'c is not a finite number: "NaN"'],
    ])
    expect(summary.perSymbol['BTC/USD']).toMatchObject({ status: 'ok', emitted: 3, rejected: 2 })
    expect(summary.rejected).toBe(2)
    // The trailing bad bar is kept in quarantine; polling it again would only quarantine it twice.
    expect(h.watermarks.current()['BTC/USD']).toBe(at('08:14'))
    h.setNow('2026-11-30T08:15:50Z')
    await h.run()
    expect(h.quarantined).toHaveLength(2)
  })

  it('quarantines bars of symbols it did not ask for, and garbled bodies', async () => {
    const fetchBars: FetchBars = async () => ({
      bars: { 'BTC/USD': [raw(at('08:14'))], 'ZZZ/USD': [raw(at('08:14'))] },
      malformed: [{ detail: 'page 1 of BTC/USD: not JSON', body: '{"bars":' }],
    })
    const h = harness({
      fetchBars,
      now: '2026-11-30T08:15:01Z',
      config: { symbols: ['BTC/USD'], initialLookbackMinutes: 1 },
    })
    const summary = await h.run()
    expect(summary.emitted).toBe(1)
    expect(h.quarantined).toEqual([
      {
        reason: 'malformed_json',
        detail: 'page 1 of BTC/USD: not JSON',
        topic: 'crypto.bars',
        key: null,
        value: '{"bars":',
      },
      {
        reason: 'upstream_malformed',
        detail: 'unknown symbol ZZZ/USD: not requested',
        topic: 'crypto.bars',
        key: 'ZZZ/USD',
        value: JSON.stringify(raw(at('08:14'))),
      },
    ])
  })

  it('one failing symbol does not block the other: it is emitted and saved, then the run throws', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '08:20'),
      now: '2026-11-30T08:15:30Z',
      producerFails: (records) => records[0]?.key === 'BTC/USD',
    })
    const error = await h.run().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PollBarsError)
    const summary = (error as PollBarsError).summary
    expect(summary.perSymbol['BTC/USD']).toMatchObject({
      status: 'failed',
      emitted: 0,
      error: 'broker unavailable (call 1)',
    })
    expect(summary.perSymbol['LTC/USD']).toMatchObject({ status: 'ok', emitted: 5, watermark: at('08:14') })
    expect(h.producer.events().map((e) => e.symbol)).toEqual(Array(5).fill('LTC/USD'))
    expect(h.watermarks.current()).toEqual({ 'LTC/USD': at('08:14') })
    expect(h.counter.counts.filter((c) => c.name === 'SymbolPollFailures')).toEqual([
      { name: 'SymbolPollFailures', value: 1, dimensions: { Symbol: 'BTC/USD' } },
    ])
  })

  it('the watermark moves only past acknowledged sends', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '08:20'),
      now: '2026-11-30T08:15:30Z',
      config: { symbols: ['BTC/USD'], produceChunkSize: 2 },
      producerFails: (_records, call) => call === 2,
    })
    await expect(h.run()).rejects.toBeInstanceOf(PollBarsError)
    // Chunk 1 (08:10, 08:11) acknowledged; chunk 2 failed; chunk 3 never sent.
    expect(h.producer.events().map((e) => e.start)).toEqual([at('08:10'), at('08:11')])
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:11') })
    h.setNow('2026-11-30T08:16:00Z')
    await h.run()
    expect(h.producer.events().map((e) => e.start)).toEqual(minutes('08:10', '08:15'))
  })

  it('emits the pages received before a fetch failure and resumes after them', async () => {
    const fetchBars: FetchBars = async () => ({
      bars: { 'BTC/USD': minutes('08:10', '08:12').map((t) => raw(t)) },
      malformed: [],
      error: new TimeoutError('http://api/bars', 10_000),
    })
    const h = harness({ fetchBars, now: '2026-11-30T08:15:30Z', config: { symbols: ['BTC/USD'] } })
    const error = (await h.run().catch((e: unknown) => e)) as PollBarsError
    expect(error.summary.perSymbol['BTC/USD']).toMatchObject({ status: 'failed', emitted: 3 })
    expect(error.message).toContain('timed out')
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:12') })
  })

  it('emits nothing and keeps the watermark when the quarantine cannot be written', async () => {
    const market = btcAndLtc('08:10', '08:14')
    market['BTC/USD'][0] = raw(at('08:10'), { o: '-1' })
    const h = harness({ market, now: '2026-11-30T08:15:30Z', quarantineFails: true })
    const error = (await h.run().catch((e: unknown) => e)) as PollBarsError
    expect(error.summary.perSymbol['BTC/USD']).toMatchObject({ status: 'failed', error: 'object store down' })
    expect(h.producer.sent).toEqual([])
    expect(h.watermarks.current()).toEqual({})
  })

  it('tries each symbol alone when the API rejects a request, so one bad symbol does not block the others', async () => {
    const calls: string[][] = []
    const fetchBars: FetchBars = async (symbols): Promise<FetchedBars> => {
      calls.push(symbols)
      if (symbols.includes('BAD/USD'))
        return { bars: {}, malformed: [], error: new HttpStatusError('u', 400, undefined, 'invalid symbol') }
      return { bars: { 'BTC/USD': [raw(at('08:14'))] }, malformed: [] }
    }
    const h = harness({
      fetchBars,
      now: '2026-11-30T08:15:30Z',
      config: { symbols: ['BTC/USD', 'BAD/USD'], initialLookbackMinutes: 1 },
    })
    const error = (await h.run().catch((e: unknown) => e)) as PollBarsError
    expect(calls).toEqual([['BTC/USD', 'BAD/USD'], ['BTC/USD'], ['BAD/USD']])
    expect(error.summary.perSymbol['BTC/USD']).toMatchObject({ status: 'ok', emitted: 1 })
    expect(error.summary.perSymbol['BAD/USD']?.status).toBe('failed')
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:14') })
  })

  it('does not start a fetch it has no time for', async () => {
    const h = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:30Z' })
    const error = (await h
      .run({ deadline: Date.parse('2026-11-30T08:15:31Z') })
      .catch((e: unknown) => e)) as PollBarsError
    expect(h.api.calls).toEqual([])
    expect(error.summary.perSymbol['BTC/USD']).toMatchObject({
      status: 'failed',
      error: 'no time left before the deadline',
    })
  })

  it('never moves a watermark backwards when another invocation wrote in between', async () => {
    const h = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:30Z' })
    const load = h.watermarks.load.bind(h.watermarks)
    let first = true
    h.watermarks.load = async () => {
      const loaded = await load()
      if (first) {
        first = false
        // A concurrent run saves BTC further ahead right after we read.
        h.watermarks.set({ 'BTC/USD': at('08:20') })
      }
      return loaded
    }
    await h.run()
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:20'), 'LTC/USD': at('08:14') })
  })

  it('re-polling a window emits the same event ids (sinks dedupe)', async () => {
    const first = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:30Z' })
    const second = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:59Z' })
    await first.run()
    await second.run()
    // Only when it was seen differs: `ingested_at` and `revision` (sinks keep the higher).
    const strip = (events: BarEvent[]) =>
      events.map(({ ingested_at: _at, revision: _revision, ...rest }) => rest)
    expect(strip(second.producer.events())).toEqual(strip(first.producer.events()))
  })
})

// ---------------------------------------------------------------------------------------------

describe('bar revisions (settle window)', () => {
  const settled = { settleWindowMinutes: 3 }
  const ms = (iso: string) => Date.parse(iso)
  /** BTC's bar as Alpaca recalculates it: late trades moved high, close, volume, count, VWAP. */
  const recalculated = (t: string) => raw(t, { h: '101.5', c: '101.4', v: '1.9', n: '5', vw: '100.9' })

  it('the default settle window is 3 minutes', () => {
    expect(DEFAULT_SETTLE_WINDOW_MINUTES).toBe(3)
  })

  it('emits a bar at first sight, nothing on an unchanged re-read, a higher revision on a changed one', async () => {
    const market = btcAndLtc('08:00', '08:20')
    const h = harness({
      market,
      now: '2026-11-30T08:15:02.500Z',
      watermarks: { 'BTC/USD': at('08:13'), 'LTC/USD': at('08:13') },
      config: settled,
    })
    const first = await h.run()
    // The re-read window 08:12..08:14 (3 minutes) plus nothing older: the marks are recent.
    expect(h.api.calls).toEqual([{ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:12'), end: at('08:14') }])
    // No settle state yet (a document written before revisions): 08:12 and 08:13 were handled
    // before, so they are remembered, not emitted again; 08:14 is new.
    expect(first.emitted).toBe(2)
    expect(h.producer.events().map((e) => [e.symbol, e.start, e.revision])).toEqual([
      ['BTC/USD', at('08:14'), ms('2026-11-30T08:15:02.500Z')],
      ['LTC/USD', at('08:14'), ms('2026-11-30T08:15:02.500Z')],
    ])
    expect(h.watermarks.settle()['BTC/USD']?.[at('08:13')]?.revision).toBe(0)

    // 08:15:33: nothing changed upstream: no record at all.
    h.setNow('2026-11-30T08:15:33Z')
    const unchanged = await h.run()
    expect(unchanged).toMatchObject({ emitted: 0, revised: 0 })
    expect(unchanged.perSymbol['BTC/USD']).toMatchObject({ status: 'ok', window: { start: at('08:12') } })
    expect(h.producer.sent).toHaveLength(2)

    // 08:16:03: BTC's 08:14 was recalculated; 08:15 is new.
    market['BTC/USD'][14] = recalculated(at('08:14'))
    h.setNow('2026-11-30T08:16:03Z')
    const changed = await h.run()
    const fresh = h.producer.events().slice(2)
    expect(fresh.map((e) => [e.symbol, e.start, e.revision, e.close])).toEqual([
      ['BTC/USD', at('08:14'), ms('2026-11-30T08:16:03Z'), '101.4'],
      ['BTC/USD', at('08:15'), ms('2026-11-30T08:16:03Z'), '100.75'],
      ['LTC/USD', at('08:15'), ms('2026-11-30T08:16:03Z'), '90.2'],
    ])
    expect(changed).toMatchObject({ emitted: 3, revised: 1 })
    expect(h.counter.total('BarsRevised')).toBe(1)
    expect(h.watermarks.settle()['BTC/USD']?.[at('08:14')]?.revision).toBe(ms('2026-11-30T08:16:03Z'))
  })

  it('a revision is above the previous one even when this clock is behind the one that emitted it', async () => {
    const market = btcAndLtc('08:00', '08:20')
    const h = harness({ market, now: '2026-11-30T08:15:30Z', config: { ...settled, symbols: ['BTC/USD'] } })
    await h.run()
    market['BTC/USD'][14] = recalculated(at('08:14'))
    // A firing with an earlier scheduled time (a late or replayed event): that time alone would regress.
    h.setNow('2026-11-30T08:15:20Z')
    await h.run({ scheduledAt: '2026-11-30T08:15:20Z' })
    const revisions = h.producer
      .events()
      .filter((e) => e.start === at('08:14'))
      .map((e) => e.revision)
    expect(revisions).toEqual([ms('2026-11-30T08:15:30Z'), ms('2026-11-30T08:15:30Z') + 1])
  })

  it('keeps digests only for the bars inside the window, pruned as they leave it', async () => {
    const market = btcAndLtc('08:00', '08:30')
    const h = harness({ market, now: '2026-11-30T08:15:30Z', config: { ...settled, symbols: ['BTC/USD'] } })
    await h.run()
    // First poll: lookback 08:10..08:14; only 08:12..08:14 are in the window.
    expect(Object.keys(h.watermarks.settle()['BTC/USD'] ?? {})).toEqual([
      at('08:12'),
      at('08:13'),
      at('08:14'),
    ])
    h.setNow('2026-11-30T08:17:04Z')
    await h.run()
    expect(Object.keys(h.watermarks.settle()['BTC/USD'] ?? {})).toEqual([
      at('08:14'),
      at('08:15'),
      at('08:16'),
    ])
    // A change after a bar left the window is not polled any more: 08:12 stays as first emitted.
    market['BTC/USD'][12] = recalculated(at('08:12'))
    h.setNow('2026-11-30T08:17:40Z')
    expect((await h.run()).emitted).toBe(0)
  })

  it('a double-fired schedule: both emit the recalculated bar with one revision, the scheduled time', async () => {
    const market = btcAndLtc('08:00', '08:20')
    const shared = harness({
      market,
      now: '2026-11-30T08:15:30Z',
      config: { ...settled, symbols: ['BTC/USD'] },
    })
    await shared.run()
    market['BTC/USD'][14] = recalculated(at('08:14'))
    // Invocation A reads the document, then B (later clock) runs whole and saves before A does.
    const b = {
      ...shared.deps,
      clock: () => new Date('2026-11-30T08:16:04Z'),
    }
    const load = shared.watermarks.load.bind(shared.watermarks)
    let interleaved = false
    shared.watermarks.load = async () => {
      const loaded = await load()
      if (!interleaved) {
        interleaved = true
        await pollBars({ scheduledAt: new Date('2026-11-30T08:16:00Z') }, b)
      }
      return loaded
    }
    shared.setNow('2026-11-30T08:16:02Z')
    await shared.run({ scheduledAt: '2026-11-30T08:16:00Z' })
    const revisions = shared.producer
      .events()
      .filter((e) => e.start === at('08:14'))
      .map((e) => e.revision)
    // First version, then B's and A's sightings of the recalculated content: seen at different
    // instants, but for the same scheduled time, so the same record (every sink dedupes it).
    expect(revisions).toEqual([
      ms('2026-11-30T08:15:30Z'),
      ms('2026-11-30T08:16:00Z'),
      ms('2026-11-30T08:16:00Z'),
    ])
    const recalculatedEvents = shared.producer
      .events()
      .filter((e) => e.start === at('08:14'))
      .slice(1)
    expect(recalculatedEvents[0]).toEqual({
      ...recalculatedEvents[1],
      ingested_at: recalculatedEvents[0]?.ingested_at,
    })
    expect(shared.watermarks.settle()['BTC/USD']?.[at('08:14')]?.revision).toBe(ms('2026-11-30T08:16:00Z'))
    expect(shared.watermarks.current()['BTC/USD']).toBe(at('08:15'))
    shared.watermarks.load = load
    shared.setNow('2026-11-30T08:16:30Z')
    expect((await shared.run()).emitted).toBe(0)
  })

  it('backfills an outage exactly once per bar content, then re-reads only the window', async () => {
    const market = btcAndLtc('08:00', '09:00')
    const h = harness({
      market,
      watermarks: { 'BTC/USD': at('08:14'), 'LTC/USD': at('08:14') },
      now: '2026-11-30T08:45:03Z',
      config: settled,
    })
    expect((await h.run()).emitted).toBe(60)
    h.setNow('2026-11-30T08:45:40Z')
    expect((await h.run()).emitted).toBe(0)
    expect(h.api.calls[1]).toEqual({ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:42'), end: at('08:44') })
    h.setNow('2026-11-30T08:46:03Z')
    expect((await h.run()).emitted).toBe(2)
    const ids = h.producer.events().map((e) => e.event_id)
    expect(ids).toHaveLength(62)
    expect(new Set(ids).size).toBe(62)
  })

  it('does not quarantine the same bad bar again on a re-read, but does when it changed', async () => {
    const market = btcAndLtc('08:10', '08:20')
    market['BTC/USD'][4] = raw(at('08:14'), { c: 'NaN' })
    const h = harness({ market, now: '2026-11-30T08:15:30Z', config: { ...settled, symbols: ['BTC/USD'] } })
    await h.run()
    h.setNow('2026-11-30T08:16:03Z')
    await h.run()
    expect(h.quarantined.map((r) => r.detail)).toEqual(['c is not a finite number: "NaN"'])
    // Recalculated into a valid bar: emitted, first valid version of it.
    market['BTC/USD'][4] = raw(at('08:14'))
    h.setNow('2026-11-30T08:16:40Z')
    const summary = await h.run()
    expect(h.producer.events().at(-1)).toMatchObject({
      start: at('08:14'),
      revision: ms('2026-11-30T08:16:40Z'),
    })
    expect(summary).toMatchObject({ emitted: 1, revised: 0, rejected: 0 })
  })

  it('a re-read never reaches back to emit the minutes before the first poll', async () => {
    const market = btcAndLtc('08:00', '08:20')
    const h = harness({
      market,
      now: '2026-11-30T08:15:03Z',
      config: { ...settled, symbols: ['BTC/USD'], initialLookbackMinutes: 1 },
    })
    await h.run()
    h.setNow('2026-11-30T08:16:03Z')
    await h.run()
    // The second poll re-reads 08:13..08:15; 08:13 is before the first poll's lookback.
    expect(h.api.calls.at(-1)).toMatchObject({ start: at('08:13'), end: at('08:15') })
    expect(h.producer.events().map((e) => e.start)).toEqual([at('08:14'), at('08:15')])
    // Had it changed later, 08:13 would be emitted then: it is remembered now.
    market['BTC/USD'][13] = recalculated(at('08:13'))
    h.setNow('2026-11-30T08:16:33Z')
    await h.run()
    expect(h.producer.events().map((e) => [e.start, e.revision])).toEqual([
      [at('08:14'), ms('2026-11-30T08:15:03Z')],
      [at('08:15'), ms('2026-11-30T08:16:03Z')],
      [at('08:13'), ms('2026-11-30T08:16:33Z')],
    ])
  })

  it('quarantines a bar under an unrequested symbol once, not on every re-read', async () => {
    const fetchBars: FetchBars = async (_symbols, start) => ({
      bars: {
        'BTC/USD': minutes('08:12', '08:15')
          .filter((t) => t >= start)
          .map((t) => raw(t)),
        'ZZZ/USD': [raw(at('08:14'))].filter((bar) => String(bar.t) >= start),
      },
      malformed: [],
    })
    const h = harness({
      fetchBars,
      now: '2026-11-30T08:15:30Z',
      watermarks: { 'BTC/USD': at('08:13') },
      config: { ...settled, symbols: ['BTC/USD'] },
    })
    await h.run()
    h.setNow('2026-11-30T08:16:03Z')
    await h.run()
    expect(h.quarantined.map((r) => r.key)).toEqual(['ZZZ/USD'])
  })
})

describe('bar contract v2', () => {
  const valid = () => toBarEvents('BTC/USD', [raw(at('08:00'))], new Date('2026-11-30T08:01:02Z')).events[0]

  it('requires schema_version 2 and an integer revision in epoch ms', () => {
    const event = valid()
    expect(BarEventSchema.safeParse(event).success).toBe(true)
    const { revision: _dropped, ...withoutRevision } = event as BarEvent
    expect(BarEventSchema.safeParse(withoutRevision).success).toBe(false)
    expect(BarEventSchema.safeParse({ ...event, revision: 1.5 }).success).toBe(false)
    expect(BarEventSchema.safeParse({ ...event, revision: 0 }).success).toBe(false)
    expect(BarEventSchema.safeParse({ ...event, schema_version: 1 }).success).toBe(false)
  })

  it('the exported JSON Schema, which the lake validates against, says the same', async () => {
    const schema = JSON.parse(
      await readFile(new URL('../fixtures/contracts/crypto.bars.schema.json', import.meta.url), 'utf8'),
    )
    expect(schema.required).toContain('revision')
    expect(schema.properties.revision).toMatchObject({ type: 'integer', exclusiveMinimum: 0 })
    expect(schema.properties.schema_version).toMatchObject({ const: 2 })
  })
})

describe('waitForPollSecond', () => {
  const wait = async (now: string, scheduledAt: string, deadline = Number.POSITIVE_INFINITY) => {
    const sleeps: number[] = []
    await waitForPollSecond(new Date(scheduledAt), deadline, {
      clock: () => new Date(now),
      sleep: async (ms) => {
        sleeps.push(ms)
      },
      config: { ...config, pollAtSecond: 3 },
    })
    return sleeps
  }

  it('waits until the configured second of the scheduled minute', async () => {
    expect(await wait('2026-11-30T08:16:00.400Z', '2026-11-30T08:16:00Z')).toEqual([2600])
  })

  it('never for more than half the time left before the deadline', async () => {
    const deadline = Date.parse('2026-11-30T08:16:02.400Z')
    expect(await wait('2026-11-30T08:16:00.400Z', '2026-11-30T08:16:00Z', deadline)).toEqual([1000])
  })

  it('not at all when already past it, or when the clock is behind the scheduled minute', async () => {
    expect(await wait('2026-11-30T08:16:05Z', '2026-11-30T08:16:00Z')).toEqual([])
    expect(await wait('2026-11-30T08:15:58Z', '2026-11-30T08:16:00Z')).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------

describe('alpaca adapter (fetchBars)', () => {
  type Handler = (url: URL, headers: Headers) => Response | Promise<Response>
  function fakeFetch(handler: Handler) {
    const urls: URL[] = []
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const url = new URL(String(input))
      urls.push(url)
      return handler(url, new Headers(init?.headers))
    }
    return { fetch, urls }
  }
  const json = (body: unknown, init?: ResponseInit) => new Response(JSON.stringify(body), init)
  const noSleep = async () => {}
  const far = Number.MAX_SAFE_INTEGER

  it('follows next_page_token with the other parameters unchanged', async () => {
    const pages: Record<string, unknown> = {
      '': { bars: { 'BTC/USD': [raw(at('08:10')), raw(at('08:11'))] }, next_page_token: 'p2' },
      p2: { bars: { 'BTC/USD': [raw(at('08:12'))], 'LTC/USD': [raw(at('08:10'))] }, next_page_token: 'p3' },
      p3: { bars: { 'LTC/USD': [raw(at('08:11'))] }, next_page_token: null },
    }
    const { fetch, urls } = fakeFetch((url) => json(pages[url.searchParams.get('page_token') ?? '']))
    const client = createAlpacaClient({
      baseUrl: 'https://data.example/',
      location: 'us-1',
      timeoutMs: 1000,
      fetch,
    })
    const result = await client.fetchBars(['BTC/USD', 'LTC/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(result.error).toBeUndefined()
    expect(result.bars['BTC/USD']?.map((bar) => (bar as { t: string }).t)).toEqual([
      at('08:10'),
      at('08:11'),
      at('08:12'),
    ])
    expect(result.bars['LTC/USD']?.map((bar) => (bar as { t: string }).t)).toEqual([at('08:10'), at('08:11')])
    expect(urls.map((url) => url.pathname)).toEqual(Array(3).fill('/v1beta3/crypto/us-1/bars'))
    expect(urls.map((url) => Object.fromEntries(url.searchParams))).toEqual([
      {
        symbols: 'BTC/USD,LTC/USD',
        timeframe: '1Min',
        start: at('08:10'),
        end: at('08:14'),
        limit: '10000',
        sort: 'asc',
      },
      {
        symbols: 'BTC/USD,LTC/USD',
        timeframe: '1Min',
        start: at('08:10'),
        end: at('08:14'),
        limit: '10000',
        sort: 'asc',
        page_token: 'p2',
      },
      {
        symbols: 'BTC/USD,LTC/USD',
        timeframe: '1Min',
        start: at('08:10'),
        end: at('08:14'),
        limit: '10000',
        sort: 'asc',
        page_token: 'p3',
      },
    ])
  })

  it('sends the API keys when it has them', async () => {
    let seen: Headers | undefined
    const { fetch } = fakeFetch((_url, headers) => {
      seen = headers
      return json({ bars: {}, next_page_token: null })
    })
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      keys: { keyId: 'AK', secretKey: 'SK' },
    })
    await client.fetchBars(['BTC/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(seen?.get('apca-api-key-id')).toBe('AK')
    expect(seen?.get('apca-api-secret-key')).toBe('SK')
  })

  it('honours 429 Retry-After and retries 5xx and garbled bodies, keeping the garbled ones', async () => {
    const answers = [
      () => json({ message: 'rate limit exceeded' }, { status: 429, headers: { 'retry-after': '2' } }),
      () => json({ message: 'oops' }, { status: 503 }),
      () => new Response('{"bars":{"BTC/USD":[{"t":'),
      () => json({ bars: { 'BTC/USD': [raw(at('08:10'))] }, next_page_token: null }),
    ]
    const { fetch } = fakeFetch(() => (answers.shift() as () => Response)())
    const sleeps: number[] = []
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      sleep: async (ms) => {
        sleeps.push(ms)
      },
      random: () => 0,
    })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:10'), { deadline: far })
    expect(result.error).toBeUndefined()
    expect(result.bars['BTC/USD']).toHaveLength(1)
    expect(sleeps).toEqual([2000, 250, 500])
    expect(result.malformed).toHaveLength(1)
    expect(result.malformed[0]?.body).toBe('{"bars":{"BTC/USD":[{"t":')
    expect(result.malformed[0]?.detail).toContain('page 1 of BTC/USD')
  })

  it('treats a body of the wrong shape like a garbled one', async () => {
    const { fetch } = fakeFetch(() => json({ bars: { 'BTC/USD': { t: 'x' } } }))
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      retries: 1,
      sleep: noSleep,
    })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:10'), { deadline: far })
    expect(result.error).toBeInstanceOf(MalformedBodyError)
    expect(result.malformed.map((m) => m.body)).toEqual(Array(2).fill('{"bars":{"BTC/USD":{"t":"x"}}}'))
  })

  it.each([
    [[], 'the body is not an object'],
    [{ bars: [] }, 'bars is not an object'],
    [{ bars: { 'BTC/USD': { t: 'x' } } }, 'bars of BTC/USD is not a list'],
    // Numbers arrive as their source text (shared/adapters/http.ts): an object is what cannot be a token.
    [{ bars: {}, next_page_token: {} }, 'next_page_token is not a string'],
  ])('says what is wrong with a page of the wrong shape: %j', async (body, why) => {
    const { fetch } = fakeFetch(() => json(body))
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      retries: 0,
    })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:10'), { deadline: far })
    expect(result.malformed.map((m) => m.detail.endsWith(`: ${why}`))).toEqual([true])
  })

  it('returns the pages it got with the error when a later page keeps failing', async () => {
    const { fetch } = fakeFetch((url) =>
      url.searchParams.get('page_token')
        ? json({ message: 'down' }, { status: 500 })
        : json({ bars: { 'BTC/USD': [raw(at('08:10'))] }, next_page_token: 'p2' }),
    )
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      retries: 2,
      sleep: noSleep,
    })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(result.bars['BTC/USD']).toHaveLength(1)
    expect(result.error).toBeInstanceOf(HttpStatusError)
    expect((result.error as HttpStatusError).status).toBe(500)
  })

  it('does not retry a rejected request', async () => {
    const { fetch, urls } = fakeFetch(() => json({ message: 'invalid symbol' }, { status: 400 }))
    const client = createAlpacaClient({
      baseUrl: 'https://d',
      location: 'us',
      timeoutMs: 1000,
      fetch,
      sleep: noSleep,
    })
    const result = await client.fetchBars(['BAD/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(urls).toHaveLength(1)
    expect(isRequestRejected(result.error)).toBe(true)
  })

  it('stops when the API repeats a page token', async () => {
    const { fetch, urls } = fakeFetch(() => json({ bars: {}, next_page_token: 'same' }))
    const client = createAlpacaClient({ baseUrl: 'https://d', location: 'us', timeoutMs: 1000, fetch })
    const result = await client.fetchBars(['BTC/USD'], at('08:10'), at('08:14'), { deadline: far })
    expect(urls).toHaveLength(2)
    expect(String(result.error)).toContain('repeated page token')
  })
})

// ---------------------------------------------------------------------------------------------

describe('pollBars against the simulator with faults', () => {
  let sim: AlpacaSimulator | undefined
  afterEach(async () => {
    await sim?.close()
    sim = undefined
  })

  it('gets every closed minute exactly once through 429s, 5xx, garbled bodies, slow answers and small pages', async () => {
    let now = new Date('2026-11-30T10:00:20Z')
    sim = await startAlpacaSimulator({
      seed: 3,
      now: () => now,
      // Faults, not timing, are under test here: every closed minute at once, final.
      timing: 'ideal',
      faults: {
        rateLimitEvery: 4,
        retryAfterSeconds: 1,
        serverErrorEvery: 5,
        malformedEvery: 7,
        slowMs: 400,
        slowEvery: 6,
        missingMinutes: ['2026-11-30T09:30:00Z'],
        badBars: [{ minute: '2026-11-30T09:40:00Z', symbol: 'LTC/USD', kind: 'off_minute' }],
      },
    })
    const sleeps: number[] = []
    const client = createAlpacaClient({
      baseUrl: sim.url,
      location: 'us',
      // Generous against a loaded machine, far below slowMs: slow answers always time out.
      timeoutMs: 100,
      pageLimit: 7,
      // Requests 4..8 all fail (429, 500, slow, garbled, 429): a page may need six attempts.
      retries: 10,
      sleep: async (ms) => {
        sleeps.push(ms)
      },
    })
    const h = harness({
      fetchBars: client.fetchBars,
      now: now.toISOString(),
      watermarks: { 'BTC/USD': at('09:00'), 'LTC/USD': at('09:00') },
    })
    const summary = await h.run()
    // 09:01..09:59 = 59 minutes per symbol; 09:30 has no bar; LTC's 09:40 is off the minute.
    expect(summary.perSymbol['BTC/USD']).toMatchObject({
      status: 'ok',
      emitted: 58,
      rejected: 0,
      watermark: at('09:59'),
    })
    expect(summary.perSymbol['LTC/USD']).toMatchObject({
      status: 'ok',
      emitted: 57,
      rejected: 1,
      watermark: at('09:59'),
    })
    const ids = h.producer.events().map((e) => e.event_id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(h.quarantined.filter((r) => r.reason === 'upstream_malformed').map((r) => r.detail)).toEqual([
      't is not on the minute: 2026-11-30T09:40:17Z',
    ])
    expect(h.quarantined.filter((r) => r.reason === 'malformed_json').length).toBe(sim.stats().malformed)
    const stats = sim.stats()
    expect(stats.rateLimited).toBeGreaterThan(0)
    expect(stats.serverErrors).toBeGreaterThan(0)
    expect(stats.malformed).toBeGreaterThan(0)
    expect(stats.slowed).toBeGreaterThan(0)
    expect(sleeps.some((ms) => ms >= 1000)).toBe(true)

    now = new Date('2026-11-30T10:01:05Z')
    h.setNow(now.toISOString())
    const next = await h.run()
    expect(next.emitted).toBe(2)
  })
})
