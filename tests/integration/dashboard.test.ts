/**
 * The local dashboard page in a real browser (Debian's Chromium driven by playwright-core): a
 * short pipeline of the real functions (poll-bars and simulate-trades behind the Alpaca
 * simulator, refresh-assets behind the CoinAPI simulator, index-events and land-raw behind the
 * event-source emulator) on the test profile's Kafka and OpenSearch; the page must show what
 * OpenSearch holds and what the sinks hold, and its charts must have drawn. Symbols are unique
 * per run, so other files' data in the shared indices cannot disturb it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { createOpenSearchClient } from '../../functions/shared/adapters/opensearch.ts'
import { TOPICS } from '../../functions/shared/contracts.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import {
  createPipelineMonitor,
  type PipelineMonitor,
  type PipelineStatus,
} from '../../local/dashboard/pipeline-status.ts'
import { type Dashboard, startDashboard } from '../../local/dashboard/server.ts'
import type { EventSource } from '../../local/runtime/event-source.ts'
import { endOffsets } from '../../local/runtime/kafka-read.ts'
import { scheduledEvent } from '../../local/runtime/schedules.ts'
import { projectRoot, startServices } from '../../local/services/index.ts'
import { findChromium } from '../../local/services/toolchain.ts'
import { type AlpacaSimulator, startAlpacaSimulator } from '../../local/simulators/alpaca.ts'
import { type CoinApiSimulator, startCoinApiSimulator } from '../../local/simulators/coinapi.ts'
import { startHandlerSource, untilCaughtUp } from '../helpers/event-source.ts'
import { runId } from '../helpers/fakes.ts'
import { loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'
import { until } from '../helpers/until.ts'

const run = runId()
const SYMBOLS = [`DB${run}A/USD`, `DB${run}B/USD`]
const ASSETS = SYMBOLS.map((symbol) => symbol.split('/')[0] as string)
const CONTRACT_TOPICS = Object.values(TOPICS)
const OUTPUT_DIR = join(projectRoot, '.local', 'dashboard')
const SCREENSHOT = join(OUTPUT_DIR, 'dashboard.png')
/** The functions' JSON logs and EMF metrics, as CloudWatch would hold them (the test output stays the tests'). */
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

let kafka: KafkaConnection
let search: Client
let alpaca: AlpacaSimulator
let coinapi: CoinApiSimulator
let sources: Array<{ functionName: string; source: EventSource }> = []
let monitor: PipelineMonitor
let dashboard: Dashboard
let browser: BrowserContext
let page: Page
let profileDir: string
/** What the functions find in their environment, over their packaged one. */
let standIns: Record<string, string>

beforeAll(async () => {
  mkdirSync(OUTPUT_DIR, { recursive: true })
  const executablePath = findChromium()
  if (!executablePath) throw new Error('no system Chromium: run `make browser` (apt-get install chromium)')
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  alpaca = await startAlpacaSimulator({ seed: 7, faults: {} })
  coinapi = await startCoinApiSimulator({ seed: 7, faults: {}, assets: ASSETS, apiKeys: ['it-key'] })
  const rawDir = mkdtempSync(join(tmpdir(), 'dashboard-raw-'))
  standIns = {
    ...testStandIns(services, { raw: rawDir }),
    ALPACA_DATA_URL: alpaca.url,
    ALPACA_LOCATION: 'us',
    COINAPI_URL: coinapi.url,
    COINAPI_KEY: 'it-key',
    SYMBOLS: SYMBOLS.join(','),
    INITIAL_LOOKBACK_MINUTES: '30',
    TRADES_PER_MINUTE: '20',
    POPULATION_SIZE: '50',
    POPULATION_SEED: `dashboard-${run}`,
    ICON_SIZE: '32',
  }
  search = createOpenSearchClient({
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    AWS_REGION: 'local',
  })

  const startedAt = new Date()
  const startOffsets = await endOffsets(kafka, CONTRACT_TOPICS)
  const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000)
  for (const name of ['pollBars', 'simulateTrades', 'refreshAssets']) {
    const fn = await loadTestFunction(name, standIns)
    await fn.invoke(scheduledEvent(`dashboard-it-${name}`, minute))
  }
  for (const functionName of ['indexEvents', 'landRaw']) {
    const handler = await loadTestFunction(functionName, standIns)
    const source = await startHandlerSource(handler, {
      kafka,
      topics: CONTRACT_TOPICS,
      groupId: `dashboard-${functionName}-${run}`,
      batchSize: 500,
      batchWindowMs: 500,
      maximumRetryAttempts: 2,
    })
    sources.push({ functionName, source })
  }
  monitor = createPipelineMonitor({
    kafka,
    search,
    rawStore: fileObjectStore(rawDir),
    topics: CONTRACT_TOPICS,
    startOffsets,
    startedAt,
    sources,
  })
  dashboard = await startDashboard({
    search,
    symbols: SYMBOLS,
    pipeline: () => monitor.latest,
    refreshMs: 1_000,
  })

  profileDir = mkdtempSync(join(tmpdir(), 'dashboard-chromium-'))
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 1000 },
  })
  page = browser.pages()[0] ?? (await browser.newPage())
})

afterAll(async () => {
  await browser?.close()
  await dashboard?.close()
  for (const { source } of sources) await source.stop()
  sources = []
  await alpaca?.close()
  await coinapi?.close()
  await search?.close()
  if (profileDir) rmSync(profileDir, { recursive: true, force: true })
})

/** Samples until every produced event is in both sinks (the consumers have caught up first). */
async function settledStatus(): Promise<PipelineStatus> {
  for (const { source } of sources) await untilCaughtUp(source, 120_000)
  return until(
    'every produced event in both sinks',
    () => monitor.sample(),
    (status) =>
      Object.values(status.topics).every((t) => t.indexed === t.produced && t.landed === t.produced),
  )
}

/** What OpenSearch holds for a symbol over the last hour, asked directly. */
async function heldBySearch(symbol: string) {
  const hour = { gte: new Date(Date.now() - 3_600_000).toISOString() }
  await search.indices.refresh({ index: 'crypto-bars,crypto-trades' })
  const bars = await search.transport.request({
    method: 'POST',
    path: '/crypto-bars/_search',
    body: {
      size: 1,
      track_total_hits: true,
      query: { bool: { filter: [{ term: { symbol } }, { range: { start: hour } }] } },
      sort: [{ start: 'desc' }],
    },
  })
  const trades = await search.transport.request({
    method: 'POST',
    path: '/crypto-trades/_count',
    body: { query: { bool: { filter: [{ term: { symbol } }, { range: { executed_at: hour } }] } } },
  })
  const body = bars.body as {
    hits: { total: { value: number }; hits: Array<{ _source: { close: string } }> }
  }
  return {
    bars: body.hits.total.value,
    lastPrice: body.hits.hits[0]?._source.close,
    trades: (trades.body as { count: number }).count,
  }
}

/** The little of the DOM the page functions below use (the project compiles without the DOM lib). */
interface PageCanvas {
  width: number
  height: number
  getContext(
    kind: '2d',
  ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null
}

/** Pixels of a canvas close to a colour: proof a series was drawn, not only the axes. */
function pixelsOf(selector: string, rgb: [number, number, number]) {
  return page.evaluate(
    ([css, [r, g, b]]) => {
      const { document } = globalThis as unknown as {
        document: { querySelectorAll(selector: string): Iterable<PageCanvas> }
      }
      let count = 0
      for (const canvas of document.querySelectorAll(css)) {
        const context = canvas.getContext('2d')
        if (!context) continue
        const { data } = context.getImageData(0, 0, canvas.width, canvas.height)
        for (let i = 0; i < data.length; i += 4) {
          const near =
            Math.abs((data[i] ?? 0) - r) < 24 &&
            Math.abs((data[i + 1] ?? 0) - g) < 24 &&
            Math.abs((data[i + 2] ?? 0) - b) < 24
          if (near && (data[i + 3] ?? 0) > 0) count++
        }
      }
      return count
    },
    [selector, rgb] as const,
  )
}

describe('the local dashboard page in headless Chromium', () => {
  it('shows the symbols, counts and last prices OpenSearch holds, and the pipeline counters', async () => {
    const status = await settledStatus()
    expect(status.topics[TOPICS.bars]?.produced).toBeGreaterThan(0)
    expect(status.topics[TOPICS.trades]?.produced).toBeGreaterThan(0)
    expect(status.topics[TOPICS.assets]?.produced).toBe(2)
    expect(status.lost).toBe(0)

    await page.goto(dashboard.url)
    // The page polls every second: wait until it shows the settled sample.
    await expect
      .poll(() => page.locator('[data-topic="crypto.trades"] .produced').textContent(), { timeout: 30_000 })
      .toBe(String(status.topics[TOPICS.trades]?.produced))

    for (const symbol of SYMBOLS) {
      const held = await heldBySearch(symbol)
      expect(held.bars).toBeGreaterThan(0)
      const card = page.locator(`[data-symbol="${symbol}"]`)
      await expect.poll(() => card.locator('.last-price').textContent()).toBe(held.lastPrice)
      expect(await card.locator('.bars').textContent()).toBe(String(held.bars))
      expect(await card.locator('.trades').textContent()).toBe(String(held.trades))
      // The CoinAPI icon (served by the simulator) loaded.
      await expect
        .poll(() =>
          card
            .locator('img.icon')
            .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
        )
        .toBeGreaterThan(0)
    }
    expect(
      await page.locator('[data-symbol]').evaluateAll((cards) => cards.map((c) => c.dataset.symbol)),
    ).toEqual(SYMBOLS)

    for (const topic of CONTRACT_TOPICS) {
      const row = page.locator(`[data-topic="${topic}"]`)
      const counts = status.topics[topic]
      expect(await row.locator('.produced').textContent()).toBe(String(counts?.produced))
      expect(await row.locator('.indexed').textContent()).toBe(String(counts?.produced))
      expect(await row.locator('.landed').textContent()).toBe(String(counts?.produced))
      expect(await row.locator('.lost').textContent()).toBe('0')
    }
    expect(await page.locator('#lost').textContent()).toBe('nothing lost')
    expect(await page.locator('#health').getAttribute('data-state')).toBe('ok')
  })

  it('draws the price lines and the trades by side, and leaves a screenshot', async () => {
    // #4ea1ff: the close line; #2fbf71 / #e5534b: buy and sell bars.
    expect(await pixelsOf('.price-chart canvas', [0x4e, 0xa1, 0xff])).toBeGreaterThan(0)
    const buys = await pixelsOf('#trades-chart canvas', [0x2f, 0xbf, 0x71])
    const sells = await pixelsOf('#trades-chart canvas', [0xe5, 0x53, 0x4b])
    expect(buys + sells).toBeGreaterThan(0)
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
  })
})
