import Big from 'big.js'
import type { AssetEvent, BarEvent, TradeEvent } from '../../functions/shared/contracts.ts'

/** A bar's first revision: seen 5 s after its minute closed (as `ingested_at` says). */
export const FIRST_REVISION = Date.parse('2026-11-30T10:01:05Z')

export function bar(symbol: string, start: string, close = '97000.5', revision = FIRST_REVISION): BarEvent {
  return {
    schema_version: 2,
    revision,
    event_id: `alpaca:${symbol}:${start}`,
    source: 'alpaca',
    symbol,
    timeframe: '1Min',
    start,
    open: '96990.1',
    // Widened to hold `close`: the contract requires low <= open, close <= high.
    high: new Big(close).gt('97010') ? close : '97010',
    low: new Big(close).lt('96980.25') ? close : '96980.25',
    close,
    volume: '0.5123',
    trade_count: 12,
    vwap: '96999.9',
    ingested_at: '2026-11-30T10:01:05Z',
  }
}

export function trade(tradeId = '202611301000-0001'): TradeEvent {
  return {
    schema_version: 1,
    event_id: `sim:${tradeId}`,
    source: 'simulator',
    trade_id: tradeId,
    scheduled_at: '2026-11-30T10:00:00Z',
    executed_at: '2026-11-30T10:00:07Z',
    user_id: 'u-000042',
    user_name: 'Maria Souza',
    user_email: 'maria.souza@example.com.br',
    document_id: '52998224725',
    symbol: 'BTC/USD',
    side: 'BUY',
    price: '97001.25',
    quantity: '0.002',
    notional: '194.0025',
    quote_at: '2026-11-30T09:59:58Z',
  }
}

export function asset(assetId = 'BTC'): AssetEvent {
  return {
    schema_version: 1,
    event_id: `coinapi:${assetId}:2026-11-30`,
    source: 'coinapi',
    asset_id: assetId,
    icon_url: `https://icons.example.com/${assetId}.png`,
    icon_size: 32,
    fetch_date: '2026-11-30',
    fetched_at: '2026-11-30T00:00:10Z',
  }
}
