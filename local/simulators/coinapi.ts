/**
 * A CoinAPI-compatible server for local runs and tests: `GET /v1/assets/icons/{size}` (the
 * metadata endpoint refresh-assets uses) with CoinAPI's key header, error codes and error
 * body, the icons themselves, and fault injection. See README.md beside it.
 *
 * Icon URLs are a pure function of (seed, asset, size) and point back at this server
 * (`/static/icons/png_{size}/{hash}.png`, a 1x1 PNG), so dashboards can load them offline.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { faultClock, logRequest, startSimulatorServer } from './http-server.ts'

/** Asset ids served by default: the usual crypto assets and fiat quote currencies. */
export const DEFAULT_ASSETS = [
  'BTC',
  'ETH',
  'LTC',
  'SOL',
  'AVAX',
  'LINK',
  'DOGE',
  'XRP',
  'ADA',
  'DOT',
  'BCH',
  'UNI',
  'AAVE',
  'USDT',
  'USDC',
  'USD',
  'EUR',
  'GBP',
  'BRL',
  'JPY',
] as const

/** Largest icon size served; larger ones answer 550 (no data), like an item CoinAPI does not have. */
export const MAX_ICON_SIZE = 2048

export const BAD_ICON_KINDS = ['missing_url', 'empty_url', 'not_a_url', 'missing_asset_id'] as const
export type BadIconKind = (typeof BAD_ICON_KINDS)[number]

/** CoinAPI's documented error statuses. */
export const COINAPI_ERROR_STATUSES = [400, 401, 403, 429, 550] as const

/** Faults, all off by default. "Every Nth" counts requests since the last `setFaults`. */
export interface CoinApiFaults {
  /** Every Nth request answers 429 with `Retry-After`. */
  rateLimitEvery?: number
  /** Seconds in the `Retry-After` of injected 429s (default 1). */
  retryAfterSeconds?: number
  /** Every Nth request answers `serverErrorStatus` (default 500). */
  serverErrorEvery?: number
  serverErrorStatus?: number
  /** Every `errorEvery`th request (default every one) answers `errorStatus` with CoinAPI's error body. */
  errorStatus?: number
  errorEvery?: number
  /** Delay before answering, in ms; applies to every `slowEvery`th request (default every one). */
  slowMs?: number
  slowEvery?: number
  /** Every Nth request answers 200 with a body cut short (not JSON). */
  malformedEvery?: number
  /** The faults above hit only the first N requests since `setFaults` (a storm that passes); default all. */
  faultRequests?: number
  /** Assets whose icon entry is spoiled, and how. */
  badIcons?: Record<string, BadIconKind>
}

export interface CoinApiSimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number
  host?: string
  seed?: number
  /** Asset ids listed (default {@link DEFAULT_ASSETS}). */
  assets?: readonly string[]
  /** Keys accepted; absent = any non-empty key. A request without a key is always 401. */
  apiKeys?: readonly string[]
  /** Keys that are valid but lack the privileges for the icons endpoint (403). */
  restrictedKeys?: readonly string[]
  /** Default: parsed from the COINAPI_SIM_FAULTS environment variable (see {@link parseCoinApiFaults}). */
  faults?: CoinApiFaults
}

export interface CoinApiSimulatorStats {
  requests: number
  byEndpoint: { icons: number; static: number; other: number }
  /** Answers per status code. */
  statuses: Record<string, number>
  rateLimited: number
  serverErrors: number
  injectedErrors: number
  malformed: number
  slowed: number
  badIconsServed: number
  /** The last 1000 requests: path and the status answered. */
  log: Array<{ url: string; status: number }>
}

export interface CoinApiSimulator {
  /** Base URL to use as COINAPI_URL, e.g. `http://127.0.0.1:18081`. */
  url: string
  close(): Promise<void>
  /** Replaces the faults and restarts the request count they use. */
  setFaults(faults: CoinApiFaults): void
  stats(): CoinApiSimulatorStats
}

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad request: the icon size must be a positive integer',
  401: 'Invalid API key',
  403: 'The API key has insufficient privileges to access this resource',
  429: 'Too many requests: the API key exceeded its rate limit or daily quota',
  550: 'No data: the requested item is not available at this moment',
}

/** The smallest valid PNG (1x1, transparent). */
const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
)

const NUMBER_KEYS = [
  'rateLimitEvery',
  'retryAfterSeconds',
  'serverErrorEvery',
  'serverErrorStatus',
  'errorStatus',
  'errorEvery',
  'slowMs',
  'slowEvery',
  'malformedEvery',
  'faultRequests',
] as const

/**
 * Parses faults from JSON (`{"errorStatus":401}`) or the compact form
 * `rateLimitEvery=3,slowMs=200,badIcons=BTC:missing_url+LTC:not_a_url`.
 */
export function parseCoinApiFaults(text: string | undefined): CoinApiFaults {
  const trimmed = text?.trim() ?? ''
  if (trimmed === '') return {}
  if (trimmed.startsWith('{')) return validateCoinApiFaults(JSON.parse(trimmed) as Record<string, unknown>)
  const faults: Record<string, unknown> = {}
  for (const part of trimmed.split(',')) {
    const [key = '', value = ''] = part.split('=').map((piece) => piece.trim())
    if (key === 'badIcons') {
      faults.badIcons = Object.fromEntries(
        value
          .split('+')
          .filter(Boolean)
          .map((pair) => {
            const [asset = '', kind = ''] = pair.split(':')
            return [asset, kind]
          }),
      )
    } else if ((NUMBER_KEYS as readonly string[]).includes(key) && /^\d+$/.test(value)) {
      faults[key] = Number(value)
    } else {
      throw new Error(
        `COINAPI_SIM_FAULTS: cannot read "${part}" (expected key=integer, e.g. errorStatus=429)`,
      )
    }
  }
  return validateCoinApiFaults(faults)
}

export function validateCoinApiFaults(faults: Record<string, unknown>): CoinApiFaults {
  const known = new Set<string>([...NUMBER_KEYS, 'badIcons'])
  for (const key of Object.keys(faults)) if (!known.has(key)) throw new Error(`unknown fault option: ${key}`)
  for (const key of [
    'rateLimitEvery',
    'serverErrorEvery',
    'errorEvery',
    'slowEvery',
    'malformedEvery',
    'faultRequests',
  ]) {
    const value = faults[key]
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 1))
      throw new Error(`fault ${key} must be an integer >= 1`)
  }
  for (const key of ['serverErrorStatus', 'errorStatus']) {
    const value = faults[key]
    if (
      value !== undefined &&
      !(Number.isInteger(value) && (value as number) >= 400 && (value as number) <= 599)
    )
      throw new Error(`fault ${key} must be an HTTP error status (400..599)`)
  }
  const bad = faults.badIcons
  if (bad !== undefined) {
    if (bad === null || typeof bad !== 'object' || Array.isArray(bad))
      throw new Error('badIcons must map asset ids to kinds')
    for (const [asset, kind] of Object.entries(bad)) {
      if (!(BAD_ICON_KINDS as readonly string[]).includes(kind as string))
        throw new Error(`badIcons ${asset}: kind must be one of ${BAD_ICON_KINDS.join(', ')}`)
    }
  }
  return faults as CoinApiFaults
}

/** The icon file name of an asset: stable per (seed, asset), like CoinAPI's opaque ids. */
export function iconHash(seed: number, assetId: string): string {
  return createHash('sha256').update(`${seed}|${assetId}`).digest('hex').slice(0, 32)
}

export async function startCoinApiSimulator(
  options: CoinApiSimulatorOptions = {},
): Promise<CoinApiSimulator> {
  const seed = options.seed ?? 1
  const assets = [...(options.assets ?? DEFAULT_ASSETS)]
  const accepted = options.apiKeys ? new Set(options.apiKeys) : undefined
  const restricted = new Set(options.restrictedKeys ?? [])
  let faults = options.faults
    ? validateCoinApiFaults({ ...options.faults })
    : parseCoinApiFaults(process.env.COINAPI_SIM_FAULTS)
  const clock = faultClock()
  let baseUrl = ''
  const stats: CoinApiSimulatorStats = {
    requests: 0,
    byEndpoint: { icons: 0, static: 0, other: 0 },
    statuses: {},
    rateLimited: 0,
    serverErrors: 0,
    injectedErrors: 0,
    malformed: 0,
    slowed: 0,
    badIconsServed: 0,
    log: [],
  }

  function icons(size: number, active: CoinApiFaults): { body: unknown[]; bad: number } {
    let bad = 0
    const body = assets.map((assetId) => {
      const entry: Record<string, unknown> = {
        asset_id: assetId,
        url: `${baseUrl}/static/icons/png_${size}/${iconHash(seed, assetId)}.png`,
      }
      const kind = active.badIcons?.[assetId]
      if (kind === undefined) return entry
      bad++
      switch (kind) {
        case 'missing_url':
          return { asset_id: assetId }
        case 'empty_url':
          return { ...entry, url: '' }
        case 'not_a_url':
          return { ...entry, url: 'icon-not-available' }
        case 'missing_asset_id':
          return { url: entry.url }
        default:
          return entry
      }
    })
    return { body, bad }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://simulator')
    stats.requests++
    // The faults in force when the request arrived: a slow answer finishing after setFaults
    // must not be spoiled by the new ones.
    const active = faults
    const every = clock.tick(active.faultRequests)
    const send = (status: number, body: string | Buffer, headers: Record<string, string> = {}) => {
      stats.statuses[status] = (stats.statuses[status] ?? 0) + 1
      logRequest(stats.log, url, status)
      if (res.destroyed) return
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
      res.end(body)
    }
    const rateHeaders = {
      'x-ratelimit-limit': '100',
      'x-ratelimit-remaining': '99',
      'x-ratelimit-request-cost': '1',
    }
    const error = (status: number, headers: Record<string, string> = {}) =>
      send(status, JSON.stringify({ error: ERROR_TEXT[status] ?? `HTTP ${status}` }), {
        ...rateHeaders,
        ...headers,
      })

    const respond = () => {
      const iconsMatch = /^\/v1\/assets\/icons\/([^/]+)$/.exec(url.pathname)
      const isStatic = /^\/static\/icons\/png_\d+\/[0-9a-f]{32}\.png$/.test(url.pathname)
      if (iconsMatch) stats.byEndpoint.icons++
      else if (isStatic) stats.byEndpoint.static++
      else stats.byEndpoint.other++

      if (every(active.rateLimitEvery)) {
        stats.rateLimited++
        return error(429, {
          'retry-after': String(active.retryAfterSeconds ?? 1),
          'x-ratelimit-remaining': '0',
        })
      }
      if (every(active.serverErrorEvery)) {
        stats.serverErrors++
        return send(
          active.serverErrorStatus ?? 500,
          JSON.stringify({ error: 'Internal server error' }),
          rateHeaders,
        )
      }
      if (active.errorStatus !== undefined && every(active.errorEvery ?? 1)) {
        stats.injectedErrors++
        return error(
          active.errorStatus,
          active.errorStatus === 429 ? { 'retry-after': String(active.retryAfterSeconds ?? 1) } : {},
        )
      }
      if (req.method !== 'GET') return send(405, JSON.stringify({ error: 'Method not allowed' }))
      if (isStatic) {
        if (res.destroyed) return
        stats.statuses[200] = (stats.statuses[200] ?? 0) + 1
        res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=86400' })
        res.end(PIXEL_PNG)
        return
      }
      if (!iconsMatch) return send(404, JSON.stringify({ error: 'Not found' }))
      // Key checks come first on the API itself: without a valid key, nothing else is answered.
      const key = req.headers['x-coinapi-key'] ?? url.searchParams.get('apikey') ?? ''
      const keyText = Array.isArray(key) ? (key[0] ?? '') : key
      if (keyText === '' || (accepted !== undefined && !accepted.has(keyText) && !restricted.has(keyText)))
        return error(401)
      if (restricted.has(keyText)) return error(403)
      const sizeText = iconsMatch[1] ?? ''
      if (!/^\d+$/.test(sizeText) || Number(sizeText) < 1) return error(400)
      const size = Number(sizeText)
      if (size > MAX_ICON_SIZE) return error(550)
      const answer = icons(size, active)
      const text = JSON.stringify(answer.body)
      if (every(active.malformedEvery)) {
        stats.malformed++
        // A response cut short mid-body, as from a dropped proxy connection.
        return send(200, text.slice(0, Math.max(1, Math.floor(text.length / 2))), rateHeaders)
      }
      stats.badIconsServed += answer.bad
      return send(200, text, rateHeaders)
    }

    if (server.answer(active, every, respond)) stats.slowed++
  }

  const server = await startSimulatorServer({
    port: options.port,
    host: options.host,
    handle,
    errorBody: (message) => JSON.stringify({ error: message }),
  })
  baseUrl = server.url
  return {
    url: baseUrl,
    setFaults(next) {
      faults = validateCoinApiFaults({ ...next })
      clock.restart()
    },
    stats: () => structuredClone(stats),
    close: server.close,
  }
}
