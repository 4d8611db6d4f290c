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

import * as z from 'zod'
import {
  type AssetEvent,
  AssetEventSchema,
  assetEventId,
  describeIssues,
  SCHEMA_VERSION,
  TOPICS,
} from '../shared/contracts.ts'
import type { Counter, EventProducer, FetchIcons, Quarantine, Rejection } from '../shared/ports.ts'
import { eventRecord, produceInChunks } from '../shared/produce.ts'
import { malformedBodyRejections } from '../shared/quarantine.ts'
import { isoSeconds } from '../shared/time.ts'

/** `['BTC/USD', 'LTC/USD']` -> `['BTC', 'LTC', 'USD']`: every base, then every quote currency. */
export function assetsOfSymbols(symbols: string[]): string[] {
  const bases = symbols.map((symbol) => symbol.split('/')[0] ?? '')
  const quotes = symbols.map((symbol) => symbol.split('/')[1] ?? '')
  return [...new Set([...bases, ...quotes].filter((asset) => asset !== ''))]
}

/**
 * One entry of CoinAPI's icon listing (`{asset_id, url}`). Only the id is required here: it says
 * whose entry it is, and an entry of an asset we did not ask for is skipped whatever its URL.
 */
const IconEntrySchema = z.object({ asset_id: z.string(), url: z.unknown().optional() })

/** An icon URL a dashboard can load: absolute, http or https. */
const IconUrlSchema = z.url({ protocol: /^https?$/ })

export interface SelectedIcons {
  events: AssetEvent[]
  rejections: Rejection[]
  /** Wanted assets with no usable entry. */
  missing: string[]
  /** Entries whose asset could not be read (no `asset_id`): not attributable to any asset. */
  unidentified: number
}

export interface IconParams {
  assets: string[]
  iconSize: number
  fetchDate: string
  fetchedAt: string
}

/** The asset event of a wanted entry, held to the asset contract. */
function assetEvent(assetId: string, iconUrl: string, params: IconParams) {
  return AssetEventSchema.safeParse({
    schema_version: SCHEMA_VERSION,
    event_id: assetEventId(assetId, params.fetchDate),
    source: 'coinapi',
    asset_id: assetId,
    icon_url: iconUrl,
    icon_size: params.iconSize,
    fetch_date: params.fetchDate,
    fetched_at: params.fetchedAt,
  } satisfies AssetEvent)
}

/**
 * Keeps the entries of the wanted assets, each checked: a string asset_id, an http(s) URL, one
 * entry per asset (the first usable one wins). Other assets are skipped: CoinAPI lists
 * thousands and we asked for all of them because the endpoint cannot filter.
 */
export function selectAssetIcons(entries: unknown[], params: IconParams): SelectedIcons {
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
    const read = IconEntrySchema.safeParse(entry)
    if (!read.success) {
      unidentified++
      continue
    }
    const { asset_id: assetId, url } = read.data
    if (!wanted.has(assetId)) continue
    const iconUrl = IconUrlSchema.safeParse(url)
    if (!iconUrl.success) {
      reject(assetId, entry, `icon of ${assetId} has no usable URL: ${JSON.stringify(url) ?? 'missing'}`)
      continue
    }
    if (byAsset.has(assetId)) {
      reject(assetId, entry, `a second icon entry for ${assetId}: the first one is kept`)
      continue
    }
    const event = assetEvent(assetId, iconUrl.data, params)
    if (event.success) byAsset.set(assetId, event.data)
    else
      reject(assetId, entry, `icon of ${assetId} violates the asset contract: ${describeIssues(event.error)}`)
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
  quarantine: Quarantine
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
  const malformed = malformedBodyRejections(TOPICS.assets, fetched.malformed)
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
  await produceInChunks(deps.producer, selected.events, (event) => eventRecord(TOPICS.assets, event))
  deps.counter.count('AssetsEmitted', selected.events.length)
  return {
    fetchDate,
    listed: fetched.icons.length,
    emitted: selected.events.length,
    quarantined: rejections.length,
    missing: selected.missing,
    unidentified: selected.unidentified,
  }
}
