/**
 * The poll-bars unit tests' kit: raw Alpaca bars on 2026-11-30, a fixed market behind a fake
 * API, a watermark store in memory, and a harness that runs pollBars over them with the shared
 * fakes (tests/helpers/fakes.ts) and a clock the test moves.
 */
import { isRequestRejected } from '../../functions/poll-bars/alpaca.ts'
import { type PollBarsConfig, pollBars } from '../../functions/poll-bars/core.ts'
import {
  objectWatermarkStore,
  type SettleState,
  WATERMARK_KEY,
  type WatermarkState,
  type Watermarks,
} from '../../functions/poll-bars/watermark.ts'
import type { BarEvent } from '../../functions/shared/contracts.ts'
import type { FetchBars, OutgoingRecord } from '../../functions/shared/ports.ts'
import { memoryObjectStore, recordingCounter, recordingProducer, recordingQuarantine } from './fakes.ts'

export const at = (hhmm: string, day = '2026-11-30') => `${day}T${hhmm}:00Z`

/** A raw bar as shared/adapters/http.ts hands it over: numbers as their JSON source text. */
export function raw(t: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { t, o: '100.5', h: '101.25', l: '100', c: '100.75', v: '1.5', n: '3', vw: '100.6', ...fields }
}

/** Bars for every minute in [from, to] (HH:MM, inclusive) on 2026-11-30. */
export function minutes(from: string, to: string): string[] {
  const out: string[] = []
  for (let ms = Date.parse(at(from)); ms <= Date.parse(at(to)); ms += 60_000)
    out.push(new Date(ms).toISOString().replace('.000Z', 'Z'))
  return out
}

export const btcAndLtc = (from: string, to: string) => ({
  'BTC/USD': minutes(from, to).map((t) => raw(t)),
  'LTC/USD': minutes(from, to).map((t) =>
    raw(t, { o: '90.1', h: '90.3', l: '89.9', c: '90.2', vw: '90.15' }),
  ),
})

/** The settle window the revision tests turn on (the harness's default config has none). */
export const settled = { settleWindowMinutes: 3 }
export const ms = (iso: string) => Date.parse(iso)
/** BTC's bar as Alpaca recalculates it: late trades moved high, close, volume, count, VWAP. */
export const recalculated = (t: string) => raw(t, { h: '101.5', c: '101.4', v: '1.9', n: '5', vw: '100.9' })

/**
 * The real watermark store (objectWatermarkStore: the document, its validation, the conditional
 * write) over an object store in memory, seeded with `initial`. `set` writes the document as
 * another invocation would, whatever version this one read.
 */
function memoryWatermarks(initial: Watermarks = {}) {
  const objects = memoryObjectStore()
  const write = (marks: Watermarks, settle: SettleState = {}) =>
    objects.put(WATERMARK_KEY, JSON.stringify({ marks, settle }))
  const seeded = Object.keys(initial).length ? write(initial) : Promise.resolve()
  const stored = () => {
    const text = objects.text(WATERMARK_KEY)
    return text === undefined ? { marks: {}, settle: {} } : (JSON.parse(text) as WatermarkState)
  }
  return Object.assign(objectWatermarkStore(objects), {
    seeded,
    current: (): Watermarks => stored().marks,
    settle: (): SettleState => stored().settle,
    set: write,
  })
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

/** The watermark path alone; the revision tests turn the settle window on ({@link settled}). */
export const config: PollBarsConfig = {
  symbols: ['BTC/USD', 'LTC/USD'],
  backfillMaxMinutes: 1440,
  initialLookbackMinutes: 5,
  settleWindowMinutes: 0,
}

/**
 * pollBars over a fake API (or the given `fetchBars`), the recording producer, counter and
 * quarantine, and the watermark store over an object store in memory, at a clock the test moves with `setNow`.
 */
export function harness(options: {
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
  const { quarantine, rejections: quarantined } = recordingQuarantine(
    options.quarantineFails ? new Error('object store down') : undefined,
  )
  let now = new Date(options.now)
  const deps = {
    fetchBars: options.fetchBars ?? api.fetchBars,
    producer,
    watermarks,
    counter,
    quarantine,
    clock: () => now,
    isRequestRejected,
    config: { ...config, ...options.config },
  }
  return {
    api,
    producer,
    /** The emitted bar events, in send order. */
    events: () => producer.values<BarEvent>(),
    watermarks,
    counter,
    quarantined,
    deps,
    setNow: (iso: string) => {
      now = new Date(iso)
    },
    run: async (input: { scheduledAt?: string; deadline?: number } = {}) => {
      await watermarks.seeded
      return pollBars(
        { scheduledAt: new Date(input.scheduledAt ?? now.toISOString()), deadline: input.deadline },
        deps,
      )
    },
  }
}
