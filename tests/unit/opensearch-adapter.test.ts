/** The OpenSearch adapter's bulk requests: the actions it sends and the item results it reads back. */
import type { Client } from '@opensearch-project/opensearch'
import { describe, expect, it } from 'vitest'
import { openSearchIndex } from '../../functions/shared/adapters/opensearch.ts'

describe('openSearchIndex bulk actions', () => {
  it('sends a versioned document with version_type external, the others without a version', async () => {
    const bodies: unknown[][] = []
    const filters: unknown[] = []
    const client = {
      async bulk({ body, filter_path }: { body: unknown[]; filter_path?: string }) {
        bodies.push(body)
        filters.push(filter_path)
        return { body: { items: [{ index: { status: 201 } }, { index: { status: 201 } }] } }
      },
    } as unknown as Client
    await openSearchIndex(client).bulkIndex([
      { index: 'crypto-bars-2026.11', id: 'alpaca:BTC/USD:2026-11-30T10:00:00Z', doc: { a: 1 }, version: 7 },
      { index: 'crypto-assets', id: 'LTC', doc: { b: 2 } },
    ])
    expect(bodies).toEqual([
      [
        {
          index: {
            _index: 'crypto-bars-2026.11',
            _id: 'alpaca:BTC/USD:2026-11-30T10:00:00Z',
            version: 7,
            version_type: 'external',
          },
        },
        { a: 1 },
        { index: { _index: 'crypto-assets', _id: 'LTC' } },
        { b: 2 },
      ],
    ])
    // The response carries only what the item checks read.
    expect(filters).toEqual(['items.*.status,items.*.error.type,items.*.error.reason'])
  })

  it('passes a version conflict through as the item result', async () => {
    const client = {
      async bulk() {
        return {
          body: {
            items: [
              {
                index: {
                  status: 409,
                  error: {
                    type: 'version_conflict_engine_exception',
                    reason: 'current version [2] is higher',
                  },
                },
              },
            ],
          },
        }
      },
    } as unknown as Client
    expect(await openSearchIndex(client).bulkIndex([{ index: 'i', id: 'x', doc: {}, version: 1 }])).toEqual([
      {
        status: 409,
        error: { type: 'version_conflict_engine_exception', reason: 'current version [2] is higher' },
      },
    ])
  })
})
