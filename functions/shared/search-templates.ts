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
            // Also the document's external version: the highest revision is the one indexed.
            revision: { type: 'long' as const },
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

/**
 * PUTs every template, then its field mappings on the indices that already match it; idempotent (a
 * PUT replaces the template with the same content, re-putting a mapping changes nothing). A
 * template only applies to indices created after it, and the mappings are strict: without the
 * second PUT a field added to the contract (bars' `revision`) would be rejected by this month's
 * index until the next one. A field whose type changed fails here, loudly, instead.
 */
export async function applyIndexTemplates(client: Client, replicas: number): Promise<string[]> {
  const names: string[] = []
  for (const [name, body] of Object.entries(indexTemplates(replicas))) {
    await client.indices.putIndexTemplate({ name, body })
    await client.indices.putMapping({
      index: body.index_patterns.join(','),
      allow_no_indices: true,
      ignore_unavailable: true,
      body: { properties: body.template.mappings.properties },
    })
    names.push(name)
  }
  return names
}

/** How long the live indices keep a month: the lake keeps everything, OpenSearch is for recent data. */
export const RETENTION_DAYS = { [BARS_ALIAS]: 180, [TRADES_ALIAS]: 90 } as const

/**
 * ISM policies: each monthly index is deleted once it is older than its retention. Applied to new
 * indices by `ism_template`; the monthly index is created at the first event of its month, so its
 * age is the age of the month it holds. `crypto-assets` is one small index and never expires.
 */
export function ismPolicies() {
  return Object.fromEntries(
    Object.entries(RETENTION_DAYS).map(([alias, days]) => [
      `${alias}-retention`,
      {
        policy: {
          description: `Delete ${alias}-YYYY.MM indices ${days} days after they were created`,
          default_state: 'hot',
          states: [
            {
              name: 'hot',
              actions: [],
              transitions: [{ state_name: 'delete', conditions: { min_index_age: `${days}d` } }],
            },
            { name: 'delete', actions: [{ delete: {} }], transitions: [] },
          ],
          ism_template: [{ index_patterns: [`${alias}-*`], priority: 100 }],
        },
      },
    ]),
  )
}

export type IsmOutcome = 'created' | 'updated' | 'unchanged'

export interface SearchConfigResult {
  templates: string[]
  aliases: string[]
  /** Per policy what was done, or `unavailable` when the node has no ISM plugin. */
  ism: Record<string, IsmOutcome> | 'unavailable'
}

interface IsmPolicyDoc {
  _seq_no: number
  _primary_term: number
  policy: unknown
}

/**
 * True when `actual` holds everything `expected` sets. The node adds to a stored policy (ids,
 * timestamps, default `retry` settings of each action): those are not differences.
 */
export function coversPolicy(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((item, i) => coversPolicy(actual[i], item))
    )
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false
    return Object.entries(expected).every(([key, value]) =>
      coversPolicy((actual as Record<string, unknown>)[key], value),
    )
  }
  return actual === expected
}

/** True when the node serves the ISM API (Amazon OpenSearch Service does; the minimal local node does not). */
export async function ismAvailable(client: Client): Promise<boolean> {
  try {
    await client.transport.request({
      method: 'GET',
      path: '/_plugins/_ism/policies',
      querystring: { size: 1 },
    })
    return true
  } catch (error) {
    const e = error as { meta?: { statusCode?: number; body?: unknown } }
    const body = JSON.stringify(e.meta?.body ?? '')
    if ((e.meta?.statusCode === 400 || e.meta?.statusCode === 404) && body.includes('no handler found')) {
      return false
    }
    throw error
  }
}

/**
 * Creates or updates each ISM policy; idempotent: an identical policy is left alone, a changed one
 * is replaced with optimistic concurrency (`if_seq_no` / `if_primary_term`).
 */
export async function applyIsmPolicies(client: Client): Promise<Record<string, IsmOutcome>> {
  const outcomes: Record<string, IsmOutcome> = {}
  for (const [id, body] of Object.entries(ismPolicies())) {
    const path = `/_plugins/_ism/policies/${encodeURIComponent(id)}`
    let current: IsmPolicyDoc | undefined
    try {
      current = (await client.transport.request({ method: 'GET', path })).body as IsmPolicyDoc
    } catch (error) {
      if ((error as { meta?: { statusCode?: number } }).meta?.statusCode !== 404) throw error
    }
    if (current === undefined) {
      await client.transport.request({ method: 'PUT', path, body })
      outcomes[id] = 'created'
    } else if (coversPolicy(current.policy, body.policy)) {
      outcomes[id] = 'unchanged'
    } else {
      await client.transport.request({
        method: 'PUT',
        path,
        querystring: { if_seq_no: current._seq_no, if_primary_term: current._primary_term },
        body,
      })
      outcomes[id] = 'updated'
    }
  }
  return outcomes
}

/** Attaches each alias to the monthly indices that already exist (new ones get it from the template). */
export async function applyAliases(client: Client): Promise<string[]> {
  const actions: Array<{ add: { index: string; alias: string } }> = []
  for (const alias of [BARS_ALIAS, TRADES_ALIAS]) {
    const exists = await client.indices.exists({ index: `${alias}-*`, allow_no_indices: false })
    if (exists.body) actions.push({ add: { index: `${alias}-*`, alias } })
  }
  if (actions.length > 0) await client.indices.updateAliases({ body: { actions } })
  return actions.map((action) => action.add.alias)
}

/**
 * Everything the live indices need, applied idempotently at deploy (custom resource) and at local
 * start: index templates, aliases on existing indices, and ISM retention when the node has ISM.
 */
export async function applySearchConfig(
  client: Client,
  options: { replicas: number; log?: (message: string, detail?: Record<string, unknown>) => void },
): Promise<SearchConfigResult> {
  const templates = await applyIndexTemplates(client, options.replicas)
  const aliases = await applyAliases(client)
  let ism: SearchConfigResult['ism'] = 'unavailable'
  if (await ismAvailable(client)) ism = await applyIsmPolicies(client)
  else
    options.log?.(
      'ISM is not available on this OpenSearch node (no index-management plugin): retention policies NOT applied',
    )
  return { templates, aliases, ism }
}
