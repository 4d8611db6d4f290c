/**
 * The progress of a backfill: one small JSON object per done chunk, keyed by the chunk's id
 * (symbols and window), in the state bucket on AWS and under STATE_DIR locally. It outlives the
 * execution on purpose: a stopped execution restarted, or the same window run again, skips every
 * chunk that has one. Written once, with the object store's conditional put (only if absent): two
 * executions racing on one chunk both produced the same ids, and the first record stands.
 */
import * as z from 'zod'
import { CryptoSymbol, IsoSeconds } from '../shared/contracts.ts'
import type { ObjectStore } from '../shared/ports.ts'

export const PROGRESS_PREFIX = 'state/backfill-bars/chunks/'

export const ChunkProgressSchema = z.object({
  chunk: z.object({
    id: z.string().min(1),
    symbols: z.array(CryptoSymbol).min(1),
    start: IsoSeconds,
    end: IsoSeconds,
  }),
  emitted: z.int().min(0),
  rejected: z.int().min(0),
  /** Landing marker key of each event-time hour the chunk produced into -> when its last send began. */
  sent: z.record(z.string(), IsoSeconds),
  done_at: IsoSeconds,
})
export type ChunkProgress = z.infer<typeof ChunkProgressSchema>

export interface ProgressStore {
  /** The progress of a done chunk, or undefined when it is not done. */
  load(chunkId: string): Promise<ChunkProgress | undefined>
  save(progress: ChunkProgress): Promise<void>
}

export function objectProgressStore(objects: ObjectStore): ProgressStore {
  const keyOf = (chunkId: string) => `${PROGRESS_PREFIX}${chunkId}.json`
  return {
    async load(chunkId) {
      const body = await objects.get(keyOf(chunkId))
      if (body === undefined) return undefined
      const parsed = ChunkProgressSchema.safeParse(JSON.parse(new TextDecoder().decode(body)))
      // A corrupt record must stop the backfill, not make it skip or silently redo a chunk.
      if (!parsed.success)
        throw new Error(`invalid progress object ${keyOf(chunkId)}: ${parsed.error.message}`)
      return parsed.data
    },
    async save(progress) {
      await objects.putIfVersion(
        keyOf(progress.chunk.id),
        `${JSON.stringify(progress, null, 2)}\n`,
        undefined,
        {
          contentType: 'application/json',
        },
      )
    },
  }
}
