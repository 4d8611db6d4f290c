/**
 * index-events' bulk requests: several at once while the batch is still decoded, results paired
 * with their items, two writes of one document never reordered, a failed or late request failing
 * only its own items as retryable.
 */
import { describe, expect, it } from 'vitest'
import { bulkPipeline, slicesOf } from '../../functions/index-events/bulk-pipeline.ts'
import { indexEvents } from '../../functions/index-events/core.ts'
import type { BulkDoc, BulkItemResult, SearchIndex } from '../../functions/shared/ports.ts'
import { asset, bar } from '../helpers/events.ts'
import { recordingCounter, recordingIndex } from '../helpers/fakes.ts'
import { mskEvent, mskRecord } from '../helpers/msk.ts'

const item = (id: string, index = 'crypto-trades-2026.12') => ({ doc: { index, id, doc: {} } as BulkDoc })

/** A SearchIndex whose requests finish only when the test says so, in any order. */
function heldIndex() {
  const requests: Array<{
    ids: string[]
    finish: (results?: BulkItemResult[]) => void
    fail: (e: Error) => void
  }> = []
  let inFlight = 0
  let maxInFlight = 0
  const index: SearchIndex = {
    bulkIndex: (docs) =>
      new Promise((resolve, reject) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        const done = () => inFlight--
        requests.push({
          ids: docs.map((d) => d.id),
          finish: (results) => {
            done()
            resolve(results ?? docs.map(() => ({ status: 201 })))
          },
          fail: (error) => {
            done()
            reject(error)
          },
        })
      }),
  }
  return { index, requests, maxInFlight: () => maxInFlight }
}

const turn = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('bulkPipeline', () => {
  it('keeps at most requestsInFlight requests under way and pairs every result with its item', async () => {
    const held = heldIndex()
    const pipeline = bulkPipeline(held.index, { docsPerRequest: 2, requestsInFlight: 2 })
    const adding = (async () => {
      for (const slice of slicesOf(
        ['a', 'b', 'c', 'd', 'e'].map((id) => item(id)),
        2,
      ))
        await pipeline.add(slice)
    })()
    await turn()
    expect(held.requests.map((r) => r.ids)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ])
    // The later request answers first; the third starts only when one is done.
    held.requests[1]?.finish([{ status: 201 }, { status: 429 }])
    await turn()
    expect(held.requests.map((r) => r.ids)).toEqual([['a', 'b'], ['c', 'd'], ['e']])
    held.requests[0]?.finish()
    held.requests[2]?.finish()
    await adding
    const sent = await pipeline.done()
    expect(sent.map((s) => [s.items.map((i) => i.doc.id), s.results.map((r) => r.status)])).toEqual([
      [
        ['a', 'b'],
        [201, 201],
      ],
      [
        ['c', 'd'],
        [201, 429],
      ],
      [['e'], [201]],
    ])
    expect(held.maxInFlight()).toBe(2)
  })

  it('holds a request back until the earlier request writing the same document is done', async () => {
    const held = heldIndex()
    const pipeline = bulkPipeline(held.index, { docsPerRequest: 2, requestsInFlight: 4 })
    await pipeline.add([item('LTC', 'crypto-assets'), item('a')])
    await pipeline.add([item('b'), item('c')])
    await pipeline.add([item('LTC', 'crypto-assets'), item('d')])
    await turn()
    // The second write of LTC waits; the unrelated request goes at once.
    expect(held.requests.map((r) => r.ids)).toEqual([
      ['LTC', 'a'],
      ['b', 'c'],
    ])
    held.requests[0]?.finish()
    await turn()
    expect(held.requests.map((r) => r.ids)).toEqual([
      ['LTC', 'a'],
      ['b', 'c'],
      ['LTC', 'd'],
    ])
    held.requests[1]?.finish()
    held.requests[2]?.finish()
    expect((await pipeline.done()).flatMap((s) => s.results.map((r) => r.status))).toEqual([
      201, 201, 201, 201, 201, 201,
    ])
  })

  it('lets two versions of one document go at once: the node keeps the higher whatever the order', async () => {
    const held = heldIndex()
    const pipeline = bulkPipeline(held.index, { docsPerRequest: 1, requestsInFlight: 2 })
    const revision = (version: number) => ({
      doc: { index: 'crypto-bars-2026.12', id: 'b', doc: {}, version },
    })
    await pipeline.add([revision(1)])
    await pipeline.add([revision(2)])
    await turn()
    expect(held.requests).toHaveLength(2)
    for (const request of held.requests) request.finish()
    await pipeline.done()
  })

  it('fails only the items of a request that failed as a whole, as retryable', async () => {
    const held = heldIndex()
    const pipeline = bulkPipeline(held.index, { docsPerRequest: 1, requestsInFlight: 2 })
    await pipeline.add([item('a')])
    await pipeline.add([item('b')])
    await turn()
    held.requests[0]?.fail(new Error('socket hang up'))
    held.requests[1]?.finish()
    expect((await pipeline.done()).map((s) => s.results)).toEqual([
      [{ status: 503, error: { type: 'request_failed', reason: 'Error: socket hang up' } }],
      [{ status: 201 }],
    ])
  })

  it('does not start a request mayStart forbids, and fails its items as retryable', async () => {
    const index = recordingIndex()
    let timeLeft = true
    const pipeline = bulkPipeline(index, { docsPerRequest: 1, requestsInFlight: 1 }, () => timeLeft)
    await pipeline.add([item('a')])
    timeLeft = false
    await pipeline.add([item('b')])
    const sent = await pipeline.done()
    expect(index.calls.map((call) => call.map((d) => d.id))).toEqual([['a']])
    expect(sent[1]?.results[0]).toMatchObject({ status: 503, error: { type: 'request_failed' } })
  })
})

describe('indexEvents over several requests', () => {
  it('sends a large batch as concurrent requests, and an asset fetched twice ends as its later fetch', async () => {
    const stored = new Map<string, unknown>()
    let answered = 0
    // Each request answers later than the one after it: only the ordering rule keeps the later fetch.
    const index: SearchIndex = {
      async bulkIndex(docs) {
        const delay = 40 - answered++ * 10
        await new Promise((resolve) => setTimeout(resolve, Math.max(delay, 0)))
        for (const d of docs) stored.set(d.id, d.doc)
        return docs.map(() => ({ status: 201 }))
      },
    }
    const older = { ...asset('LTC'), icon_url: 'https://icons.example.com/old.png' }
    const newer = { ...asset('LTC'), icon_url: 'https://icons.example.com/new.png' }
    // Slices of 2: [bar, bar] [bar, bar] [bar, older] [newer], all four requests at once.
    const records = [
      ...Array.from({ length: 5 }, (_, i) =>
        mskRecord('crypto.bars', 0, i, bar('BTC/USD', `2026-11-30T10:0${i}:00Z`)),
      ),
      mskRecord('crypto.assets', 0, 0, older),
      mskRecord('crypto.assets', 0, 1, newer),
    ]
    const counter = recordingCounter()
    const response = await indexEvents(mskEvent(records), {
      index,
      piiKey: 'k'.repeat(32),
      counter,
      sleep: async () => {},
      quarantine: async () => {},
      bulkShape: { docsPerRequest: 2, requestsInFlight: 4 },
    })
    expect(response.batchItemFailures).toEqual([])
    expect(counter.total('EventsIndexed')).toBe(7)
    expect((stored.get('LTC') as { icon_url: string }).icon_url).toBe('https://icons.example.com/new.png')
  })

  it('starts no request that cannot return before the deadline, and reports its records', async () => {
    let now = 0
    // Every request takes the client's whole 30 s timeout, one at a time.
    const index = recordingIndex((docs) => {
      now += 30_000
      return docs.map(() => ({ status: 201 }))
    })
    const records = Array.from({ length: 3 }, (_, i) =>
      mskRecord('crypto.bars', 0, i, bar('BTC/USD', `2026-11-30T10:0${i}:00Z`)),
    )
    const counter = recordingCounter()
    const response = await indexEvents(mskEvent(records), {
      index,
      piiKey: 'k'.repeat(32),
      counter,
      sleep: async (ms) => {
        now += ms
      },
      quarantine: async () => {},
      clock: () => now,
      deadline: 70_000,
      requestTimeoutMs: 30_000,
      bulkShape: { docsPerRequest: 1, requestsInFlight: 1 },
    })
    // Requests at 0 s and 30 s; one at 60 s could run to 90 s.
    expect(index.calls).toHaveLength(2)
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'crypto.bars-0', offset: 2 } },
    ])
    expect(counter.total('EventsIndexed')).toBe(2)
    expect(counter.total('RetriesStoppedByDeadline')).toBe(1)
  })
})
