/** The environment of refresh-assets, parsed once at cold start (handler.ts). */
import * as z from 'zod'
import { csv, HttpEnv, KafkaEnv, optional, positiveInt, SymbolsEnv } from '../shared/config.ts'
import { ObjectStoreEnv } from '../shared/stores.ts'
import { DEFAULT_COINAPI_URL } from './coinapi.ts'
import { assetsOfSymbols } from './core.ts'

const AssetId = z.string().regex(/^[A-Z0-9]{2,12}$/, 'asset ids look like BTC')

export const RefreshAssetsEnv = z
  .object({
    ...SymbolsEnv,
    /** Default: the bases and quote currencies of SYMBOLS (BTC, LTC, USD). */
    ASSETS: optional(csv.pipe(z.array(AssetId).min(1, 'at least one asset'))),
    ICON_SIZE: positiveInt.max(4096).default(32),
    /** Any CoinAPI-compatible server; the code appends `/v1/...`. */
    COINAPI_URL: z.url().default(DEFAULT_COINAPI_URL),
    /** Local runs and tests: the key itself. */
    COINAPI_KEY: optional(z.string().min(1)),
    /** AWS: Secrets Manager secret `{"apiKey": "..."}`. */
    COINAPI_SECRET_ARN: optional(z.string().min(1)),
    ...HttpEnv({ timeoutMs: 15_000, retries: 3 }),
    ...KafkaEnv,
    ...ObjectStoreEnv,
  })
  .refine((env) => env.COINAPI_KEY !== undefined || env.COINAPI_SECRET_ARN !== undefined, {
    message: 'set COINAPI_KEY (local) or COINAPI_SECRET_ARN (AWS)',
    path: ['COINAPI_KEY'],
  })
  .refine((env) => env.RAW_BUCKET !== undefined || env.RAW_DIR !== undefined, {
    message: 'set RAW_BUCKET (AWS) or RAW_DIR (local) for the quarantine',
    path: ['RAW_BUCKET'],
  })
  .transform((env) => ({
    ...env,
    ASSETS: env.ASSETS ? [...new Set(env.ASSETS)] : assetsOfSymbols(env.SYMBOLS),
  }))
export type RefreshAssetsEnv = z.infer<typeof RefreshAssetsEnv>
