/**
 * backfill-bars against an Alpaca that enforces its request budget, as the free tier does
 * (200 requests a minute; here 3, so that a small window overruns it): the simulator answers the
 * requests over the budget of a clock minute with 429 and a Retry-After up to the next minute.
 * The backfill must wait and carry on, not fail or skip a chunk: every minute of the window
 * reaches crypto.bars exactly once, and the simulator really did turn requests away.
 *
 * Takes up to a minute or two of wall time by design (the budget resets on the minute). Symbols
 * are unique per run; read-back is bounded by the topic's end offsets before and after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { type BarEvent, barEventId } from '../../functions/shared/contracts.ts'
import { isoSeconds, MINUTE } from '../../functions/shared/time.ts'
import { runLocalBackfill } from '../../local/backfill.ts'
import { endOffsets, readRange } from '../../local/runtime/kafka-read.ts'
import { type RunningServices, startServices } from '../../local/services/index.ts'
import { type AlpacaSimulator, startAlpacaSimulator } from '../../local/simulators/alpaca.ts'

const run = Date.now().toString(36).toUpperCase().slice(-6)
const SYMBOLS = [`RLA${run}/USD`, `RLB${run}/USD`]
const START = '2026-10-06T00:00:00Z'
const END = '2026-10-06T03:00:00Z'
const BUDGET = 3

let services: RunningServices
let simulator: AlpacaSimulator
let kafka: KafkaConnection

beforeAll(async () => {
  services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  simulator = await startAlpacaSimulator({
    seed: 29,
    timing: 'ideal',
    faults: { rateLimitPerMinute: BUDGET },
  })
}, 120_000)

afterAll(async () => {
  await simulator?.close()
  await services?.stop()
})

describe('backfill-bars under Alpaca rate limiting', () => {
  it('waits out 429s and still loads every minute exactly once', async () => {
    const before = (await endOffsets(kafka, ['crypto.bars'])).get('crypto.bars') ?? []
    // Six chunks of 30 minutes, four at a time (the Map's MaxConcurrency): at least one chunk
    // meets the spent budget, whatever second of the minute the test starts in.
    const result = await runLocalBackfill(
      { symbols: SYMBOLS, start: START, end: END, chunkMinutes: 30, refreshLake: false },
      { profile: 'test', alpacaUrl: simulator.url, eventSources: false, log: () => undefined },
    )
    expect(result.status, JSON.stringify(result.error)).toBe('SUCCEEDED')

    const after = (await endOffsets(kafka, ['crypto.bars'])).get('crypto.bars') ?? []
    const bars = (await readRange(kafka, 'crypto.bars', before, after))
      .map((message) => JSON.parse(message.value?.toString() ?? '{}') as BarEvent)
      .filter((bar) => SYMBOLS.includes(bar.symbol))
    const expected: string[] = []
    for (const symbol of SYMBOLS)
      for (let ms = Date.parse(START); ms < Date.parse(END); ms += MINUTE)
        expected.push(barEventId(symbol, isoSeconds(ms)))
    expect(bars.map((bar) => bar.event_id).sort()).toEqual(expected.sort())

    const stats = simulator.stats()
    expect(stats.rateLimited).toBeGreaterThan(0)
    const barRequests = stats.log.filter((entry) => entry.url.includes('/bars?'))
    expect(barRequests.filter((entry) => entry.status === 200)).toHaveLength(6)
    expect(barRequests.every((entry) => entry.status === 200 || entry.status === 429)).toBe(true)
  }, 420_000)
})
