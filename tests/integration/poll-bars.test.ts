/**
 * poll-bars on the real broker: the Alpaca simulator -> pollBars -> crypto.bars, read back from
 * Kafka. Exactly the expected closed minutes, once each; a repeated invocation adds nothing; a
 * 30-minute outage is backfilled exactly once; malformed bars are quarantined with their
 * reasons. Then bar revisions against the simulator's realistic timing (published 1 s late,
 * some bars recalculated 30 s later): a recalculated bar ends as 2 records with increasing
 * revisions, any other as exactly 1. Then the real handler, loaded as the Lambda runtime
 * would, on a scheduled event.
 *
 * Symbols are unique per run (the test profile's topics keep their history), and every
 * read-back is bounded by the topic's end offsets before and after the step.
 */
import { mkdtempSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Message } from '@platformatic/kafka'
import Big from 'big.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAlpacaClient } from '../../functions/poll-bars/alpaca.ts'
import { type PollBarsDeps, pollBars } from '../../functions/poll-bars/core.ts'
import type { PollBarsSummary } from '../../functions/poll-bars/summary.ts'
import { fileWatermarkStore, WATERMARK_KEY } from '../../functions/poll-bars/watermark.ts'
import { createKafkaProducer, type KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { type BarEvent, BarEventSchema } from '../../functions/shared/contracts.ts'
import type { EventProducer } from '../../functions/shared/ports.ts'
import { quarantine } from '../../functions/shared/quarantine.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import { endOffsets, type Offsets, readRange } from '../../local/runtime/kafka-read.ts'
import { type RunningServices, startServices } from '../../local/services/index.ts'
import {
  type AlpacaSimulator,
  isRecalculated,
  preliminaryBar,
  simulatedBar,
  startAlpacaSimulator,
} from '../../local/simulators/alpaca.ts'
import { loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'
import { quarantineRecords } from '../helpers/quarantine.ts'

const run = Math.random().toString(36).slice(2, 6).toUpperCase()
const A = `PB${run}A/USD`
const B = `PB${run}B/USD`
const C = `PB${run}C/USD`

/** ISO minutes from `from` to `to` (HH:MM on 2026-11-30, inclusive), minus `except`. */
function minutes(from: string, to: string, except: string[] = []): string[] {
  const out: string[] = []
  const end = Date.parse(`2026-11-30T${to}:00Z`)
  for (let ms = Date.parse(`2026-11-30T${from}:00Z`); ms <= end; ms += 60_000) {
    const iso = new Date(ms).toISOString().replace('.000Z', 'Z')
    if (!except.includes(iso.slice(11, 16))) out.push(iso)
  }
  return out
}

let services: RunningServices
let kafka: KafkaConnection
let producer: EventProducer
let simulator: AlpacaSimulator
let handlerSimulator: AlpacaSimulator | undefined
let realisticSimulator: AlpacaSimulator | undefined
let stateDir: string
let now = new Date('2026-11-30T10:30:05Z')
const counts: Array<{ name: string; value: number }> = []

async function offsetsNow(): Promise<Offsets> {
  return (await endOffsets(kafka, ['crypto.bars'])).get('crypto.bars') ?? []
}

/** The bars of `symbols` written to crypto.bars between two offset snapshots. */
async function barsBetween(from: Offsets, to: Offsets, symbols: string[]): Promise<BarEvent[]> {
  const messages: Message[] = await readRange(kafka, 'crypto.bars', from, to)
  return messages
    .filter((message) => symbols.includes(String(message.key)))
    .map((message) => {
      const event = BarEventSchema.parse(JSON.parse(String(message.value)))
      expect(String(message.key)).toBe(event.symbol)
      return event
    })
}

function deps(): PollBarsDeps {
  const store = fileObjectStore(stateDir)
  return {
    fetchBars: createAlpacaClient({ baseUrl: simulator.url, location: 'us', timeoutMs: 10_000 }).fetchBars,
    producer,
    watermarks: fileWatermarkStore(join(stateDir, WATERMARK_KEY)),
    quarantine: (rejections) => quarantine(store, 'poll-bars', rejections, now, { count: () => undefined }),
    counter: { count: (name, value) => counts.push({ name, value }) },
    clock: () => now,
    config: { symbols: [A, B], backfillMaxMinutes: 1440, initialLookbackMinutes: 30 },
  }
}

const poll = (at: string): Promise<PollBarsSummary> => {
  now = new Date(at)
  return pollBars({ scheduledAt: new Date(at.replace(/:\d{2}Z$/, ':00Z')) }, deps())
}

beforeAll(async () => {
  services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  producer = createKafkaProducer(kafka, 'poll-bars-it')
  stateDir = mkdtempSync(join(tmpdir(), 'poll-bars-it-'))
  simulator = await startAlpacaSimulator({
    seed: 11,
    now: () => now,
    // Windows, backfill and quarantine are under test here; revisions have their own suite.
    timing: 'ideal',
    faults: {
      badBars: [
        { minute: '2026-11-30T10:07:00Z', symbol: A, kind: 'high_below_low' },
        { minute: '2026-11-30T10:21:00Z', symbol: A, kind: 'nan_price' },
        { minute: '2026-11-30T10:45:00Z', symbol: A, kind: 'off_minute' },
      ],
      missingMinutes: [{ from: '2026-11-30T10:13:00Z', symbol: B }],
    },
  })
})

afterAll(async () => {
  await producer?.close()
  await simulator?.close()
  await realisticSimulator?.close()
  await handlerSimulator?.close()
  await services?.stop()
})

describe('poll-bars -> crypto.bars (real broker)', () => {
  const before: Offsets[] = []

  it('emits exactly the closed minutes of the window, once each, keyed by symbol', async () => {
    before.push(await offsetsNow())
    const summary = await poll('2026-11-30T10:30:05Z')
    const events = await barsBetween(before[0] ?? [], await offsetsNow(), [A, B])

    const startsOf = (symbol: string) => events.filter((e) => e.symbol === symbol).map((e) => e.start)
    // 10:00..10:29; A's 10:07 and 10:21 are malformed, B has no bar at 10:13.
    expect(startsOf(A)).toEqual(minutes('10:00', '10:29', ['10:07', '10:21']))
    expect(startsOf(B)).toEqual(minutes('10:00', '10:29', ['10:13']))
    expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length)
    // Records come back partition by partition; within a symbol (one key, one partition), in order.
    expect(events.find((e) => e.symbol === A)?.event_id).toBe(`alpaca:${A}:2026-11-30T10:00:00Z`)
    expect(summary.perSymbol[A]).toMatchObject({
      status: 'ok',
      emitted: 28,
      rejected: 2,
      watermark: '2026-11-30T10:29:00Z',
    })
    expect(summary.perSymbol[B]).toMatchObject({
      status: 'ok',
      emitted: 29,
      rejected: 0,
      watermark: '2026-11-30T10:29:00Z',
    })
  })

  it('a second invocation adds no new event ids', async () => {
    const from = await offsetsNow()
    const summary = await poll('2026-11-30T10:30:40Z')
    expect(summary.emitted).toBe(0)
    expect(await barsBetween(from, await offsetsNow(), [A, B])).toEqual([])
  })

  it('backfills a 30-minute outage exactly once', async () => {
    const from = await offsetsNow()
    // No poll ran from 10:31 to 11:00: the next one catches up on 10:30..10:59.
    const summary = await poll('2026-11-30T11:00:20Z')
    const again = await poll('2026-11-30T11:00:50Z')
    const events = await barsBetween(from, await offsetsNow(), [A, B])
    expect(events.filter((e) => e.symbol === A).map((e) => e.start)).toEqual(
      minutes('10:30', '10:59', ['10:45']),
    )
    expect(events.filter((e) => e.symbol === B).map((e) => e.start)).toEqual(minutes('10:30', '10:59'))
    expect(summary.emitted).toBe(59)
    expect(again.emitted).toBe(0)

    // Over the whole test, every minute of each symbol reached the topic exactly once.
    const all = await barsBetween(before[0] ?? [], await offsetsNow(), [A, B])
    expect(all).toHaveLength(28 + 29 + 29 + 30)
    expect(new Set(all.map((e) => e.event_id)).size).toBe(all.length)
  })

  it('quarantined the malformed bars with their reasons, in the object store', async () => {
    const records = await quarantineRecords(
      fileObjectStore(stateDir),
      'quarantine/crypto.bars/dt=2026-11-30/',
    )
    expect(records.map((r) => [r.stage, r.reason, r.topic, r.key])).toEqual(
      Array(3).fill(['poll-bars', 'upstream_malformed', 'crypto.bars', A]),
    )
    const details = records.map((r) => r.detail).sort()
    expect(details[0]).toBe('c is not a finite number: "NaN"')
    expect(details[1]).toMatch(/^high [\d.]+ < low [\d.]+$/)
    expect(details[2]).toBe('t is not on the minute: 2026-11-30T10:45:17Z')
    expect(records.every((r) => r.value?.includes('"t":"2026-11-30T10:'))).toBe(true)
    expect(counts.filter((c) => c.name === 'BarsEmitted').map((c) => c.value)).toEqual([57, 0, 59, 0])
  })
})

describe('bar revisions against the realistic simulator (real broker)', () => {
  const SEED = 23
  const FIRST = Date.parse('2026-11-30T10:00:00Z') / 60_000
  /** Minutes 10:00..10:04 of a symbol that Alpaca (the simulator) recalculates. */
  const recalculatedOf = (symbol: string) =>
    [0, 1, 2, 3, 4].filter((i) => isRecalculated(SEED, symbol, FIRST + i, 0.3)).map((i) => FIRST + i)
  // A symbol with both kinds among its first five minutes (the choice depends on the run's prefix).
  const symbol =
    Array.from({ length: 50 }, (_, i) => `PB${run}R${i}/USD`).find((candidate) => {
      const count = recalculatedOf(candidate).length
      return count > 0 && count < 5
    }) ?? ''
  let clock = new Date('2026-11-30T10:01:00.500Z')
  /** The simulator writes fixed decimals (`92360.90`); events carry the exact decimal (`92360.9`). */
  const dec = (text: string) => new Big(text).toFixed()

  it('emits a bar as soon as it is published, a new revision once it is recalculated, nothing else', async () => {
    expect(symbol).not.toBe('')
    realisticSimulator = await startAlpacaSimulator({ seed: SEED, now: () => clock, faults: {} })
    const state = mkdtempSync(join(tmpdir(), 'poll-bars-revisions-'))
    const revisionDeps = (): PollBarsDeps => ({
      fetchBars: createAlpacaClient({
        baseUrl: realisticSimulator?.url ?? '',
        location: 'us',
        timeoutMs: 10_000,
      }).fetchBars,
      producer,
      watermarks: fileWatermarkStore(join(state, WATERMARK_KEY)),
      quarantine: async () => undefined,
      counter: { count: () => undefined },
      clock: () => clock,
      config: {
        symbols: [symbol],
        backfillMaxMinutes: 1440,
        initialLookbackMinutes: 1,
        settleWindowMinutes: 3,
      },
    })
    const pollAt = async (iso: string) => {
      clock = new Date(iso)
      return pollBars({ scheduledAt: new Date(`${iso.slice(0, 16)}:00Z`) }, revisionDeps())
    }
    const from = await offsetsNow()
    // Half a second after 10:01: Alpaca has not published the 10:00 bar yet.
    expect((await pollAt('2026-11-30T10:01:00.500Z')).emitted).toBe(0)
    // Then every minute, 3 s past it, as the AWS schedule does.
    for (const minute of ['10:01', '10:02', '10:03', '10:04', '10:05', '10:06'])
      await pollAt(`2026-11-30T${minute}:03Z`)
    const events = (await barsBetween(from, await offsetsNow(), [symbol])).filter(
      (e) => e.start <= '2026-11-30T10:04:00Z',
    )

    const recalculated = new Set(recalculatedOf(symbol))
    for (let minute = FIRST; minute <= FIRST + 4; minute++) {
      const start = new Date(minute * 60_000).toISOString().replace('.000Z', 'Z')
      const records = events.filter((e) => e.start === start)
      const final = simulatedBar(SEED, symbol, minute)
      // Seen by the poll of the minute that followed it (3 s past it), whose scheduled time is
      // the revision; the recalculation by the poll after that.
      const firstSeen = (minute + 1) * 60_000
      if (recalculated.has(minute)) {
        const preliminary = preliminaryBar(SEED, symbol, minute)
        expect(
          records.map((e) => [e.revision, e.close, e.volume, e.trade_count]),
          start,
        ).toEqual([
          [firstSeen, dec(preliminary.c), dec(preliminary.v), preliminary.n],
          [firstSeen + 60_000, dec(final.c), dec(final.v), final.n],
        ])
      } else {
        expect(
          records.map((e) => [e.revision, e.close, e.volume]),
          start,
        ).toEqual([[firstSeen, dec(final.c), dec(final.v)]])
      }
    }
    expect(events.length).toBe(5 + recalculated.size)
  })
})

describe('the poll-bars handler (real event shape, real broker)', () => {
  it('polls on a scheduled event and does nothing more on a repeated one', async () => {
    // The real clock: ideal timing, so a recalculation between the two invocations cannot happen.
    handlerSimulator = await startAlpacaSimulator({ seed: 5, faults: {}, timing: 'ideal' })
    const handlerState = mkdtempSync(join(tmpdir(), 'poll-bars-handler-'))
    const pollBarsFunction = await loadTestFunction('pollBars', {
      ...testStandIns(services, { state: handlerState }),
      ALPACA_DATA_URL: handlerSimulator.url,
      ALPACA_LOCATION: 'us',
      SYMBOLS: C,
      INITIAL_LOOKBACK_MINUTES: '5',
    })
    // The event of the current minute, as EventBridge sends it.
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000)
    const time = minute.toISOString().replace('.000Z', 'Z')
    const event = {
      version: '0',
      id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '123456789012',
      time,
      region: 'us-east-1',
      resources: [
        'arn:aws:events:us-east-1:123456789012:rule/crypto-data-lake-dev-PollBarsEventsRuleSchedule1',
      ],
      detail: {},
    }
    const from = await offsetsNow()
    const first = (await pollBarsFunction.invoke(event)) as PollBarsSummary
    const second = (await pollBarsFunction.invoke(event)) as PollBarsSummary
    const events = await barsBetween(from, await offsetsNow(), [C])

    const expected = [5, 4, 3, 2, 1].map((back) =>
      new Date(minute.getTime() - back * 60_000).toISOString().replace('.000Z', 'Z'),
    )
    expect(events.map((e) => e.start)).toEqual(expected)
    expect(first.perSymbol[C]).toMatchObject({ status: 'ok', emitted: 5, watermark: expected.at(-1) })
    expect(second.emitted).toBe(0)
    const stored = JSON.parse(await readFile(join(handlerState, WATERMARK_KEY), 'utf8'))
    expect(stored.marks).toEqual({ [C]: expected.at(-1) })
  })
})
