/**
 * Where a function's objects go: S3 when a bucket is configured (AWS), a directory otherwise
 * (local runs and tests). Chosen once from config.
 */
import * as z from 'zod'
import { fileObjectStore, type ObjectStore, s3ObjectStore } from './object-store.ts'

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
