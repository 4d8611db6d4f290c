/**
 * poll-bars Lambda: wiring only (config, adapters, middy). The logic is in core.ts.
 * Scheduled every minute by EventBridge; locally by the scheduler with the same event shape.
 */
import { join } from 'node:path'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import { S3Client } from '@aws-sdk/client-s3'
import middy from '@middy/core'
import { z } from 'zod'
import { csv, KafkaEnv, loadConfig, positiveInt } from '../shared/config.ts'
import { CryptoSymbol } from '../shared/contracts.ts'
import { createKafkaProducer } from '../shared/kafka.ts'
import { fileObjectStore } from '../shared/object-store.ts'
import { logger, metrics, powertoolsCounter } from '../shared/observability.ts'
import { quarantine } from '../shared/quarantine.ts'
import { readSecret } from '../shared/secrets.ts'
import { ObjectStoreEnv, rawStore } from '../shared/stores.ts'
import { type AlpacaKeys, createAlpacaClient, DEFAULT_ALPACA_DATA_URL, isRequestRejected } from './alpaca.ts'
import { type PollBarsSummary, pollBars } from './core.ts'
import { fileWatermarkStore, s3WatermarkStore, WATERMARK_KEY } from './watermark.ts'

export const STAGE = 'poll-bars'
/** Kept free at the end of the Lambda timeout for flushing metrics and logs. */
const DEADLINE_MARGIN_MS = 3_000

const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional())

export const PollBarsEnv = z
  .object({
    ALPACA_DATA_URL: z.url().default(DEFAULT_ALPACA_DATA_URL),
    ALPACA_LOCATION: z
      .string()
      .regex(/^[a-z]{2}(-\d+)?$/, 'an Alpaca crypto location such as us, us-1, eu-1')
      .default('us'),
    SYMBOLS: z
      .string()
      .default('BTC/USD,LTC/USD')
      .pipe(csv)
      .pipe(z.array(CryptoSymbol).min(1, 'at least one symbol'))
      .transform((symbols) => [...new Set(symbols)]),
    BACKFILL_MAX_MINUTES: positiveInt.default(1440),
    INITIAL_LOOKBACK_MINUTES: positiveInt.default(5),
    HTTP_TIMEOUT_MS: positiveInt.default(10_000),
    HTTP_RETRIES: z.coerce.number().int().min(0).max(10).default(4),
    /** Secrets Manager secret `{"keyId","secretKey"}`; optional (higher rate limit). */
    ALPACA_SECRET_ARN: optional(z.string().min(1)),
    ...KafkaEnv,
    ...ObjectStoreEnv,
    /** Local: the directory standing in for the state bucket (watermark file). */
    STATE_DIR: optional(z.string().min(1)),
    /** AWS: the bucket holding the watermark object. */
    STATE_BUCKET: optional(z.string().min(1)),
  })
  .refine((env) => env.STATE_DIR !== undefined || env.STATE_BUCKET !== undefined, {
    message: 'set STATE_DIR (local) or STATE_BUCKET (AWS) for the watermark',
    path: ['STATE_DIR'],
  })
  .refine((env) => env.RAW_DIR !== undefined || env.RAW_BUCKET !== undefined || env.STATE_DIR !== undefined, {
    message: 'set RAW_BUCKET (AWS) or RAW_DIR / STATE_DIR (local) for the quarantine',
    path: ['RAW_BUCKET'],
  })
export type PollBarsEnv = z.infer<typeof PollBarsEnv>

/** The secret is created with empty values; until an operator fills them in, poll without keys. */
const AlpacaSecret = z.object({ keyId: z.string(), secretKey: z.string() })

/** The EventBridge scheduled event; only `time` is used. */
const ScheduledEvent = z.looseObject({ time: z.iso.datetime({ offset: true }).optional() })

const config = loadConfig(PollBarsEnv)

const producer = createKafkaProducer(config, 'poll-bars')
const watermarks =
  config.STATE_BUCKET !== undefined
    ? s3WatermarkStore(new S3Client({}), config.STATE_BUCKET, WATERMARK_KEY)
    : fileWatermarkStore(join(config.STATE_DIR as string, WATERMARK_KEY))
// The quarantine lives in the raw zone like every stage's; locally STATE_DIR alone also works.
const objects =
  config.RAW_BUCKET !== undefined || config.RAW_DIR !== undefined
    ? rawStore(config)
    : fileObjectStore(config.STATE_DIR as string)

/** Optional keys, read once per container (a failed read is retried on the next invocation). */
async function alpacaKeys(): Promise<AlpacaKeys | undefined> {
  if (config.ALPACA_SECRET_ARN === undefined) return undefined
  const text = await readSecret({ arn: config.ALPACA_SECRET_ARN }, 'Alpaca API keys')
  const keys = AlpacaSecret.parse(JSON.parse(text))
  return keys.keyId && keys.secretKey ? keys : undefined
}

interface LambdaContextLike {
  getRemainingTimeInMillis(): number
}

async function run(event: unknown, context: LambdaContextLike): Promise<PollBarsSummary> {
  const startedAt = Date.now()
  const deadline = startedAt + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS
  const parsed = ScheduledEvent.safeParse(event)
  const time = parsed.success ? parsed.data.time : undefined
  if (time === undefined) logger.warn('no scheduled time in the event: using the clock', { event })
  const client = createAlpacaClient({
    baseUrl: config.ALPACA_DATA_URL,
    location: config.ALPACA_LOCATION,
    timeoutMs: config.HTTP_TIMEOUT_MS,
    retries: config.HTTP_RETRIES,
    keys: await alpacaKeys(),
    onRetry: ({ error, attempt, delayMs }) =>
      logger.warn('retrying Alpaca request', {
        attempt,
        delayMs,
        error: error instanceof Error ? error.message : String(error),
      }),
  })
  const summary = await pollBars(
    { scheduledAt: time === undefined ? new Date(startedAt) : new Date(time), deadline },
    {
      fetchBars: client.fetchBars,
      producer,
      watermarks,
      quarantine: (rejections) => quarantine(objects, STAGE, rejections, new Date(), powertoolsCounter),
      counter: powertoolsCounter,
      clock: () => new Date(),
      isRequestRejected,
      log: (message, fields) => logger.warn(message, fields),
      config: {
        symbols: config.SYMBOLS,
        backfillMaxMinutes: config.BACKFILL_MAX_MINUTES,
        initialLookbackMinutes: config.INITIAL_LOOKBACK_MINUTES,
      },
    },
  ).catch((error: unknown) => {
    logger.error('poll-bars failed', { error, summary: (error as { summary?: unknown }).summary })
    throw error
  })
  logger.info('bars polled', { ...summary })
  return summary
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
