/** The environment of simulate-trades, parsed once at cold start (handler.ts). */
import { z } from 'zod'
import { csv, KafkaEnv, positiveInt } from '../shared/config.ts'
import { CryptoSymbol } from '../shared/contracts.ts'
import { ObjectStoreEnv } from '../shared/stores.ts'
import { MAX_TRADES_PER_MINUTE } from './core.ts'
import { DEFAULT_ALPACA_DATA_URL } from './quotes.ts'

const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional())

export const SimulateTradesEnv = z
  .object({
    SYMBOLS: z
      .string()
      .default('BTC/USD,LTC/USD')
      .pipe(csv)
      .pipe(z.array(CryptoSymbol).min(1, 'at least one symbol'))
      .transform((symbols) => [...new Set(symbols)]),
    TRADES_PER_MINUTE: z.coerce.number().int().min(0).max(MAX_TRADES_PER_MINUTE).default(20),
    POPULATION_SIZE: positiveInt.max(999_999).default(500),
    POPULATION_SEED: z.string().min(1).default('crypto-lake'),
    QUOTE_MAX_AGE_SECONDS: positiveInt.default(120),
    ALPACA_DATA_URL: z.url().default(DEFAULT_ALPACA_DATA_URL),
    ALPACA_LOCATION: z
      .string()
      .regex(/^[a-z]{2}(-\d+)?$/, 'an Alpaca crypto location such as us, us-1, eu-1')
      .default('us'),
    /** Secrets Manager secret `{"keyId","secretKey"}`; optional (higher rate limit). */
    ALPACA_SECRET_ARN: optional(z.string().min(1)),
    HTTP_TIMEOUT_MS: positiveInt.default(5_000),
    HTTP_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
    ...KafkaEnv,
    ...ObjectStoreEnv,
  })
  .refine((env) => env.RAW_BUCKET !== undefined || env.RAW_DIR !== undefined, {
    message: 'set RAW_BUCKET (AWS) or RAW_DIR (local) for the quarantine',
    path: ['RAW_BUCKET'],
  })
export type SimulateTradesEnv = z.infer<typeof SimulateTradesEnv>
