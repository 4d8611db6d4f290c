/**
 * refresh-assets on the real broker, behind the CoinAPI simulator: the real handler, scheduled
 * events as EventBridge sends them, records read back from the compacted crypto.assets between
 * offsets taken around each invocation. Asset ids are unique per run.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin, type Message } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RefreshAssetsSummary } from '../../functions/refresh-assets/core.ts'
import { type KafkaConnection, kafkaConnectionOptions } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { AssetEventSchema } from '../../functions/shared/contracts.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import { endOffsets, readRange } from '../../local/runtime/kafka-read.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { scheduledEvent } from '../../local/runtime/schedules.ts'
import { startServices } from '../../local/services/index.ts'
import { type CoinApiSimulator, startCoinApiSimulator } from '../../local/simulators/coinapi.ts'
import { runId } from '../helpers/fakes.ts'
import { loadTestBundle, loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'
import { quarantineRecords } from '../helpers/quarantine.ts'

const run = runId()
const ASSETS = [`R${run}A`, `R${run}B`, `R${run}C`]
const TOPIC = 'crypto.assets'
const DAY = new Date('2026-11-30T00:00:00Z')

let kafka: KafkaConnection
let coinapi: CoinApiSimulator
let refreshAssets: LocalFunction
let rawDir: string
let standIns: Record<string, string>

async function offsets() {
  return (await endOffsets(kafka, [TOPIC])).get(TOPIC) ?? []
}

async function recordsSince(before: bigint[]): Promise<Message[]> {
  const records = await readRange(kafka, TOPIC, before, await offsets())
  return records.filter((record) => ASSETS.includes(String(record.key)))
}

async function fire(
  fn: Pick<LocalFunction, 'invoke'> = refreshAssets,
): Promise<{ summary: RefreshAssetsSummary; records: Message[] }> {
  const before = await offsets()
  const summary = (await fn.invoke(scheduledEvent('refresh-assets-it', DAY))) as RefreshAssetsSummary
  return { summary, records: await recordsSince(before) }
}

/** Invokes expecting failure; returns the error and checks that nothing was produced. */
async function fireFailing(): Promise<Error> {
  const before = await offsets()
  const error = await refreshAssets.invoke(scheduledEvent('refresh-assets-it', DAY)).then(
    () => new Error('expected the run to fail'),
    (reason: Error) => reason,
  )
  expect(await recordsSince(before)).toEqual([])
  return error
}

const quarantined = () => quarantineRecords(fileObjectStore(rawDir), `quarantine/${TOPIC}/`)

async function skipRequests(count: number) {
  for (let i = 0; i < count; i++)
    await fetch(`${coinapi.url}/v1/assets/icons/64`, { headers: { 'X-CoinAPI-Key': 'it-key' } })
}

beforeAll(async () => {
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  coinapi = await startCoinApiSimulator({
    faults: {},
    assets: ['BTC', ...ASSETS, 'USD'],
    apiKeys: ['it-key'],
  })
  rawDir = mkdtempSync(join(tmpdir(), 'refresh-assets-it-'))
  standIns = {
    ...testStandIns(services, { raw: rawDir }),
    COINAPI_URL: coinapi.url,
    COINAPI_KEY: 'it-key',
    ASSETS: ASSETS.join(','),
    ICON_SIZE: '64',
    HTTP_TIMEOUT_MS: '1000',
    HTTP_RETRIES: '2',
  }
  refreshAssets = await loadTestFunction('refreshAssets', standIns)
})

afterAll(async () => {
  await coinapi?.close()
})

describe('refresh-assets -> crypto.assets (real broker, CoinAPI simulator)', () => {
  it('lands one record per configured asset in the compacted topic, keyed by asset_id; a double fire adds no ids', async () => {
    const admin = new Admin(kafkaConnectionOptions(kafka, 'refresh-assets-it'))
    try {
      const [described] = await admin.describeConfigs({
        resources: [{ resourceType: 2, resourceName: TOPIC, configurationKeys: ['cleanup.policy'] }],
      })
      expect(described?.configs.find((config) => config.name === 'cleanup.policy')?.value).toBe('compact')
    } finally {
      await admin.close()
    }

    const first = await fire()
    expect(first.summary).toEqual({
      fetchDate: '2026-11-30',
      listed: 5,
      emitted: 3,
      quarantined: 0,
      missing: [],
      unidentified: 0,
    })
    expect(first.records.map((r) => String(r.key))).toEqual(ASSETS)
    for (const record of first.records) {
      const event = AssetEventSchema.parse(JSON.parse(String(record.value)))
      expect(event.event_id).toBe(`coinapi:${String(record.key)}:2026-11-30`)
      expect(event.icon_size).toBe(64)
      expect(event.icon_url).toMatch(new RegExp(`^${coinapi.url}/static/icons/png_64/[0-9a-f]{32}\\.png$`))
      expect((await fetch(event.icon_url)).headers.get('content-type')).toBe('image/png')
    }

    const second = await fire()
    const ids = new Set(
      [...first.records, ...second.records].map((r) => JSON.parse(String(r.value)).event_id),
    )
    expect([...ids].sort()).toEqual(ASSETS.map((asset) => `coinapi:${asset}:2026-11-30`))
  })

  it('does the same from its packaged bundle, with the modules the build stubs out: a real producer in the zip', async () => {
    // The bundle aliases avsc and ajv-draft-04 (the Kafka client's schema registry) to an empty
    // module; a producer that needed either would fail here, not only on AWS.
    const bundle = await loadTestBundle('refreshAssets', standIns)
    const { summary, records } = await fire(bundle)
    expect(summary).toMatchObject({ listed: 5, emitted: 3, quarantined: 0 })
    expect(records.map((r) => String(r.key))).toEqual(ASSETS)
    for (const record of records) AssetEventSchema.parse(JSON.parse(String(record.value)))
  })

  it('quarantines an icon without URL, emits the others and reports the asset missing', async () => {
    coinapi.setFaults({ badIcons: { [ASSETS[1] as string]: 'missing_url' } })
    const { summary, records } = await fire()
    coinapi.setFaults({})
    expect(summary).toMatchObject({ emitted: 2, quarantined: 1, missing: [ASSETS[1]] })
    expect(records.map((r) => String(r.key))).toEqual([ASSETS[0], ASSETS[2]])
    const kept = await quarantined()
    expect(kept).toEqual([
      expect.objectContaining({
        reason: 'upstream_malformed',
        stage: 'refresh-assets',
        topic: TOPIC,
        key: ASSETS[1],
        value: JSON.stringify({ asset_id: ASSETS[1] }),
      }),
    ])
  })

  it('ends each CoinAPI error code in its clear error, producing nothing', async () => {
    const expected: Array<[number, RegExp]> = [
      [401, /^CoinAPI refused the API key \(401 Unauthorized\)/],
      [403, /^CoinAPI key lacks the privileges for GET \/v1\/assets\/icons\/64 \(403 Forbidden\)/],
      [
        429,
        /^CoinAPI rate limit or daily quota exceeded \(429 Too Many Requests\), still after 3 attempt\(s\)/,
      ],
      [550, /^CoinAPI has no asset icons of size 64 \(550 No data\)/],
    ]
    for (const [status, message] of expected) {
      coinapi.setFaults({ errorStatus: status, retryAfterSeconds: 0 })
      const error = await fireFailing()
      expect(error.name).toBe('CoinApiError')
      expect(error.message).toMatch(message)
    }
    coinapi.setFaults({})
    expect(coinapi.stats().injectedErrors).toBe(1 + 1 + 3 + 1)
  })

  it('rides out a transient 5xx, a slow answer and a garbled body (kept in quarantine)', async () => {
    coinapi.setFaults({ serverErrorEvery: 2, serverErrorStatus: 502 })
    await skipRequests(1)
    expect((await fire()).summary.emitted).toBe(3)

    coinapi.setFaults({ slowMs: 1_500, slowEvery: 2 })
    await skipRequests(1)
    expect((await fire()).summary.emitted).toBe(3)

    coinapi.setFaults({ malformedEvery: 2 })
    await skipRequests(1)
    const garbled = await fire()
    coinapi.setFaults({})
    expect(garbled.summary).toMatchObject({ emitted: 3, quarantined: 1 })
    expect((await quarantined()).filter((record) => record.reason === 'malformed_json')).toHaveLength(1)
    expect(coinapi.stats()).toMatchObject({ serverErrors: 1, slowed: 1, malformed: 1 })
  })
})
