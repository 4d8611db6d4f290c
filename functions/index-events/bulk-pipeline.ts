/**
 * The `_bulk` requests of one attempt at a batch. Sending one request for the whole batch after
 * decoding all of it leaves the node idle while this process decodes and builds the body, and
 * this process idle while the node indexes. Here the batch goes out as requests of about
 * `docsPerRequest` documents, up to `requestsInFlight` at once, each sent as soon as its
 * documents are built, so decoding the next slice overlaps the node indexing the last one.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import { type BulkDoc, type BulkItemResult, requestFailed, type SearchIndex } from '../shared/ports.ts'

export interface BulkShape {
  docsPerRequest: number
  requestsInFlight: number
}

/**
 * Measured on one local node (bench/index-events.ts tries these shapes for the plain-bulk
 * baseline each run): 4 x 1,000 and 4 x 2,500 lead, well ahead of one 10,000-document request.
 * The smaller requests start sooner, which is what overlapping the decode needs.
 */
export const BULK_SHAPE: BulkShape = { docsPerRequest: 1_000, requestsInFlight: 4 }

/** The items of one request and their results, in the same order. */
export interface Sent<T> {
  items: T[]
  results: BulkItemResult[]
}

/**
 * `add` sends one request once fewer than `requestsInFlight` are under way, and returns after
 * the event loop has had a turn to put it on the wire; `done` waits for every request. A request
 * holding a document without a version waits for the earlier request that wrote a document of
 * the same id, so concurrency never reorders two writes of one document: an asset fetched twice
 * in a batch ends as its later fetch. (A versioned document needs no wait: the node keeps the
 * highest version whatever the order. The same id in another index waits needlessly, and
 * harmlessly.) A request that fails as a whole, or that `mayStart` forbids (no time left for
 * it), fails its items as retryable.
 */
export function bulkPipeline<T extends { doc: BulkDoc }>(
  index: SearchIndex,
  shape: BulkShape,
  mayStart: () => boolean = () => true,
) {
  const running = new Set<Promise<unknown>>()
  const lastWrite = new Map<string, Promise<unknown>>()
  const requests: Array<Promise<Sent<T>>> = []

  async function send(items: T[], earlier: Array<Promise<unknown>>): Promise<BulkItemResult[]> {
    await Promise.all(earlier)
    if (!mayStart()) return items.map(() => requestFailed('not sent: no time left before the deadline'))
    try {
      return await index.bulkIndex(items.map((item) => item.doc))
    } catch (error) {
      return items.map(() => requestFailed(error))
    }
  }

  return {
    async add(items: T[]): Promise<void> {
      if (items.length === 0) return
      while (running.size >= shape.requestsInFlight) await Promise.race(running)
      const earlier = new Set<Promise<unknown>>()
      for (const { doc } of items) {
        const write = doc.version === undefined ? lastWrite.get(doc.id) : undefined
        if (write) earlier.add(write)
      }
      const request = send(items, [...earlier]).then((results) => ({ items, results }))
      const settled = request.finally(() => running.delete(settled))
      running.add(settled)
      requests.push(request)
      for (const { doc } of items) if (doc.version === undefined) lastWrite.set(doc.id, settled)
      await nextTurn()
    },
    done: (): Promise<Array<Sent<T>>> => Promise.all(requests),
  }
}

/** `items` in runs of `size`, in order. */
export function slicesOf<T>(items: readonly T[], size: number): T[][] {
  const slices: T[][] = []
  for (let at = 0; at < items.length; at += size) slices.push(items.slice(at, at + size))
  return slices
}
