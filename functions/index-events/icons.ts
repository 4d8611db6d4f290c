/**
 * Asset icons for trades: a trade of `BTC/USD` carries the icon of `BTC`, looked up in the
 * `crypto-assets` index. Icons change at most daily, so each container keeps what it looked up
 * (hits and misses) for a while instead of asking OpenSearch on every batch.
 */
import type { Client } from '@opensearch-project/opensearch'
import { ASSETS_INDEX } from '../shared/search-templates.ts'

/** Where index-events gets icons from. */
export interface IconSource {
  /** The icon URL of each asset that has one; assets without an icon are absent. */
  iconsFor(assetIds: string[]): Promise<Map<string, string>>
  /** An icon seen in the batch itself (a crypto.assets event), fresher than any lookup. */
  remember(assetId: string, iconUrl: string): void
}

/** `BTC/USD` -> `BTC`: the asset whose icon a trade shows. */
export const baseAssetOf = (symbol: string) => symbol.split('/')[0] ?? symbol

/** Reads icon URLs of many assets in one `_mget`; a missing index means no icons yet. */
export function openSearchIconLookup(client: Client) {
  return async (assetIds: string[]): Promise<Map<string, string>> => {
    const icons = new Map<string, string>()
    if (assetIds.length === 0) return icons
    const response = await client.mget(
      { index: ASSETS_INDEX, body: { ids: assetIds }, _source_includes: ['icon_url'] },
      { ignore: [404] },
    )
    const docs = ((response.body as { docs?: unknown[] }).docs ?? []) as Array<{
      _id: string
      found?: boolean
      _source?: { icon_url?: string }
    }>
    for (const doc of docs) if (doc.found && doc._source?.icon_url) icons.set(doc._id, doc._source.icon_url)
    return icons
  }
}

/**
 * An IconSource that asks `lookup` only for assets it has not seen within `ttlMs`. One per
 * container: module scope in the handler.
 */
export function cachedIconSource(
  lookup: (assetIds: string[]) => Promise<Map<string, string>>,
  options: { ttlMs: number; now?: () => number },
): IconSource {
  const now = options.now ?? Date.now
  const cache = new Map<string, { url: string | undefined; at: number }>()
  return {
    async iconsFor(assetIds) {
      const unique = [...new Set(assetIds)]
      const stale = unique.filter((id) => {
        const entry = cache.get(id)
        return entry === undefined || now() - entry.at >= options.ttlMs
      })
      if (stale.length > 0) {
        const found = await lookup(stale)
        const at = now()
        for (const id of stale) cache.set(id, { url: found.get(id), at })
      }
      const icons = new Map<string, string>()
      for (const id of unique) {
        const url = cache.get(id)?.url
        if (url !== undefined) icons.set(id, url)
      }
      return icons
    },
    remember(assetId, iconUrl) {
      cache.set(assetId, { url: iconUrl, at: now() })
    },
  }
}
