import type { Client } from '@opensearch-project/opensearch'

/** How many documents each of `ids` has under `alias` (field `field`). */
export async function docCounts(
  search: Client,
  alias: string,
  field: string,
  ids: string[],
): Promise<Record<string, number>> {
  await search.indices.refresh({ index: alias })
  const response = await search.transport.request({
    method: 'POST',
    path: `/${alias}/_search`,
    body: { size: 0, query: { terms: { [field]: ids } }, aggs: { ids: { terms: { field, size: 1000 } } } },
  })
  const buckets = (
    response.body as { aggregations: { ids: { buckets: Array<{ key: string; doc_count: number }> } } }
  ).aggregations.ids.buckets
  return Object.fromEntries(buckets.map((bucket) => [bucket.key, bucket.doc_count]))
}
