/**
 * Where a function's objects go: S3 when a bucket is configured (AWS), a directory otherwise
 * (local runs and tests). Chosen once from config.
 */
import * as z from 'zod'
import { fileObjectStore, s3ObjectStore } from './adapters/object-store.ts'
import { optional } from './config.ts'
import type { ObjectStore } from './ports.ts'

export const ObjectStoreEnv = {
  /** S3 bucket of the raw zone (raw objects and quarantine). */
  RAW_BUCKET: z.string().min(3).optional(),
  /** Local directory standing in for the raw bucket. */
  RAW_DIR: z.string().min(1).optional(),
}

export function rawStore(config: {
  RAW_BUCKET?: string | undefined
  RAW_DIR?: string | undefined
}): ObjectStore {
  if (config.RAW_BUCKET) return s3ObjectStore(config.RAW_BUCKET)
  if (config.RAW_DIR) return fileObjectStore(config.RAW_DIR)
  throw new Error('configure RAW_BUCKET (AWS) or RAW_DIR (local)')
}

/** The state bucket (watermarks, backfill progress): S3 on AWS, a directory locally. */
export const StateStoreEnv = {
  /** AWS: the state bucket. */
  STATE_BUCKET: optional(z.string().min(1)),
  /** Local: the directory standing in for the state bucket. */
  STATE_DIR: optional(z.string().min(1)),
}

/** The `.refine` arguments that require one of the two, saying what the state holds. */
export const stateStoreRequired = (
  what: string,
): [
  (env: { STATE_BUCKET?: string | undefined; STATE_DIR?: string | undefined }) => boolean,
  z.core.$ZodCustomParams,
] => [
  (env) => env.STATE_DIR !== undefined || env.STATE_BUCKET !== undefined,
  { message: `set STATE_DIR (local) or STATE_BUCKET (AWS) for ${what}`, path: ['STATE_DIR'] },
]

export function stateStore(config: {
  STATE_BUCKET?: string | undefined
  STATE_DIR?: string | undefined
}): ObjectStore {
  if (config.STATE_BUCKET) return s3ObjectStore(config.STATE_BUCKET)
  if (config.STATE_DIR) return fileObjectStore(config.STATE_DIR)
  throw new Error('configure STATE_BUCKET (AWS) or STATE_DIR (local)')
}
