/**
 * refresh-assets: once a day, the CoinAPI icon of each configured asset (the bases and quote
 * currencies of the traded symbols by default), to the compacted `crypto.assets` keyed by
 * asset_id, so the topic always holds the latest icon of every asset.
 *
 * - Idempotent: `event_id` is `coinapi:{asset_id}:{fetch date}` with the date of the scheduled
 *   run, so a double-fired or retried schedule re-emits the same ids (and compaction keeps one
 *   record per asset anyway).
 * - Nothing invalid is emitted: an entry for a wanted asset without a usable icon URL, or a
 *   second entry for the same asset, is quarantined; a wanted asset CoinAPI does not list is
 *   logged and counted (`AssetsMissing`). Entries for other assets are not ours and are skipped.
 * - CoinAPI failures end the run with a {@link CoinApiError} that says what to fix.
 */

import {
  type AssetEvent,
  AssetEventSchema,
  assetEventId,
  SCHEMA_VERSION,
  TOPICS,
} from '../shared/contracts.ts'
import type { Counter, EventProducer, FetchIcons, OutgoingRecord, Rejection } from '../shared/ports.ts'
import { isoSeconds } from '../shared/time.ts'

/** `['BTC/USD', 'LTC/USD']` -> `['BTC', 'LTC', 'USD']`: every base, then every quote currency. */
export function assetsOfSymbols(symbols: string[]): string[] {
  const bases = symbols.map((symbol) => symbol.split('/')[0] ?? '')
  const quotes = symbols.map((symbol) => symbol.split('/')[1] ?? '')
  return [...new Set([...bases, ...quotes].filter((asset) => asset !== ''))]
}

function httpUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:' ? value : undefined
  } catch {
    return undefined
  }
}

export interface SelectedIcons {
  events: AssetEvent[]
  rejections: Rejection[]
  /** Wanted assets with no usable entry. */
  missing: string[]
  /** Entries whose asset could not be read (no `asset_id`): not attributable to any asset. */
  unidentified: number
}

/**
 * Keeps the entries of the wanted assets, each checked: a string asset_id, an http(s) URL, one
 * entry per asset (the first usable one wins). Other assets are skipped: CoinAPI lists
 * thousands and we asked for all of them because the endpoint cannot filter.
 */
export function selectAssetIcons(
  entries: unknown[],
  params: { assets: string[]; iconSize: number; fetchDate: string; fetchedAt: string },
): SelectedIcons {
  const wanted = new Set(params.assets)
  const byAsset = new Map<string, AssetEvent>()
  const rejections: Rejection[] = []
  let unidentified = 0
  const reject = (assetId: string, entry: unknown, detail: string) =>
    rejections.push({
      reason: 'upstream_malformed',
      detail,
      topic: TOPICS.assets,
      key: assetId,
      value: JSON.stringify(entry) ?? null,
    })
  for (const entry of entries) {
    const assetId =
      entry !== null &&
      typeof entry === 'object' &&
      typeof (entry as { asset_id?: unknown }).asset_id === 'string'
        ? ((entry as { asset_id: string }).asset_id as string)
        : undefined
    if (assetId === undefined) {
      unidentified++
      continue
    }
    if (!wanted.has(assetId)) continue
    const url = httpUrl((entry as { url?: unknown }).url)
    if (url === undefined) {
      reject(
        assetId,
        entry,
        `icon of ${assetId} has no usable URL: ${JSON.stringify((entry as { url?: unknown }).url) ?? 'missing'}`,
      )
      continue
    }
    if (byAsset.has(assetId)) {
      reject(assetId, entry, `a second icon entry for ${assetId}: the first one is kept`)
      continue
    }
    const candidate: AssetEvent = {
      schema_version: SCHEMA_VERSION,
      event_id: assetEventId(assetId, params.fetchDate),
      source: 'coinapi',
      asset_id: assetId,
      icon_url: url,
      icon_size: params.iconSize,
      fetch_date: params.fetchDate,
      fetched_at: params.fetchedAt,
    }
    const parsed = AssetEventSchema.safeParse(candidate)
    if (!parsed.success) {
      const detail = parsed.error.issues
        .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
        .join('; ')
      reject(assetId, entry, `icon of ${assetId} violates the asset contract: ${detail}`)
      continue
    }
    byAsset.set(assetId, parsed.data)
  }
  const events = params.assets.flatMap((asset) => {
    const event = byAsset.get(asset)
    return event ? [event] : []
  })
  return { events, rejections, missing: params.assets.filter((asset) => !byAsset.has(asset)), unidentified }
}

export interface RefreshAssetsSummary {
  fetchDate: string
  listed: number
  emitted: number
  quarantined: number
  missing: string[]
  unidentified: number
}

export interface RefreshAssetsDeps {
  fetchIcons: FetchIcons
  producer: EventProducer
  quarantine: (rejections: Rejection[]) => Promise<unknown>
  counter: Counter
  clock: () => Date
  log?: (message: string, fields: Record<string, unknown>) => void
  config: { assets: string[]; iconSize: number }
}

export interface RefreshAssetsInput {
  /** The scheduled time of the invocation: its UTC date is the fetch date of the ids. */
  scheduledAt: Date
  deadline?: number
}

/** One daily refresh. See the module comment for the guarantees. */
export async function refreshAssets(
  input: RefreshAssetsInput,
  deps: RefreshAssetsDeps,
): Promise<RefreshAssetsSummary> {
  const log = deps.log ?? (() => undefined)
  const fetched = await deps.fetchIcons(deps.config.iconSize, {
    deadline: input.deadline ?? Number.POSITIVE_INFINITY,
  })
  const malformed: Rejection[] = fetched.malformed.map((body) => ({
    reason: 'malformed_json' as const,
    detail: body.detail,
    topic: TOPICS.assets,
    key: null,
    value: body.body,
  }))
  if (fetched.error !== undefined) {
    if (malformed.length > 0) await deps.quarantine(malformed)
    deps.counter.count('AssetRefreshFailures', 1, { Kind: fetched.error.kind })
    throw fetched.error
  }
  const fetchDate = isoSeconds(input.scheduledAt).slice(0, 10)
  const selected = selectAssetIcons(fetched.icons, {
    assets: deps.config.assets,
    iconSize: deps.config.iconSize,
    fetchDate,
    fetchedAt: isoSeconds(deps.clock()),
  })
  const rejections = [...malformed, ...selected.rejections]
  if (rejections.length > 0) await deps.quarantine(rejections)
  if (selected.missing.length > 0) {
    deps.counter.count('AssetsMissing', selected.missing.length)
    log('CoinAPI lists no usable icon for some assets', {
      missing: selected.missing,
      size: deps.config.iconSize,
    })
  }
  if (selected.unidentified > 0)
    log('icon entries without an asset_id skipped', { count: selected.unidentified })
  const records: OutgoingRecord[] = selected.events.map((event) => ({
    topic: TOPICS.assets,
    key: event.asset_id,
    value: JSON.stringify(event),
  }))
  await deps.producer.send(records)
  deps.counter.count('AssetsEmitted', records.length)
  return {
    fetchDate,
    listed: fetched.icons.length,
    emitted: records.length,
    quarantined: rejections.length,
    missing: selected.missing,
    unidentified: selected.unidentified,
  }
}
