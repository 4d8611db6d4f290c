/**
 * OpenSearch adapter. Locally a plain HTTP node; on AWS the domain takes SigV4-signed requests
 * from the function's role.
 */
import type { fromNodeProviderChain } from '@aws-sdk/credential-providers'
import { Client } from '@opensearch-project/opensearch'
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws-v3'
import type { BulkDoc, SearchIndex } from '../ports.ts'

export interface OpenSearchConnection {
  OPENSEARCH_URL: string
  OPENSEARCH_AUTH: 'none' | 'sigv4'
  AWS_REGION: string
}

export function createOpenSearchClient(config: OpenSearchConnection): Client {
  const common = { node: config.OPENSEARCH_URL, requestTimeout: 30_000, maxRetries: 0 }
  if (config.OPENSEARCH_AUTH === 'none') return new Client(common)
  // The credential provider chain (STS, SSO, ... clients) is imported when the first request is
  // signed, not at module load: it is a large part of the cold start otherwise.
  let credentials: ReturnType<typeof fromNodeProviderChain> | undefined
  const getCredentials = async () => {
    credentials ??= (await import('@aws-sdk/credential-providers')).fromNodeProviderChain()
    return credentials()
  }
  return new Client({
    ...common,
    ...AwsSigv4Signer({ region: config.AWS_REGION, service: 'es', getCredentials }),
  })
}

/**
 * The `_bulk` body of `docs`: an `index` action per document, with `version` and
 * `version_type: external` when the document has a version.
 */
export function bulkBody(docs: BulkDoc[]): Array<Record<string, unknown>> {
  return docs.flatMap((doc) => [
    {
      index:
        doc.version === undefined
          ? { _index: doc.index, _id: doc.id }
          : { _index: doc.index, _id: doc.id, version: doc.version, version_type: 'external' },
    },
    doc.doc,
  ])
}

/** The `_bulk` response fields index-events reads (`filter_path`). */
export const BULK_RESPONSE_FIELDS = 'items.*.status,items.*.error.type,items.*.error.reason'

interface BulkResponseItem {
  index?: { status: number; error?: { type?: string; reason?: string } }
}

export function openSearchIndex(client: Client): SearchIndex {
  return {
    async bulkIndex(docs) {
      if (docs.length === 0) return []
      // Only what the item checks read: the full answer of a 10,000-document bulk is ~2 MB of JSON
      // (index names, ids, shard counts, sequence numbers per item) that the node serializes and
      // this process parses, for nothing.
      const response = await client.bulk({ body: bulkBody(docs), filter_path: BULK_RESPONSE_FIELDS })
      const items = (response.body.items ?? []) as BulkResponseItem[]
      if (items.length !== docs.length) {
        throw new Error(`bulk response has ${items.length} items for ${docs.length} documents`)
      }
      return items.map((item) => {
        const result = item.index ?? {
          status: 500,
          error: { type: 'missing_item', reason: 'no index result' },
        }
        return result.error
          ? {
              status: result.status,
              error: { type: result.error.type ?? 'unknown', reason: result.error.reason ?? '' },
            }
          : { status: result.status }
      })
    },
  }
}
