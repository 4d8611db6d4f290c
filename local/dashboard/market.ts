/**
 * What the dashboard page shows of the market and the simulated trading, read from the live
 * OpenSearch indices: per symbol the bars of the last hour (last price, change, candles, volume)
 * and its asset icon; per minute the trades by side, notional by symbol, the top traders by
 * their HMAC token. Prices stay the decimal strings of `_source`; the numeric mapping is only
 * for the aggregations and the charts.
 */
import type { Client } from '@opensearch-project/opensearch'
import { ASSETS_INDEX, BARS_ALIAS, TRADES_ALIAS } from '../../functions/shared/search-templates.ts'
import { HOUR } from '../../functions/shared/time.ts'

export interface BarPoint {
  /** Bar start, epoch seconds (what uPlot takes). */
  t: number
  open: number
  high: number
  low: number
  close: number
  volume: number
}

export interface SymbolView {
  symbol: string
  asset_id: string
  icon_url: string | null
  /** Close of the newest bar, as the bar carries it. */
  last_price: string | null
  last_bar_start: string | null
  /** Close of the newest bar over the open of the oldest bar of the hour, in percent. */
  change_pct: number | null
  /** Bars in the last hour. */
  bars: number
  /** Trades in the last hour. */
  trades: number
  series: BarPoint[]
}

export interface MarketView {
  generated_at: string
  window: { start: string; end: string }
  symbols: SymbolView[]
  newest_bar: { start: string; age_seconds: number } | null
  trading: {
    /** Trades per minute by side, minutes as epoch seconds. */
    per_minute: Array<{ t: number; buy: number; sell: number }>
    notional_by_symbol: Array<{ symbol: string; notional: number; trades: number }>
    /** HMAC tokens only: never a name, e-mail or document. */
    top_traders: Array<{ token: string; notional: number; trades: number }>
    total: number
  }
}

/** `BTC/USD` -> `BTC`: the asset whose icon a symbol shows (as refresh-assets derives them). */
export const assetOf = (symbol: string) => symbol.split('/')[0] ?? symbol

interface Hit<T> {
  _source: T
}
interface BarSource {
  symbol: string
  start: string
  open: string
  high: string
  low: string
  close: string
  volume: string
}

async function searchBody<T>(client: Client, index: string, body: Record<string, unknown>): Promise<T> {
  const exists = await client.indices.exists({ index })
  if (!exists.body) return { hits: { hits: [] }, aggregations: undefined } as T
  // The plain transport: the typed search API rejects some valid aggregations.
  const response = await client.transport.request({ method: 'POST', path: `/${index}/_search`, body })
  return response.body as T
}

interface Buckets<T> {
  buckets: T[]
}
interface TradesAnswer {
  hits: { total: { value: number } }
  aggregations?: {
    per_minute: Buckets<{ key: number; side: Buckets<{ key: string; doc_count: number }> }>
    by_symbol: Buckets<{ key: string; doc_count: number; notional: { value: number } }>
    top: Buckets<{ key: string; doc_count: number; notional: { value: number } }>
  }
}

/** The bars of `symbols` from `start` on, oldest first, by symbol. */
async function readBars(client: Client, symbols: string[], start: string): Promise<Map<string, BarSource[]>> {
  const bars = await searchBody<{ hits: { hits: Array<Hit<BarSource>> } }>(client, BARS_ALIAS, {
    size: 10_000,
    query: {
      bool: { filter: [{ terms: { symbol: symbols } }, { range: { start: { gte: start } } }] },
    },
    sort: [{ start: 'asc' }],
    _source: ['symbol', 'start', 'open', 'high', 'low', 'close', 'volume'],
  })
  const bySymbol = new Map<string, BarSource[]>()
  for (const { _source: bar } of bars.hits.hits) {
    const list = bySymbol.get(bar.symbol) ?? []
    list.push(bar)
    bySymbol.set(bar.symbol, list)
  }
  return bySymbol
}

/** The start of the newest bar of any of `symbols`, however old. */
async function readNewestBarStart(client: Client, symbols: string[]): Promise<string | undefined> {
  const newest = await searchBody<{ hits: { hits: Array<Hit<{ start: string }>> } }>(client, BARS_ALIAS, {
    size: 1,
    query: { terms: { symbol: symbols } },
    sort: [{ start: 'desc' }],
    _source: ['start'],
  })
  return newest.hits.hits[0]?._source.start
}

/** Asset id -> icon URL, for the assets of `symbols`. */
async function readIcons(client: Client, symbols: string[]): Promise<Map<string, string>> {
  const assets = await searchBody<{ hits: { hits: Array<Hit<{ asset_id: string; icon_url: string }>> } }>(
    client,
    ASSETS_INDEX,
    {
      size: symbols.length,
      query: { terms: { asset_id: symbols.map(assetOf) } },
      _source: ['asset_id', 'icon_url'],
    },
  )
  return new Map(assets.hits.hits.map((hit) => [hit._source.asset_id, hit._source.icon_url]))
}

/** The trades of `symbols` from `start` on: per minute by side, notional by symbol, top tokens. */
function readTrades(client: Client, symbols: string[], start: string): Promise<TradesAnswer> {
  return searchBody<TradesAnswer>(client, TRADES_ALIAS, {
    size: 0,
    track_total_hits: true,
    query: {
      bool: {
        filter: [{ terms: { symbol: symbols } }, { range: { executed_at: { gte: start } } }],
      },
    },
    aggs: {
      per_minute: {
        date_histogram: { field: 'executed_at', fixed_interval: '1m', min_doc_count: 1 },
        aggs: { side: { terms: { field: 'side', size: 2 } } },
      },
      by_symbol: {
        terms: { field: 'symbol', size: symbols.length },
        aggs: { notional: { sum: { field: 'notional' } } },
      },
      top: {
        terms: { field: 'user_name_token', size: 10, order: { notional: 'desc' } },
        aggs: { notional: { sum: { field: 'notional' } } },
      },
    },
  })
}

/** One symbol's card: its newest price, the hour's change, its candles and its trade count. */
function symbolView(
  symbol: string,
  list: BarSource[],
  icons: Map<string, string>,
  trades: number,
): SymbolView {
  const first = list[0]
  const last = list.at(-1)
  return {
    symbol,
    asset_id: assetOf(symbol),
    icon_url: icons.get(assetOf(symbol)) ?? null,
    last_price: last?.close ?? null,
    last_bar_start: last?.start ?? null,
    change_pct:
      first && last && Number(first.open) !== 0
        ? ((Number(last.close) - Number(first.open)) / Number(first.open)) * 100
        : null,
    bars: list.length,
    trades,
    series: list.map((bar) => ({
      t: Date.parse(bar.start) / 1000,
      open: Number(bar.open),
      high: Number(bar.high),
      low: Number(bar.low),
      close: Number(bar.close),
      volume: Number(bar.volume),
    })),
  }
}

function tradingView(trades: TradesAnswer): MarketView['trading'] {
  const sums = (bucket: { key: string; doc_count: number; notional: { value: number } }) => ({
    notional: bucket.notional.value,
    trades: bucket.doc_count,
  })
  return {
    per_minute: (trades.aggregations?.per_minute.buckets ?? []).map((bucket) => {
      const side = (name: string) => bucket.side.buckets.find((b) => b.key === name)?.doc_count ?? 0
      return { t: bucket.key / 1000, buy: side('BUY'), sell: side('SELL') }
    }),
    notional_by_symbol: (trades.aggregations?.by_symbol.buckets ?? []).map((bucket) => ({
      symbol: bucket.key,
      ...sums(bucket),
    })),
    top_traders: (trades.aggregations?.top.buckets ?? []).map((bucket) => ({
      token: bucket.key,
      ...sums(bucket),
    })),
    total: trades.hits?.total?.value ?? 0,
  }
}

/**
 * Reads the market and trading views for `symbols` from the hour before `now` on. No upper
 * bound: simulated trades of the current minute carry execution times spread over it.
 */
export async function readMarket(client: Client, symbols: string[], now = Date.now()): Promise<MarketView> {
  const start = new Date(now - HOUR).toISOString()
  const end = new Date(now).toISOString()
  const bySymbol = await readBars(client, symbols, start)
  const newestStart = await readNewestBarStart(client, symbols)
  const icons = await readIcons(client, symbols)
  const trades = await readTrades(client, symbols, start)
  const tradesBySymbol = new Map(
    (trades.aggregations?.by_symbol.buckets ?? []).map((bucket) => [bucket.key, bucket.doc_count]),
  )
  return {
    generated_at: end,
    window: { start, end },
    symbols: symbols.map((symbol) =>
      symbolView(symbol, bySymbol.get(symbol) ?? [], icons, tradesBySymbol.get(symbol) ?? 0),
    ),
    newest_bar: newestStart
      ? { start: newestStart, age_seconds: Math.round((now - Date.parse(newestStart)) / 1000) }
      : null,
    trading: tradingView(trades),
  }
}
