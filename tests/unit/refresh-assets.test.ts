import { describe, expect, it } from 'vitest'
import { CoinApiError, createCoinApiClient, iconsUrl } from '../../functions/refresh-assets/coinapi.ts'
import { RefreshAssetsEnv } from '../../functions/refresh-assets/config.ts'
import {
  assetsOfSymbols,
  type RefreshAssetsDeps,
  refreshAssets,
  selectAssetIcons,
} from '../../functions/refresh-assets/core.ts'
import { loadConfig } from '../../functions/shared/config.ts'
import { AssetEventSchema } from '../../functions/shared/contracts.ts'
import type { FetchedIcons } from '../../functions/shared/ports.ts'
import { recordingCounter, recordingProducer, recordingQuarantine } from '../helpers/fakes.ts'

const icon = (asset_id: string) => ({
  asset_id,
  url: `https://icons.example.com/png_32/${asset_id.toLowerCase()}.png`,
})
const LISTING = [icon('ETH'), icon('BTC'), icon('EUR'), icon('USD'), icon('LTC'), icon('DOGE')]
const PARAMS = {
  assets: ['BTC', 'LTC', 'USD'],
  iconSize: 32,
  fetchDate: '2026-11-30',
  fetchedAt: '2026-11-30T00:00:04Z',
}

describe('assetsOfSymbols', () => {
  it('derives the bases, then the quote currencies', () => {
    expect(assetsOfSymbols(['BTC/USD', 'LTC/USD'])).toEqual(['BTC', 'LTC', 'USD'])
    expect(assetsOfSymbols(['ETH/BTC', 'BTC/USD', 'ETH/USDT'])).toEqual(['ETH', 'BTC', 'USD', 'USDT'])
  })
})

describe('RefreshAssetsEnv', () => {
  const base = { KAFKA_BROKERS: '127.0.0.1:9092', RAW_DIR: '/tmp/raw', COINAPI_KEY: 'k' }

  it('defaults to BTC, LTC and their quote currency USD, icon size 32, the public CoinAPI URL', () => {
    const config = loadConfig(RefreshAssetsEnv, base)
    expect(config.ASSETS).toEqual(['BTC', 'LTC', 'USD'])
    expect(config.ICON_SIZE).toBe(32)
    expect(config.COINAPI_URL).toBe('https://rest.coinapi.io')
  })

  it('takes ASSETS and ICON_SIZE when given, and assets from SYMBOLS otherwise', () => {
    expect(loadConfig(RefreshAssetsEnv, { ...base, ASSETS: 'ETH, BTC,ETH', ICON_SIZE: '64' })).toMatchObject({
      ASSETS: ['ETH', 'BTC'],
      ICON_SIZE: 64,
    })
    expect(loadConfig(RefreshAssetsEnv, { ...base, SYMBOLS: 'SOL/USDT' }).ASSETS).toEqual(['SOL', 'USDT'])
  })

  it('fails naming a bad size', () => {
    expect(() => loadConfig(RefreshAssetsEnv, { ...base, ICON_SIZE: 'big' })).toThrow(/ICON_SIZE/)
  })

  it('fails listing both a missing key and a missing quarantine store', () => {
    expect(() => loadConfig(RefreshAssetsEnv, { KAFKA_BROKERS: '127.0.0.1:9092' })).toThrow(
      /COINAPI_KEY: set COINAPI_KEY \(local\) or COINAPI_SECRET_ARN \(AWS\)\n {2}RAW_BUCKET: set RAW_BUCKET/,
    )
  })
})

describe('selectAssetIcons', () => {
  it('keeps only the configured assets, in their order, as contract events', () => {
    const selected = selectAssetIcons(LISTING, PARAMS)
    expect(selected.events).toEqual([
      {
        schema_version: 1,
        event_id: 'coinapi:BTC:2026-11-30',
        source: 'coinapi',
        asset_id: 'BTC',
        icon_url: 'https://icons.example.com/png_32/btc.png',
        icon_size: 32,
        fetch_date: '2026-11-30',
        fetched_at: '2026-11-30T00:00:04Z',
      },
      {
        schema_version: 1,
        event_id: 'coinapi:LTC:2026-11-30',
        source: 'coinapi',
        asset_id: 'LTC',
        icon_url: 'https://icons.example.com/png_32/ltc.png',
        icon_size: 32,
        fetch_date: '2026-11-30',
        fetched_at: '2026-11-30T00:00:04Z',
      },
      {
        schema_version: 1,
        event_id: 'coinapi:USD:2026-11-30',
        source: 'coinapi',
        asset_id: 'USD',
        icon_url: 'https://icons.example.com/png_32/usd.png',
        icon_size: 32,
        fetch_date: '2026-11-30',
        fetched_at: '2026-11-30T00:00:04Z',
      },
    ])
    for (const event of selected.events) expect(AssetEventSchema.parse(event)).toEqual(event)
    expect(selected.rejections).toEqual([])
    expect(selected.missing).toEqual([])
  })

  it('quarantines a wanted icon without a usable URL and reports the asset missing', () => {
    const noUrl = { asset_id: 'LTC' }
    const notUrl = { asset_id: 'USD', url: 'icon-not-available' }
    const selected = selectAssetIcons([icon('BTC'), noUrl, notUrl, { asset_id: 'ETH' }], PARAMS)
    expect(selected.events.map((e) => e.asset_id)).toEqual(['BTC'])
    expect(selected.rejections).toEqual([
      {
        reason: 'upstream_malformed',
        detail: 'icon of LTC has no usable URL: missing',
        topic: 'crypto.assets',
        key: 'LTC',
        value: '{"asset_id":"LTC"}',
      },
      {
        reason: 'upstream_malformed',
        detail: 'icon of USD has no usable URL: "icon-not-available"',
        topic: 'crypto.assets',
        key: 'USD',
        value: '{"asset_id":"USD","url":"icon-not-available"}',
      },
    ])
    expect(selected.missing).toEqual(['LTC', 'USD'])
  })

  it('keeps the first of two entries for an asset and quarantines the second', () => {
    const second = { asset_id: 'BTC', url: 'https://icons.example.com/other.png' }
    const selected = selectAssetIcons([icon('BTC'), second], { ...PARAMS, assets: ['BTC'] })
    expect(selected.events.map((e) => e.icon_url)).toEqual(['https://icons.example.com/png_32/btc.png'])
    expect(selected.rejections.map((r) => r.detail)).toEqual([
      'a second icon entry for BTC: the first one is kept',
    ])
  })

  it('counts entries without an asset id instead of guessing whose they are', () => {
    const selected = selectAssetIcons([{ url: 'https://x.example/a.png' }, 'junk', icon('BTC')], {
      ...PARAMS,
      assets: ['BTC'],
    })
    expect(selected.unidentified).toBe(2)
    expect(selected.events).toHaveLength(1)
  })
})

function harness(fetched: FetchedIcons) {
  const producer = recordingProducer()
  const { quarantine, rejections: quarantined } = recordingQuarantine()
  const counter = recordingCounter()
  const deps: RefreshAssetsDeps = {
    fetchIcons: async () => fetched,
    producer,
    quarantine,
    counter,
    clock: () => new Date('2026-11-30T00:00:04.700Z'),
    config: { assets: ['BTC', 'LTC', 'USD'], iconSize: 32 },
  }
  return { deps, producer, quarantined, counts: counter.counts }
}

describe('refreshAssets', () => {
  it('produces one record per configured asset, keyed by asset_id, dated by the scheduled day', async () => {
    const h = harness({ icons: LISTING, malformed: [] })
    const summary = await refreshAssets({ scheduledAt: new Date('2026-11-30T00:00:00Z') }, h.deps)
    expect(summary).toEqual({
      fetchDate: '2026-11-30',
      listed: 6,
      emitted: 3,
      quarantined: 0,
      missing: [],
      unidentified: 0,
    })
    const records = h.producer.sent
    expect(records.map((r) => [r.topic, r.key])).toEqual([
      ['crypto.assets', 'BTC'],
      ['crypto.assets', 'LTC'],
      ['crypto.assets', 'USD'],
    ])
    expect(JSON.parse(records[0]?.value ?? '')).toMatchObject({
      event_id: 'coinapi:BTC:2026-11-30',
      fetched_at: '2026-11-30T00:00:04Z',
    })
    expect(h.counts).toContainEqual({ name: 'AssetsEmitted', value: 3 })
  })

  it('quarantines garbled bodies met on the way and the bad icon, counts the missing asset', async () => {
    const h = harness({
      icons: [icon('BTC'), { asset_id: 'LTC', url: '' }, icon('USD')],
      malformed: [{ detail: 'icons of size 32, attempt 1: cut short', body: '[{"asset_id":"BT' }],
    })
    const summary = await refreshAssets({ scheduledAt: new Date('2026-11-30T00:00:00Z') }, h.deps)
    expect(summary).toMatchObject({ emitted: 2, quarantined: 2, missing: ['LTC'] })
    expect(h.quarantined.map((r) => [r.reason, r.key])).toEqual([
      ['malformed_json', null],
      ['upstream_malformed', 'LTC'],
    ])
    expect(h.counts).toContainEqual({ name: 'AssetsMissing', value: 1 })
  })

  it('ends with the clear CoinAPI error, having emitted nothing', async () => {
    const error = new CoinApiError('unauthorized', 401, 'CoinAPI refused the API key (401 Unauthorized)')
    const h = harness({ icons: [], malformed: [], error })
    await expect(refreshAssets({ scheduledAt: new Date('2026-11-30T00:00:00Z') }, h.deps)).rejects.toBe(error)
    expect(h.producer.sent).toEqual([])
    expect(h.counts).toContainEqual({
      name: 'AssetRefreshFailures',
      value: 1,
      dimensions: { Kind: 'unauthorized' },
    })
  })
})

describe('CoinAPI client: each error code ends in its clear error', () => {
  /** A fetch answering `status` with CoinAPI's error body, counting requests and checking the key header. */
  function answering(status: number, message: string, headers: Record<string, string> = {}) {
    const seen: string[] = []
    const fetchImpl: typeof fetch = async (input, init) => {
      seen.push(String(input))
      expect(new Headers(init?.headers).get('x-coinapi-key')).toBe('test-key')
      return new Response(JSON.stringify({ error: message }), {
        status,
        headers: { 'content-type': 'application/json', ...headers },
      })
    }
    return { fetchImpl, seen }
  }
  const sleeps: number[] = []
  const client = (fetchImpl: typeof fetch) =>
    createCoinApiClient({
      baseUrl: 'https://rest.coinapi.io/',
      apiKey: 'test-key',
      timeoutMs: 1_000,
      retries: 2,
      baseDelayMs: 10,
      fetch: fetchImpl,
      sleep: async (ms) => {
        sleeps.push(ms)
      },
      random: () => 0,
    })
  const fail = async (status: number, message: string, headers: Record<string, string> = {}) => {
    const { fetchImpl, seen } = answering(status, message, headers)
    const fetched = await client(fetchImpl).fetchIcons(32, { deadline: Date.now() + 60_000 })
    expect(fetched.icons).toEqual([])
    expect(fetched.error).toBeInstanceOf(CoinApiError)
    return { error: fetched.error as CoinApiError, requests: seen.length, url: seen[0] }
  }

  it('calls {COINAPI_URL}/v1/assets/icons/{size}', () => {
    expect(iconsUrl('https://rest.coinapi.io/', 32)).toBe('https://rest.coinapi.io/v1/assets/icons/32')
  })

  it('400: bad request, not retried', async () => {
    const { error, requests } = await fail(400, 'Bad request')
    expect([error.kind, error.status, requests]).toEqual(['bad_request', 400, 1])
    expect(error.message).toBe(
      'CoinAPI rejected GET /v1/assets/icons/32 as a bad request (400): check ICON_SIZE. CoinAPI said: Bad request',
    )
  })

  it('401: the key is wrong, not retried', async () => {
    const { error, requests, url } = await fail(401, 'Invalid API key')
    expect(url).toBe('https://rest.coinapi.io/v1/assets/icons/32')
    expect([error.kind, error.status, requests]).toEqual(['unauthorized', 401, 1])
    expect(error.message).toBe(
      'CoinAPI refused the API key (401 Unauthorized): the key in COINAPI_KEY / the CoinAPI secret is missing, wrong or revoked. CoinAPI said: Invalid API key',
    )
  })

  it('403: the key lacks privileges, not retried', async () => {
    const { error, requests } = await fail(403, 'Forbidden')
    expect([error.kind, error.status, requests]).toEqual(['forbidden', 403, 1])
    expect(error.message).toBe(
      'CoinAPI key lacks the privileges for GET /v1/assets/icons/32 (403 Forbidden): the subscription does not cover this endpoint. CoinAPI said: Forbidden',
    )
  })

  it('429: retried after Retry-After, then the rate-limit error', async () => {
    sleeps.length = 0
    const { error, requests } = await fail(429, 'Too many requests', { 'retry-after': '2' })
    expect([error.kind, error.status, requests]).toEqual(['rate_limited', 429, 3])
    expect(sleeps).toEqual([2000, 2000])
    expect(error.message).toBe(
      'CoinAPI rate limit or daily quota exceeded (429 Too Many Requests), still after 3 attempt(s); CoinAPI asked to wait 2 s. CoinAPI said: Too many requests',
    )
  })

  it('550: no data, not retried although it is a 5xx', async () => {
    const { error, requests } = await fail(550, 'No data')
    expect([error.kind, error.status, requests]).toEqual(['no_data', 550, 1])
    expect(error.message).toBe('CoinAPI has no asset icons of size 32 (550 No data). CoinAPI said: No data')
  })

  it('500: retried, then unavailable', async () => {
    const { error, requests } = await fail(500, 'oops')
    expect([error.kind, error.status, requests]).toEqual(['unavailable', 500, 3])
    expect(error.message).toBe(
      'CoinAPI GET /v1/assets/icons/32 failed with HTTP 500 after 3 attempt(s). CoinAPI said: oops',
    )
  })

  it('keeps a body that is not a list for the quarantine and retries', async () => {
    let calls = 0
    const fetchImpl: typeof fetch = async () => {
      calls++
      return calls === 1
        ? new Response('{"error":null}', { status: 200 })
        : new Response(JSON.stringify([icon('BTC')]), { status: 200 })
    }
    const fetched = await client(fetchImpl).fetchIcons(32, { deadline: Date.now() + 60_000 })
    expect(fetched.error).toBeUndefined()
    expect(fetched.icons).toEqual([icon('BTC')])
    expect(fetched.malformed).toEqual([
      {
        detail:
          'icons of size 32, attempt 1: GET https://rest.coinapi.io/v1/assets/icons/32 returned a body that is not JSON: the body is not a list',
        body: '{"error":null}',
      },
    ])
  })
})
