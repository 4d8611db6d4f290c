/**
 * The backfill-bars state machine on the local runtime, on the real broker, against the Alpaca
 * simulator: 6 hours of two symbols in 12 chunks of 30 minutes. An execution stopped after three
 * chunks, started again, finishes without fetching the chunks it had done (the simulator's
 * request log says which windows were fetched); the bars in crypto.bars are every minute of the
 * window; a third run adds nothing and asks Alpaca nothing. The lake refresh is left out here
 * (refreshLake false: no Spark), and so are the event sources (nothing needs to land).
 *
 * Symbols are unique per run (the test profile keeps its topics and progress objects), and every
 * read-back is bounded by the topic's end offsets before and after the step.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chunkId } from '../../functions/backfill-bars/core.ts'
import { PROGRESS_PREFIX } from '../../functions/backfill-bars/progress.ts'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import type { BarEvent } from '../../functions/shared/contracts.ts'
import { runLocalBackfill } from '../../local/backfill.ts'
import { localPaths } from '../../local/run.ts'
import { endOffsets, readRange } from '../../local/runtime/kafka-read.ts'
import { type RunningServices, startServices } from '../../local/services/index.ts'
import { type AlpacaSimulator, startAlpacaSimulator } from '../../local/simulators/alpaca.ts'

const run = Date.now().toString(36).toUpperCase().slice(-6)
const SYMBOLS = [`BFA${run}/USD`, `BFB${run}/USD`]
const START = '2026-10-05T00:00:00Z'
const END = '2026-10-05T06:00:00Z'
const INPUT = { symbols: SYMBOLS, start: START, end: END, chunkMinutes: 30, refreshLake: false }
const CHUNK_STARTS = Array.from({ length: 12 }, (_, i) =>
  new Date(Date.parse(START) + i * 30 * 60_000).toISOString().replace('.000Z', 'Z'),
)

let services: RunningServices
let simulator: AlpacaSimulator
let kafka: KafkaConnection
const lines: string[] = []

beforeAll(async () => {
  services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  simulator = await startAlpacaSimulator({ seed: 23, timing: 'ideal' })
}, 120_000)

afterAll(async () => {
  await simulator?.close()
  await services?.stop()
})

/** The chunk windows the simulator was asked for since request number `from`, by their start. */
function fetchedStarts(from: number): string[] {
  return simulator
    .stats()
    .log.slice(from)
    .filter(
      (entry) => entry.url.includes('/bars?') && entry.url.includes(encodeURIComponent(SYMBOLS[0] ?? '')),
    )
    .map((entry) => new URL(entry.url, 'http://x').searchParams.get('start') ?? '')
}

/** The chunks of this run's symbols with a progress object. */
function doneChunks(): string[] {
  const group = chunkId(SYMBOLS, START, END).split('/')[0] ?? ''
  const dir = join(localPaths('test').stateBucket, PROGRESS_PREFIX, group)
  try {
    return readdirSync(dir).sort()
  } catch {
    return []
  }
}

async function barsProduced(step: () => Promise<unknown>): Promise<BarEvent[]> {
  const before = (await endOffsets(kafka, ['crypto.bars'])).get('crypto.bars') ?? []
  await step()
  const after = (await endOffsets(kafka, ['crypto.bars'])).get('crypto.bars') ?? []
  const messages = await readRange(kafka, 'crypto.bars', before, after)
  return messages
    .map((message) => JSON.parse(message.value?.toString() ?? '{}') as BarEvent)
    .filter((bar) => SYMBOLS.includes(bar.symbol))
}

const backfill = (options: { signal?: AbortSignal; onChunk?: (status: string) => void } = {}) =>
  runLocalBackfill(INPUT, {
    profile: 'test',
    alpacaUrl: simulator.url,
    eventSources: false,
    signal: options.signal,
    onTaskOutput: (state, output) => {
      if (state === 'Chunk') options.onChunk?.((output as { status: string }).status)
    },
    log: (line) => lines.push(line),
  })

describe('backfill-bars on the local runtime', () => {
  it('stops halfway, resumes without re-fetching done chunks, and loads every minute once; a re-run adds nothing', async () => {
    // 1. Stopped after three chunks.
    const stop = new AbortController()
    let chunks = 0
    const first = await barsProduced(async () => {
      const result = await backfill({
        signal: stop.signal,
        onChunk: () => {
          chunks++
          if (chunks === 3) stop.abort()
        },
      })
      expect(result.status).toBe('FAILED')
    })
    const doneBefore = doneChunks()
    expect(doneBefore.length).toBeGreaterThanOrEqual(3)
    expect(doneBefore.length).toBeLessThan(12)
    const firstFetched = fetchedStarts(0)
    expect(firstFetched.length).toBeGreaterThanOrEqual(3)

    // 2. Started again: the chunks done before are not fetched again, every other one is.
    const requestsBefore = simulator.stats().log.length
    const statuses: string[] = []
    const second = await barsProduced(async () => {
      const result = await backfill({ onChunk: (status) => statuses.push(status) })
      expect(result.status, JSON.stringify(result.error)).toBe('SUCCEEDED')
    })
    const secondFetched = fetchedStarts(requestsBefore)
    const doneStarts = CHUNK_STARTS.filter((start) =>
      doneBefore.some((file) => file.startsWith(`${start.replace(/[-:]/g, '')}-`)),
    )
    expect(doneStarts.length).toBe(doneBefore.length)
    for (const start of doneStarts) expect(secondFetched, `${start} was done`).not.toContain(start)
    expect(new Set([...firstFetched, ...secondFetched])).toEqual(new Set(CHUNK_STARTS))
    expect(statuses.filter((s) => s === 'skipped')).toHaveLength(doneBefore.length)
    expect(doneChunks()).toHaveLength(12)

    // Every minute of the window for both symbols, and nothing else.
    const ids = new Set([...first, ...second].map((bar) => bar.event_id))
    const expected = new Set<string>()
    for (const symbol of SYMBOLS)
      for (let ms = Date.parse(START); ms < Date.parse(END); ms += 60_000)
        expected.add(`alpaca:${symbol}:${new Date(ms).toISOString().replace('.000Z', 'Z')}`)
    expect(ids).toEqual(expected)
    // A chunk is produced once unless it was in flight when the execution stopped.
    expect(first.length + second.length).toBeLessThanOrEqual(expected.size + 3 * 2 * 30)

    // 3. The same window again: nothing fetched, nothing produced.
    const requestsBeforeRerun = simulator.stats().log.length
    const rerunStatuses: string[] = []
    const third = await barsProduced(async () => {
      const result = await backfill({ onChunk: (status) => rerunStatuses.push(status) })
      expect(result.status).toBe('SUCCEEDED')
    })
    expect(third).toEqual([])
    expect(simulator.stats().log.length).toBe(requestsBeforeRerun)
    expect(rerunStatuses).toEqual(Array(12).fill('skipped'))
  }, 300_000)
})
