/** The environment of simulate-trades, parsed once at cold start (handler.ts). */
import * as z from 'zod'
import { AlpacaEnv, HttpEnv, KafkaEnv, positiveInt, SymbolsEnv } from '../shared/config.ts'
import { ObjectStoreEnv } from '../shared/stores.ts'
import { MAX_TRADES_PER_MINUTE } from './plan.ts'

export const SimulateTradesEnv = z
  .object({
    ...SymbolsEnv,
    TRADES_PER_MINUTE: z.coerce.number().int().min(0).max(MAX_TRADES_PER_MINUTE).default(20),
    POPULATION_SIZE: positiveInt.max(999_999).default(500),
    POPULATION_SEED: z.string().min(1).default('crypto-lake'),
    QUOTE_MAX_AGE_SECONDS: positiveInt.default(120),
    ...AlpacaEnv,
    ...HttpEnv({ timeoutMs: 5_000, retries: 3 }),
    ...KafkaEnv,
    ...ObjectStoreEnv,
  })
  .refine((env) => env.RAW_BUCKET !== undefined || env.RAW_DIR !== undefined, {
    message: 'set RAW_BUCKET (AWS) or RAW_DIR (local) for the quarantine',
    path: ['RAW_BUCKET'],
  })
export type SimulateTradesEnv = z.infer<typeof SimulateTradesEnv>
