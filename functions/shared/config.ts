/**
 * One typed config per function: the environment is parsed once, at cold start, by a zod
 * schema; a bad environment fails listing every missing or malformed key at once.
 */
import * as z from 'zod'
import { CryptoSymbol } from './contracts.ts'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map(
    (issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`,
  )
  throw new ConfigError(`invalid environment:\n${problems.join('\n')}`)
}

/** Comma-separated list, trimmed, empties dropped. */
export const csv = z.string().transform((text) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0),
)

export const positiveInt = z.coerce.number().int().positive()

/** An optional key where empty counts as unset: templates write `KEY: ''` for "not configured". */
export const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional())

/** The pairs a market-data function works on, deduplicated in their given order. */
export const SymbolsEnv = {
  SYMBOLS: z
    .string()
    .default('BTC/USD,LTC/USD')
    .pipe(csv)
    .pipe(z.array(CryptoSymbol).min(1, 'at least one symbol'))
    .transform((symbols) => [...new Set(symbols)]),
}

/** Each function calling an external API has its own defaults: they follow its schedule and deadline. */
export const HttpEnv = (defaults: { timeoutMs: number; retries: number }) => ({
  HTTP_TIMEOUT_MS: positiveInt.default(defaults.timeoutMs),
  HTTP_RETRIES: z.coerce.number().int().min(0).max(10).default(defaults.retries),
})

export const DEFAULT_ALPACA_DATA_URL = 'https://data.alpaca.markets'

export const AlpacaEnv = {
  ALPACA_DATA_URL: z.url().default(DEFAULT_ALPACA_DATA_URL),
  ALPACA_LOCATION: z
    .string()
    .regex(/^[a-z]{2}(-\d+)?$/, 'an Alpaca crypto location such as us, us-1, eu-1')
    .default('us'),
  /** Secrets Manager secret `{"keyId","secretKey"}`; optional (higher rate limit). */
  ALPACA_SECRET_ARN: optional(z.string().min(1)),
}

export const KafkaEnv = {
  KAFKA_BROKERS: csv.pipe(z.array(z.string().min(3)).min(1, 'at least one broker host:port')),
  /** `none` = PLAINTEXT (local broker); `iam` = TLS + SASL/OAUTHBEARER signed for MSK IAM. */
  KAFKA_AUTH: z.enum(['none', 'iam']).default('none'),
  AWS_REGION: z.string().default('us-east-1'),
}

export const OpenSearchEnv = {
  OPENSEARCH_URL: z.url(),
  /** `none` = plain HTTP (local node); `sigv4` = requests signed for Amazon OpenSearch Service. */
  OPENSEARCH_AUTH: z.enum(['none', 'sigv4']).default('none'),
  AWS_REGION: z.string().default('us-east-1'),
}
