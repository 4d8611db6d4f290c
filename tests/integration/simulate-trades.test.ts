/**
 * simulate-trades on the real broker, behind the Alpaca simulator: the real handler (config from
 * the environment, cold start once), scheduled events as EventBridge sends them, records read
 * back from crypto.trades between offsets taken around each invocation. Symbols are unique per
 * run, so other runs' trades in the shared topic cannot disturb the counts.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Message } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { type TradeEvent, TradeEventSchema } from '../../functions/shared/contracts.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import type { SimulateTradesSummary } from '../../functions/simulate-trades/core.ts'
import { endOffsets, readRange } from '../../local/runtime/kafka-read.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { scheduledEvent } from '../../local/runtime/schedules.ts'
import { startServices } from '../../local/services/index.ts'
import { type AlpacaSimulator, startAlpacaSimulator } from '../../local/simulators/alpaca.ts'
import { runId } from '../helpers/fakes.ts'
import { loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'
import { quarantineRecords } from '../helpers/quarantine.ts'

const run = runId()
const SYMBOLS = [`IT${run}A/USD`, `IT${run}B/USD`]
const TRADES = 30
const TOPIC = 'crypto.trades'

let kafka: KafkaConnection
let alpaca: AlpacaSimulator
let simulateTrades: LocalFunction
let rawDir: string
/** The Alpaca simulator's clock: quotes are stamped with it. */
let quoteClock = new Date()

/** The current minute: a quote stamped a few seconds after it is fresh for the whole minute. */
const currentMinute = () => new Date(Math.floor(Date.now() / 60_000) * 60_000)

/** Invokes the handler and returns its summary and the records it added to crypto.trades for our symbols. */
async function fire(minute: Date): Promise<{ summary: SimulateTradesSummary; records: Message[] }> {
  const before = (await endOffsets(kafka, [TOPIC])).get(TOPIC) ?? []
  const summary = (await simulateTrades.invoke(
    scheduledEvent('simulate-trades-it', minute),
  )) as SimulateTradesSummary
  return { summary, records: await recordsSince(before) }
}

async function recordsSince(before: bigint[]): Promise<Message[]> {
  const after = (await endOffsets(kafka, [TOPIC])).get(TOPIC) ?? []
  const records = await readRange(kafka, TOPIC, before, after)
  return records.filter((record) => SYMBOLS.includes(JSON.parse(String(record.value)).symbol))
}

const eventsOf = (records: Message[]): TradeEvent[] =>
  records.map((record) => TradeEventSchema.parse(JSON.parse(String(record.value))))

const quarantined = () => quarantineRecords(fileObjectStore(rawDir), `quarantine/${TOPIC}/`)

/** Makes the next request the simulator sees the `n`th since `setFaults` (faults count "every Nth"). */
async function skipRequests(count: number) {
  for (let i = 0; i < count; i++) await fetch(`${alpaca.url}/v1beta3/crypto/us/latest/quotes?symbols=BTC/USD`)
}

beforeAll(async () => {
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  alpaca = await startAlpacaSimulator({ faults: {}, now: () => quoteClock })
  rawDir = mkdtempSync(join(tmpdir(), 'simulate-trades-it-'))
  simulateTrades = await loadTestFunction('simulateTrades', {
    ...testStandIns(services, { raw: rawDir }),
    ALPACA_DATA_URL: alpaca.url,
    ALPACA_LOCATION: 'us',
    SYMBOLS: SYMBOLS.join(','),
    TRADES_PER_MINUTE: String(TRADES),
    POPULATION_SIZE: '50',
    POPULATION_SEED: `it-${run}`,
    QUOTE_MAX_AGE_SECONDS: '120',
    HTTP_TIMEOUT_MS: '1000',
    HTTP_RETRIES: '2',
  })
})

afterAll(async () => {
  await alpaca?.close()
})

describe('simulate-trades -> crypto.trades (real broker, Alpaca simulator)', () => {
  it('emits the planned trades keyed by user_id; a double-fired schedule adds no new event ids', async () => {
    const minute = currentMinute()
    quoteClock = new Date(minute.getTime() + 2_000)
    const first = await fire(minute)
    expect(first.summary).toMatchObject({ planned: TRADES, emitted: TRADES, skipped: {} })
    const events = eventsOf(first.records)
    expect(events).toHaveLength(TRADES)
    expect(new Set(events.map((e) => e.event_id)).size).toBe(TRADES)
    for (const [i, record] of first.records.entries()) expect(String(record.key)).toBe(events[i]?.user_id)
    // Executed in the minute before the run: never after the record was appended (its broker
    // timestamp), at most that minute before the quote (2 s after the minute here).
    for (const [i, record] of first.records.entries()) {
      const executed = Date.parse(events[i]?.executed_at ?? '')
      expect(executed).toBeLessThanOrEqual(Number(record.timestamp))
      expect(executed).toBeGreaterThanOrEqual(minute.getTime() - 60_000)
      expect(executed).toBeLessThan(minute.getTime())
    }
    const stamp = minute.toISOString().replace(/[-:T]/g, '').slice(0, 12)
    expect(events.map((e) => e.trade_id).sort()).toEqual(
      Array.from({ length: TRADES }, (_, i) => `${stamp}-${String(i + 1).padStart(4, '0')}`),
    )
    expect(events.every((e) => e.quote_at === quoteClock.toISOString().replace('.000Z', 'Z'))).toBe(true)

    const second = await fire(minute)
    expect(second.summary.emitted).toBe(TRADES)
    const ids = new Set(
      [...first.records, ...second.records].map((r) => JSON.parse(String(r.value)).event_id),
    )
    expect(ids.size).toBe(TRADES)
    // Same quote both times: the re-emitted events are byte-identical.
    const byId = (records: Message[]) =>
      Object.fromEntries(records.map((r) => [JSON.parse(String(r.value)).event_id, String(r.value)]))
    expect(byId(second.records)).toEqual(byId(first.records))
  })

  it('emits no trades on stale quotes and counts them', async () => {
    const minute = currentMinute()
    quoteClock = new Date(minute.getTime() - 10 * 60_000)
    const { summary, records } = await fire(minute)
    expect(records).toEqual([])
    expect(summary.emitted).toBe(0)
    expect(summary.skipped).toEqual({ stale_quote: TRADES })
    for (const symbol of SYMBOLS) expect(summary.perSymbol[symbol]?.status).toBe('stale_quote')
  })

  it('rides out a 429 with Retry-After, a slow answer and a garbled body; fails loudly on lasting 5xx', async () => {
    const minute = currentMinute()
    quoteClock = new Date(minute.getTime() + 2_000)

    alpaca.setFaults({ rateLimitEvery: 2, retryAfterSeconds: 1 })
    await skipRequests(1)
    const limited = await fire(minute)
    expect(limited.summary.emitted).toBe(TRADES)
    expect(alpaca.stats().rateLimited).toBe(1)

    // 1.5 s > HTTP_TIMEOUT_MS (1 s): the first attempt times out, the retry answers at once.
    alpaca.setFaults({ slowMs: 1_500, slowEvery: 2 })
    await skipRequests(1)
    const slow = await fire(minute)
    expect(slow.summary.emitted).toBe(TRADES)
    expect(alpaca.stats().slowed).toBe(1)

    alpaca.setFaults({ malformedEvery: 2 })
    await skipRequests(1)
    const garbled = await fire(minute)
    expect(garbled.summary.emitted).toBe(TRADES)
    const kept = await quarantined()
    expect(kept).toHaveLength(1)
    expect(kept[0]).toMatchObject({
      reason: 'malformed_json',
      stage: 'simulate-trades',
      topic: TOPIC,
      key: null,
    })

    alpaca.setFaults({ serverErrorEvery: 1, serverErrorStatus: 503 })
    const before = (await endOffsets(kafka, [TOPIC])).get(TOPIC) ?? []
    await expect(simulateTrades.invoke(scheduledEvent('simulate-trades-it', minute))).rejects.toThrow(
      /^latest quotes unavailable: GET .* answered 503/,
    )
    expect(await recordsSince(before)).toEqual([])
    alpaca.setFaults({})

    // However often it fired, the minute holds the same TRADES distinct trades.
    const all = [...limited.records, ...slow.records, ...garbled.records]
    expect(new Set(all.map((r) => JSON.parse(String(r.value)).event_id)).size).toBe(TRADES)
  })
})
