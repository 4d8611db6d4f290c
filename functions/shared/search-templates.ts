/**
 * Index templates for the live indices: explicit mappings for every field (strict, so a
 * document that does not fit is rejected and quarantined instead of silently widening the
 * mapping), monthly indices behind one alias per topic, and `crypto-assets` as one document
 * per asset.
 */
import type { Client } from '@opensearch-project/opensearch'

const keyword = { type: 'keyword' } as const
const date = { type: 'date', format: 'strict_date_time_no_millis||strict_date_optional_time' } as const
// Prices stay decimal strings in _source; the numeric mapping is for aggregations and charts.
const price = { type: 'double' } as const

const envelope = { schema_version: { type: 'integer' as const }, event_id: keyword, source: keyword } as const

export const BARS_ALIAS = 'crypto-bars'
export const TRADES_ALIAS = 'crypto-trades'
export const ASSETS_INDEX = 'crypto-assets'

export function indexTemplates(replicas: number) {
  const settings = { number_of_shards: 1, number_of_replicas: replicas, refresh_interval: '1s' }
  return {
    [BARS_ALIAS]: {
      index_patterns: [`${BARS_ALIAS}-*`],
      priority: 100,
      template: {
        settings,
        aliases: { [BARS_ALIAS]: {} },
        mappings: {
          dynamic: 'strict' as const,
          properties: {
            ...envelope,
            symbol: keyword,
            timeframe: keyword,
            start: date,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: price,
            trade_count: { type: 'long' as const },
            vwap: price,
            ingested_at: date,
          },
        },
      },
    },
    [TRADES_ALIAS]: {
      index_patterns: [`${TRADES_ALIAS}-*`],
      priority: 100,
      template: {
        settings,
        aliases: { [TRADES_ALIAS]: {} },
        mappings: {
          dynamic: 'strict' as const,
          properties: {
            ...envelope,
            trade_id: keyword,
            scheduled_at: date,
            executed_at: date,
            user_id: keyword,
            user_name_token: keyword,
            user_email_token: keyword,
            document_id_token: keyword,
            symbol: keyword,
            side: keyword,
            price,
            quantity: price,
            notional: price,
            quote_at: date,
            asset_icon_url: { type: 'keyword' as const, index: false },
          },
        },
      },
    },
    [ASSETS_INDEX]: {
      index_patterns: [ASSETS_INDEX],
      priority: 100,
      template: {
        settings,
        mappings: {
          dynamic: 'strict' as const,
          properties: {
            ...envelope,
            asset_id: keyword,
            icon_url: { type: 'keyword' as const, index: false },
            icon_size: { type: 'integer' as const },
            fetch_date: { type: 'date' as const, format: 'strict_date' },
            fetched_at: date,
          },
        },
      },
    },
  }
}

/** PUTs every template; idempotent (a PUT replaces the template with the same content). */
export async function applyIndexTemplates(client: Client, replicas: number): Promise<string[]> {
  const names: string[] = []
  for (const [name, body] of Object.entries(indexTemplates(replicas))) {
    await client.indices.putIndexTemplate({ name, body })
    names.push(name)
  }
  return names
}
