/**
 * An Alpaca-compatible crypto market data server (v1beta3 `bars`, `latest/bars`,
 * `latest/quotes`) for local runs and tests, with fault injection. See README.md beside it.
 *
 * Every bar is a pure function of (seed, symbol, minute): a slow deterministic trend (smooth
 * noise with daily and hourly knots around a realistic price level) plus per-minute noise from
 * a hash. So the same minute yields the same final bar whatever the request or page, which is
 * what lets tests compute expected results by hand and pollers re-poll idempotently.
 *
 * In time it behaves like Alpaca (the `realistic` timing, the default): a bar is published
 * `publishDelayMs` after its minute closes, and a seeded fraction of bars is first served in a
 * preliminary version and recalculated `recalcDelayMs` later, as Alpaca does when late trades
 * arrive (same `t`, new h/l/c/v/n/vw). `ideal` timing serves every closed minute at once, final.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { hashText, mulberry32 } from '../../functions/shared/seeded-random.ts'
import { faultClock, logRequest, startSimulatorServer } from './http-server.ts'

export const BAD_BAR_KINDS = [
  'nan_price',
  'negative_price',
  'high_below_low',
  'missing_field',
  'mistyped_field',
  'off_minute',
  'unknown_symbol',
] as const
export type BadBarKind = (typeof BAD_BAR_KINDS)[number]

/** The symbol key under which `unknown_symbol` bars are served. */
export const UNKNOWN_SYMBOL = 'ZZZ/USD'

export interface MinuteRange {
  /** ISO-8601 minute, inclusive. */
  from: string
  /** ISO-8601 minute, inclusive; defaults to `from`. */
  to?: string
  /** Only this symbol; all symbols when absent. */
  symbol?: string
}

export interface BadBarSpec {
  /** ISO-8601 minute of the bar to spoil. */
  minute: string
  symbol?: string
  kind: BadBarKind
}

/** Faults, all off by default. "Every Nth" counts requests to any endpoint since the last `setFaults`. */
export interface FaultConfig {
  /** Every Nth request answers 429 with `Retry-After` and `X-RateLimit-Reset`. */
  rateLimitEvery?: number
  /** Seconds in the `Retry-After` of injected 429s (default 1). */
  retryAfterSeconds?: number
  /** A real per-minute request budget: requests beyond it in the same clock minute get 429. */
  rateLimitPerMinute?: number
  /** Every Nth request answers `serverErrorStatus` (default 500). */
  serverErrorEvery?: number
  serverErrorStatus?: number
  /** Delay before answering, in ms; applies to every `slowEvery`th request (default every one). */
  slowMs?: number
  slowEvery?: number
  /** Every Nth request answers 200 with a body cut short (not JSON). */
  malformedEvery?: number
  /** A fraction in [0, 1] of bars spoiled (kind picked per bar), or an explicit list. */
  badBars?: number | BadBarSpec[]
  /** With a fraction: the kinds to pick from (default all). */
  badBarKinds?: BadBarKind[]
  /** Minutes with no bar at all: a fraction in [0, 1], or explicit minutes / ranges. */
  missingMinutes?: number | Array<string | MinuteRange>
}

/**
 * When bars appear and change. `realistic` (the default, what `make run` uses) follows Alpaca:
 * published ~1 s after the minute, a fraction recalculated ~30 s later. `ideal`: every closed
 * minute is there, final, the instant it closes.
 */
export interface SimulatorTiming {
  mode: 'realistic' | 'ideal'
  /** Realistic: ms after a minute closes before its bar is served (default 1000). */
  publishDelayMs?: number
  /** Realistic: ms after publication at which a recalculated bar changes (default 30000). */
  recalcDelayMs?: number
  /** Realistic: the fraction in [0, 1] of bars recalculated, chosen per (seed, symbol, minute) (default 0.3). */
  recalcFraction?: number
}

export const DEFAULT_TIMING: Required<SimulatorTiming> = {
  mode: 'realistic',
  publishDelayMs: 1_000,
  recalcDelayMs: 30_000,
  recalcFraction: 0.3,
}

/** The timing in force: `ideal` is zero delays and no recalculation. */
export function resolveTiming(
  timing: SimulatorTiming | SimulatorTiming['mode'] | undefined,
): Required<SimulatorTiming> {
  const given = typeof timing === 'string' ? { mode: timing } : (timing ?? { mode: 'realistic' as const })
  if (given.mode === 'ideal') return { mode: 'ideal', publishDelayMs: 0, recalcDelayMs: 0, recalcFraction: 0 }
  const resolved = { ...DEFAULT_TIMING, ...given }
  for (const key of ['publishDelayMs', 'recalcDelayMs'] as const)
    if (!(Number.isInteger(resolved[key]) && resolved[key] >= 0))
      throw new Error(`timing ${key} must be an integer >= 0`)
  if (!(resolved.recalcFraction >= 0 && resolved.recalcFraction <= 1))
    throw new Error('timing recalcFraction must be in [0, 1]')
  return resolved
}

export interface SimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number
  host?: string
  seed?: number
  /** Symbols served; any well-formed BASE/QUOTE symbol when absent. Others are omitted, as Alpaca does. */
  symbols?: string[]
  /** Default: parsed from the ALPACA_SIM_FAULTS environment variable (see {@link parseFaults}). */
  faults?: FaultConfig
  now?: () => Date
  /** Default `realistic` (see {@link SimulatorTiming}); tests that need instant, final bars pass `ideal`. */
  timing?: SimulatorTiming | SimulatorTiming['mode']
}

export interface SimulatorStats {
  requests: number
  byEndpoint: { bars: number; latestBars: number; latestQuotes: number; other: number }
  rateLimited: number
  serverErrors: number
  malformed: number
  slowed: number
  badRequests: number
  /** Requests that carried both APCA-API-KEY-ID and APCA-API-SECRET-KEY. */
  authenticated: number
  barsServed: number
  badBarsServed: number
  /** Bars served in their preliminary version (recalculated later). */
  preliminaryBarsServed: number
  /** Bars served in their recalculated version. */
  recalculatedBarsServed: number
  /** The last 1000 requests: path with query, and the status answered. */
  log: Array<{ url: string; status: number }>
}

export interface AlpacaSimulator {
  /** Base URL to use as ALPACA_DATA_URL, e.g. `http://127.0.0.1:18080`. */
  url: string
  close(): Promise<void>
  /** Replaces the faults and restarts the request count they use. */
  setFaults(faults: FaultConfig): void
  stats(): SimulatorStats
}

const MINUTE = 60_000
const MAX_LIMIT = 10_000
const DEFAULT_LIMIT = 1_000
const LOCATIONS = new Set(['us', 'us-1', 'eu-1'])
const SYMBOL_PATTERN = /^[A-Z0-9]{2,12}\/[A-Z]{3,5}$/

/** USD price level per asset; a pair's level is base / quote. Unknown assets sit at 100. */
const USD_LEVELS: Record<string, number> = {
  BTC: 90_000,
  ETH: 3_000,
  LTC: 90,
  SOL: 140,
  AVAX: 25,
  LINK: 15,
  DOGE: 0.16,
  USD: 1,
  USDT: 1,
  USDC: 1,
}

const usdLevel = (asset: string) => USD_LEVELS[asset] ?? 100

export function priceLevel(symbol: string): number {
  const [base = '', quote = ''] = symbol.split('/')
  return usdLevel(base) / usdLevel(quote)
}

/** Units of the base asset worth `usd` dollars: volumes and sizes are sized in dollars. */
const baseUnits = (symbol: string, usd: number) => usd / usdLevel(symbol.split('/')[0] ?? '')

/** Decimal places for prices: ~6 significant digits, at least 2 (BTC 2, ETH 2, LTC 4). */
export function priceDecimals(symbol: string): number {
  return Math.min(9, Math.max(2, 5 - Math.floor(Math.log10(priceLevel(symbol)))))
}

/** Eight uniform values in [0, 1) from a hash of the parts: cheap enough for a 10000-bar page. */
function uniforms(...parts: Array<string | number>): number[] {
  return Array.from({ length: 8 }, mulberry32(hashText(parts.join('|'))))
}

/** Knots are shared by 60 or 1440 minutes each: cached, so a bar costs a few hashes, not a dozen. */
const knots = new Map<string, number>()
function knot(seed: number, symbol: string, layer: string, index: number): number {
  const key = `${seed}|${symbol}|${layer}|${index}`
  let value = knots.get(key)
  if (value === undefined) {
    if (knots.size > 100_000) knots.clear()
    value = (uniforms(seed, symbol, layer, index)[0] ?? 0) * 2 - 1
    knots.set(key, value)
  }
  return value
}

/** Cosine-interpolated value noise in [-1, 1] with one knot every `period` minutes. */
function smoothNoise(seed: number, symbol: string, layer: string, minute: number, period: number): number {
  const index = Math.floor(minute / period)
  const t = (minute - index * period) / period
  const w = (1 - Math.cos(Math.PI * t)) / 2
  return knot(seed, symbol, layer, index) * (1 - w) + knot(seed, symbol, layer, index + 1) * w
}

/** The anchor price at the start of `minute` (minutes since the epoch): open of that bar, close of the previous. */
function anchorPrice(seed: number, symbol: string, minute: number): number {
  const jitter = (uniforms(seed, symbol, 'anchor', minute)[0] ?? 0) * 2 - 1
  const exponent =
    0.04 * smoothNoise(seed, symbol, 'day', minute, 1440) +
    0.008 * smoothNoise(seed, symbol, 'hour', minute, 60) +
    0.0006 * jitter
  return priceLevel(symbol) * Math.exp(exponent)
}

export interface SimBar {
  t: string
  o: string
  h: string
  l: string
  c: string
  v: string
  n: number
  vw: string
}

const isoMinute = (minute: number) => new Date(minute * MINUTE).toISOString().replace('.000Z', 'Z')

/**
 * The well-formed bar of `symbol` for `minute` (minutes since the epoch), numbers as decimal
 * text. About 5% of bars have volume exactly 0 (no trades: a flat bar at the anchor price).
 */
export function simulatedBar(seed: number, symbol: string, minute: number): SimBar {
  const decimals = priceDecimals(symbol)
  const fix = (value: number) => value.toFixed(decimals)
  const [u1 = 0, u2 = 0, u3 = 0, u4 = 0, u5 = 0, u6 = 0] = uniforms(seed, symbol, 'bar', minute)
  const t = isoMinute(minute)
  const open = Number(fix(anchorPrice(seed, symbol, minute)))
  if (u3 < 0.05) {
    const flat = fix(open)
    return { t, o: flat, h: flat, l: flat, c: flat, v: '0', n: 0, vw: flat }
  }
  const close = Number(fix(anchorPrice(seed, symbol, minute + 1)))
  const high = Number(fix(Math.max(open, close) * (1 + 0.0004 * u1)))
  const low = Number(fix(Math.min(open, close) * (1 - 0.0004 * u2)))
  const vwap = Math.min(high, Math.max(low, Number(fix(low + (high - low) * u6))))
  // About $50k of notional a minute, heavy-tailed.
  const volume = baseUnits(symbol, 50_000) * (0.02 + 2 * u4 * u4)
  return {
    t,
    o: fix(open),
    h: fix(high),
    l: fix(low),
    c: fix(close),
    v: volume.toFixed(8),
    n: 1 + Math.floor(u5 * 40),
    vw: fix(vwap),
  }
}

/**
 * Whether Alpaca (the simulator) recalculates this bar after publishing it: a seeded fraction
 * of the minutes with trades (a minute without trades has no late trade to add).
 */
export function isRecalculated(seed: number, symbol: string, minute: number, fraction: number): boolean {
  if (fraction <= 0 || simulatedBar(seed, symbol, minute).v === '0') return false
  return (uniforms(seed, symbol, 'recalc', minute)[0] ?? 1) < fraction
}

/**
 * The version of a recalculated bar served before its recalculation: the same open, the late
 * trades missing, so a close part of the way to the final one, a narrower range, less volume,
 * fewer trades. Still a valid bar: open and close within [low, high].
 */
export function preliminaryBar(seed: number, symbol: string, minute: number): SimBar {
  const final = simulatedBar(seed, symbol, minute)
  const decimals = priceDecimals(symbol)
  const fix = (value: number) => value.toFixed(decimals)
  const [r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0] = uniforms(seed, symbol, 'preliminary', minute)
  const open = Number(final.o)
  const close = Number(fix(open + (Number(final.c) - open) * (0.3 + 0.5 * r1)))
  const high = Number(fix(Math.max(open, close) * (1 + 0.0002 * r2)))
  const low = Number(fix(Math.min(open, close) * (1 - 0.0002 * r3)))
  const vwap = Math.min(high, Math.max(low, Number(fix(low + (high - low) * r6))))
  return {
    t: final.t,
    o: final.o,
    h: fix(high),
    l: fix(low),
    c: fix(close),
    v: (Number(final.v) * (0.6 + 0.3 * r4)).toFixed(8),
    n: Math.max(1, final.n - 1 - Math.floor(r5 * 3)),
    vw: fix(vwap),
  }
}

/**
 * The bar of `minute` as served at `nowMs`, or undefined before it is published; `version`
 * tells which one a recalculated bar is in.
 */
export function servedBar(
  seed: number,
  symbol: string,
  minute: number,
  nowMs: number,
  timing: Required<SimulatorTiming>,
): { bar: SimBar; version: 'final' | 'preliminary' | 'recalculated' } | undefined {
  const publishedAt = (minute + 1) * MINUTE + timing.publishDelayMs
  if (nowMs < publishedAt) return undefined
  if (!isRecalculated(seed, symbol, minute, timing.recalcFraction))
    return { bar: simulatedBar(seed, symbol, minute), version: 'final' }
  if (nowMs < publishedAt + timing.recalcDelayMs)
    return { bar: preliminaryBar(seed, symbol, minute), version: 'preliminary' }
  return { bar: simulatedBar(seed, symbol, minute), version: 'recalculated' }
}

type JsonBar = Record<string, unknown>

/** JSON text of a value whose `RawNumber` leaves are written verbatim as JSON numbers. */
class RawNumber {
  constructor(readonly text: string) {}
}
function toJson(value: unknown): string {
  if (value instanceof RawNumber) return value.text
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([key, inner]) => `${JSON.stringify(key)}:${toJson(inner)}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}

function barJson(bar: SimBar): JsonBar {
  return {
    t: bar.t,
    o: new RawNumber(bar.o),
    h: new RawNumber(bar.h),
    l: new RawNumber(bar.l),
    c: new RawNumber(bar.c),
    v: new RawNumber(bar.v),
    n: new RawNumber(String(bar.n)),
    vw: new RawNumber(bar.vw),
  }
}

/** Spoils a bar the way `kind` says; `unknown_symbol` is handled by the caller (it moves the bar). */
function spoil(bar: JsonBar, kind: BadBarKind): JsonBar {
  switch (kind) {
    case 'nan_price':
      return { ...bar, c: 'NaN' }
    case 'negative_price':
      return { ...bar, l: new RawNumber(`-${(bar.l as RawNumber).text}`) }
    case 'high_below_low': {
      const [high, low] = [bar.l as RawNumber, bar.h as RawNumber]
      if (high.text !== low.text) return { ...bar, h: high, l: low }
      // A flat bar (no trades: high = low) swapped is still valid: its high goes 1 % under its low.
      const decimals = low.text.split('.')[1]?.length ?? 0
      return { ...bar, h: new RawNumber((Number(low.text) * 0.99).toFixed(decimals)), l: low }
    }
    case 'missing_field': {
      const { o: _dropped, ...rest } = bar
      return rest
    }
    case 'mistyped_field':
      return { ...bar, v: true }
    case 'off_minute':
      return { ...bar, t: (bar.t as string).replace(/:00Z$/, ':17Z') }
    case 'unknown_symbol':
      return bar
  }
}

const COMPACT_NUMBER_KEYS = [
  'rateLimitEvery',
  'retryAfterSeconds',
  'rateLimitPerMinute',
  'serverErrorEvery',
  'serverErrorStatus',
  'slowMs',
  'slowEvery',
  'malformedEvery',
  'badBars',
  'missingMinutes',
] as const

/**
 * Parses faults from JSON (`{"serverErrorEvery":3}`) or the compact form
 * `serverErrorEvery=3,slowMs=200,badBars=0.05,badBarKinds=nan_price+off_minute`.
 * Lists of minutes or bad bars need the JSON form.
 */
export function parseFaults(text: string | undefined): FaultConfig {
  const trimmed = text?.trim() ?? ''
  if (trimmed === '') return {}
  let faults: Record<string, unknown>
  if (trimmed.startsWith('{')) {
    faults = JSON.parse(trimmed) as Record<string, unknown>
  } else {
    faults = {}
    for (const part of trimmed.split(',')) {
      const [key = '', value = ''] = part.split('=').map((piece) => piece.trim())
      if (key === 'badBarKinds') {
        faults[key] = value.split('+').filter(Boolean)
      } else if ((COMPACT_NUMBER_KEYS as readonly string[]).includes(key) && /^\d+(\.\d+)?$/.test(value)) {
        faults[key] = Number(value)
      } else {
        throw new Error(
          `ALPACA_SIM_FAULTS: cannot read "${part}" (expected key=number, e.g. serverErrorEvery=3)`,
        )
      }
    }
  }
  return validateFaults(faults)
}

function validateFaults(faults: Record<string, unknown>): FaultConfig {
  const known = new Set<string>([...COMPACT_NUMBER_KEYS, 'badBarKinds'])
  for (const key of Object.keys(faults)) if (!known.has(key)) throw new Error(`unknown fault option: ${key}`)
  for (const key of [
    'rateLimitEvery',
    'serverErrorEvery',
    'malformedEvery',
    'slowEvery',
    'rateLimitPerMinute',
  ]) {
    const value = faults[key]
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 1))
      throw new Error(`fault ${key} must be an integer >= 1`)
  }
  for (const key of ['badBars', 'missingMinutes']) {
    const value = faults[key]
    if (typeof value === 'number' && !(value >= 0 && value <= 1))
      throw new Error(`fault ${key} fraction must be in [0, 1]`)
  }
  const kinds = faults.badBarKinds
  if (kinds !== undefined) {
    if (!Array.isArray(kinds) || kinds.some((kind) => !(BAD_BAR_KINDS as readonly string[]).includes(kind)))
      throw new Error(`badBarKinds must be a list of ${BAD_BAR_KINDS.join(', ')}`)
  }
  if (Array.isArray(faults.badBars)) {
    for (const spec of faults.badBars as BadBarSpec[]) {
      if (!(BAD_BAR_KINDS as readonly string[]).includes(spec.kind))
        throw new Error(`unknown bad bar kind: ${spec.kind}`)
      minuteOf(spec.minute)
    }
  }
  if (Array.isArray(faults.missingMinutes)) {
    for (const entry of faults.missingMinutes as Array<string | MinuteRange>) {
      if (typeof entry === 'string') minuteOf(entry)
      else {
        minuteOf(entry.from)
        if (entry.to !== undefined) minuteOf(entry.to)
      }
    }
  }
  return faults as FaultConfig
}

/** Minutes since the epoch of an ISO minute; throws if it is not on the minute. */
function minuteOf(iso: string): number {
  const ms = Date.parse(iso)
  if (Number.isNaN(ms) || ms % MINUTE !== 0) throw new Error(`not an ISO-8601 minute: ${iso}`)
  return ms / MINUTE
}

class BadRequest extends Error {}

function parseTime(name: string, value: string | null, fallback: number): number {
  if (value === null || value === '') return fallback
  // RFC-3339 or a plain date, as Alpaca accepts.
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value))
    throw new BadRequest(`invalid ${name}: ${value}`)
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) throw new BadRequest(`invalid ${name}: ${value}`)
  return ms
}

function encodeToken(symbol: string, minute: number): string {
  return Buffer.from(`${symbol}|${minute}`).toString('base64url')
}

function decodeToken(token: string): { symbol: string; minute: number } {
  const [symbol, minute] = Buffer.from(token, 'base64url').toString('utf8').split('|')
  if (!symbol || !minute || !/^\d+$/.test(minute)) throw new BadRequest('invalid page_token')
  return { symbol, minute: Number(minute) }
}

export async function startAlpacaSimulator(options: SimulatorOptions = {}): Promise<AlpacaSimulator> {
  const seed = options.seed ?? 1
  const now = options.now ?? (() => new Date())
  const timing = resolveTiming(options.timing)
  const served = options.symbols ? new Set(options.symbols) : undefined
  let faults = options.faults
    ? validateFaults({ ...options.faults })
    : parseFaults(process.env.ALPACA_SIM_FAULTS)
  const clock = faultClock()
  let budgetMinute = -1
  let budgetUsed = 0
  const stats: SimulatorStats = {
    requests: 0,
    byEndpoint: { bars: 0, latestBars: 0, latestQuotes: 0, other: 0 },
    rateLimited: 0,
    serverErrors: 0,
    malformed: 0,
    slowed: 0,
    badRequests: 0,
    authenticated: 0,
    barsServed: 0,
    badBarsServed: 0,
    preliminaryBarsServed: 0,
    recalculatedBarsServed: 0,
    log: [],
  }

  const isServed = (symbol: string) =>
    SYMBOL_PATTERN.test(symbol) && (served === undefined || served.has(symbol))

  function isMissing(symbol: string, minute: number): boolean {
    const missing = faults.missingMinutes
    if (missing === undefined) return false
    if (typeof missing === 'number') return (uniforms(seed, symbol, 'missing', minute)[0] ?? 1) < missing
    return missing.some((entry) => {
      if (typeof entry === 'string') return minuteOf(entry) === minute
      if (entry.symbol !== undefined && entry.symbol !== symbol) return false
      return minute >= minuteOf(entry.from) && minute <= minuteOf(entry.to ?? entry.from)
    })
  }

  function badKind(symbol: string, minute: number): BadBarKind | undefined {
    const bad = faults.badBars
    if (bad === undefined) return undefined
    if (typeof bad === 'number') {
      const [pick = 1, which = 0] = uniforms(seed, symbol, 'bad', minute)
      if (pick >= bad) return undefined
      const kinds = faults.badBarKinds?.length ? faults.badBarKinds : BAD_BAR_KINDS
      return kinds[Math.floor(which * kinds.length)]
    }
    return bad.find(
      (spec) => minuteOf(spec.minute) === minute && (spec.symbol === undefined || spec.symbol === symbol),
    )?.kind
  }

  /**
   * The served bar (possibly spoiled), the key it is served under and its version, or undefined
   * for a missing or not yet published minute.
   */
  function barAt(
    symbol: string,
    minute: number,
    nowMs: number,
  ): { key: string; bar: JsonBar; bad: boolean; version: string } | undefined {
    if (isMissing(symbol, minute)) return undefined
    const served = servedBar(seed, symbol, minute, nowMs, timing)
    if (served === undefined) return undefined
    const bar = barJson(served.bar)
    const kind = badKind(symbol, minute)
    if (kind === undefined) return { key: symbol, bar, bad: false, version: served.version }
    return {
      key: kind === 'unknown_symbol' ? UNKNOWN_SYMBOL : symbol,
      bar: spoil(bar, kind),
      bad: true,
      version: served.version,
    }
  }

  /** The last minute whose bar is published: closed `publishDelayMs` ago. */
  const lastPublishedMinute = (nowMs: number) => Math.floor((nowMs - timing.publishDelayMs) / MINUTE) - 1

  function requestedSymbols(params: URLSearchParams): string[] {
    const raw = params.get('symbols')
    if (!raw) throw new BadRequest('missing symbols')
    const symbols = [...new Set(raw.split(',').map((symbol) => symbol.trim()))].filter(Boolean)
    if (symbols.length === 0) throw new BadRequest('missing symbols')
    return symbols.filter(isServed).sort()
  }

  interface Answer {
    body: unknown
    bars: number
    bad: number
    preliminary?: number
    recalculated?: number
  }

  function bars(params: URLSearchParams): Answer {
    const symbols = requestedSymbols(params)
    const timeframe = params.get('timeframe')
    if (timeframe !== '1Min' && timeframe !== '1T')
      throw new BadRequest(`unsupported timeframe: ${timeframe}`)
    const limitText = params.get('limit')
    const limit = limitText === null ? DEFAULT_LIMIT : Number(limitText)
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
      throw new BadRequest(`invalid limit: ${limitText}`)
    const sort = params.get('sort') ?? 'asc'
    if (sort !== 'asc' && sort !== 'desc') throw new BadRequest(`invalid sort: ${sort}`)
    const nowMs = now().getTime()
    const startMs = parseTime('start', params.get('start'), Math.floor(nowMs / 86_400_000) * 86_400_000)
    const endMs = parseTime('end', params.get('end'), nowMs)
    if (endMs < startMs) throw new BadRequest('end must not be before start')
    // Both ends inclusive; only published minutes are served.
    const first = Math.ceil(startMs / MINUTE)
    const last = Math.min(Math.floor(endMs / MINUTE), lastPublishedMinute(nowMs))
    const token = params.get('page_token')
    const cursor = token ? decodeToken(token) : undefined

    const out: Record<string, JsonBar[]> = {}
    let count = 0
    let bad = 0
    let preliminary = 0
    let recalculated = 0
    let next: string | null = null
    outer: for (const symbol of symbols) {
      if (cursor && symbol < cursor.symbol) continue
      const resume = cursor && symbol === cursor.symbol ? cursor.minute : undefined
      const from = sort === 'asc' ? Math.max(first, resume ?? first) : first
      const to = sort === 'desc' ? Math.min(last, resume ?? last) : last
      const step = sort === 'asc' ? 1 : -1
      for (let minute = sort === 'asc' ? from : to; minute >= from && minute <= to; minute += step) {
        const hit = barAt(symbol, minute, nowMs)
        if (hit === undefined) continue
        if (count === limit) {
          next = encodeToken(symbol, minute)
          break outer
        }
        out[hit.key] ??= []
        out[hit.key]?.push(hit.bar)
        count++
        if (hit.bad) bad++
        if (hit.version === 'preliminary') preliminary++
        if (hit.version === 'recalculated') recalculated++
      }
    }
    return { body: { bars: out, next_page_token: next }, bars: count, bad, preliminary, recalculated }
  }

  /** The most recent published bar of `symbol` as served now, looking back at most a day. */
  function latestBar(symbol: string, nowMs: number): SimBar | undefined {
    const last = lastPublishedMinute(nowMs)
    for (let minute = last; minute > last - 1440; minute--) {
      if (isMissing(symbol, minute)) continue
      return servedBar(seed, symbol, minute, nowMs, timing)?.bar
    }
    return undefined
  }

  function latestBars(params: URLSearchParams): Answer {
    const out: Record<string, JsonBar> = {}
    const nowMs = now().getTime()
    for (const symbol of requestedSymbols(params)) {
      const bar = latestBar(symbol, nowMs)
      if (bar !== undefined) out[symbol] = barJson(bar)
    }
    return { body: { bars: out }, bars: Object.keys(out).length, bad: 0 }
  }

  function latestQuotes(params: URLSearchParams): Answer {
    const out: Record<string, unknown> = {}
    const at = now()
    const second = Math.floor(at.getTime() / 1000)
    for (const symbol of requestedSymbols(params)) {
      const decimals = priceDecimals(symbol)
      // Around the close of the latest bar as served now: quotes and bars tell the same story.
      const latest = latestBar(symbol, at.getTime())
      const close = Number(latest?.c ?? simulatedBar(seed, symbol, lastPublishedMinute(at.getTime())).c)
      const [u1 = 0, u2 = 0, u3 = 0] = uniforms(seed, symbol, 'quote', second)
      const halfSpread = close * (0.00003 + 0.0001 * u1)
      const tick = 10 ** -decimals
      const bid = close - halfSpread
      // Rounding must not close the spread: bid < ask always.
      const ask = Math.max(close + halfSpread, Number(bid.toFixed(decimals)) + tick)
      const size = (u: number) => (baseUnits(symbol, 5_000) * (0.1 + u)).toFixed(8)
      out[symbol] = {
        t: at.toISOString(),
        bp: new RawNumber(bid.toFixed(decimals)),
        bs: new RawNumber(size(u2)),
        ap: new RawNumber(ask.toFixed(decimals)),
        as: new RawNumber(size(u3)),
      }
    }
    return { body: { quotes: out }, bars: 0, bad: 0 }
  }

  function send(
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed) return
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
    res.end(body)
  }

  function rateHeaders(nowMs: number): Record<string, string> {
    const limit = faults.rateLimitPerMinute ?? 200
    return {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(Math.max(0, limit - budgetUsed)),
      'x-ratelimit-reset': String(Math.ceil((Math.floor(nowMs / MINUTE) + 1) * (MINUTE / 1000))),
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://simulator')
    stats.requests++
    const every = clock.tick()
    if (req.headers['apca-api-key-id'] && req.headers['apca-api-secret-key']) stats.authenticated++
    const nowMs = now().getTime()
    const minute = Math.floor(nowMs / MINUTE)
    if (minute !== budgetMinute) {
      budgetMinute = minute
      budgetUsed = 0
    }
    budgetUsed++
    const record = (status: number) => logRequest(stats.log, url, status)

    const respond = () => {
      const match = /^\/v1beta3\/crypto\/([^/]+)\/(bars|latest\/bars|latest\/quotes)$/.exec(url.pathname)
      const endpoint = match?.[2]
      if (endpoint === 'bars') stats.byEndpoint.bars++
      else if (endpoint === 'latest/bars') stats.byEndpoint.latestBars++
      else if (endpoint === 'latest/quotes') stats.byEndpoint.latestQuotes++
      else stats.byEndpoint.other++
      const headers = rateHeaders(nowMs)

      const overBudget = faults.rateLimitPerMinute !== undefined && budgetUsed > faults.rateLimitPerMinute
      if (every(faults.rateLimitEvery) || overBudget) {
        const wait = overBudget
          ? Math.ceil(((minute + 1) * MINUTE - nowMs) / 1000)
          : (faults.retryAfterSeconds ?? 1)
        stats.rateLimited++
        record(429)
        return send(res, 429, JSON.stringify({ code: 42910000, message: 'rate limit exceeded' }), {
          ...headers,
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.ceil(nowMs / 1000) + wait),
          'retry-after': String(wait),
        })
      }
      if (every(faults.serverErrorEvery)) {
        stats.serverErrors++
        const status = faults.serverErrorStatus ?? 500
        record(status)
        return send(
          res,
          status,
          JSON.stringify({ code: 50010000, message: 'internal server error' }),
          headers,
        )
      }
      if (req.method !== 'GET') {
        record(405)
        return send(res, 405, JSON.stringify({ message: 'method not allowed' }), headers)
      }
      if (!match || !LOCATIONS.has(match[1] ?? '')) {
        record(404)
        return send(res, 404, JSON.stringify({ message: 'Not Found' }), headers)
      }
      let answer: Answer
      try {
        if (endpoint === 'bars') answer = bars(url.searchParams)
        else if (endpoint === 'latest/bars') answer = latestBars(url.searchParams)
        else answer = latestQuotes(url.searchParams)
      } catch (error) {
        if (!(error instanceof BadRequest)) throw error
        stats.badRequests++
        record(400)
        return send(res, 400, JSON.stringify({ code: 40010001, message: error.message }), headers)
      }
      const text = toJson(answer.body)
      if (every(faults.malformedEvery)) {
        stats.malformed++
        record(200)
        // A response cut short mid-body, as from a dropped proxy connection.
        return send(res, 200, text.slice(0, Math.max(1, Math.floor(text.length / 2))), headers)
      }
      stats.barsServed += answer.bars
      stats.badBarsServed += answer.bad
      stats.preliminaryBarsServed += answer.preliminary ?? 0
      stats.recalculatedBarsServed += answer.recalculated ?? 0
      record(200)
      return send(res, 200, text, headers)
    }

    if (server.answer(faults, every, respond)) stats.slowed++
  }

  const server = await startSimulatorServer({
    port: options.port,
    host: options.host,
    handle,
    errorBody: (message) => JSON.stringify({ message }),
  })
  return {
    url: server.url,
    setFaults(next) {
      faults = validateFaults({ ...next })
      clock.restart()
    },
    stats: () => structuredClone(stats),
    close: server.close,
  }
}
