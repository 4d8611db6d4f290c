/**
 * poll-bars Lambda: wiring only (config, adapters, middy). The logic is in core.ts.
 * Scheduled at the start of every minute by EventBridge (`cron(* * * * ? *)`); the core then
 * waits until POLL_AT_SECOND past it. Locally the scheduler sends the same event shape.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import * as z from 'zod'
import { createKafkaProducer } from '../shared/adapters/kafka.ts'
import { fileObjectStore } from '../shared/adapters/object-store.ts'
import { alpacaConnection } from '../shared/alpaca-connection.ts'
import { AlpacaEnv, HttpEnv, KafkaEnv, loadConfig, positiveInt, SymbolsEnv } from '../shared/config.ts'
import { logger, metrics, powertoolsCounter } from '../shared/observability.ts'
import { quarantineInto } from '../shared/quarantine.ts'
import { scheduledRun } from '../shared/scheduled.ts'
import { ObjectStoreEnv, rawStore, StateStoreEnv, stateStore, stateStoreRequired } from '../shared/stores.ts'
import { createAlpacaClient, isRequestRejected } from './alpaca.ts'
import { DEFAULT_SETTLE_WINDOW_MINUTES, pollBars } from './core.ts'
import { objectWatermarkStore, WATERMARK_KEY } from './watermark.ts'

export const STAGE = 'poll-bars'
/** Kept free at the end of the Lambda timeout for flushing metrics and logs. */
const DEADLINE_MARGIN_MS = 3_000

export const PollBarsEnv = z
  .object({
    ...AlpacaEnv,
    ...SymbolsEnv,
    BACKFILL_MAX_MINUTES: positiveInt.default(1440),
    INITIAL_LOOKBACK_MINUTES: positiveInt.default(5),
    /** Closed minutes re-read on every poll for recalculated bars (see core.ts); 0 turns revisions off. */
    SETTLE_WINDOW_MINUTES: z.coerce.number().int().min(0).max(60).default(DEFAULT_SETTLE_WINDOW_MINUTES),
    /** Second of the scheduled minute the poll waits for: Alpaca publishes a bar ~1-3 s after its minute. */
    POLL_AT_SECOND: z.coerce.number().int().min(0).max(30).default(3),
    ...HttpEnv({ timeoutMs: 10_000, retries: 4 }),
    ...KafkaEnv,
    ...ObjectStoreEnv,
    ...StateStoreEnv,
  })
  .refine(...stateStoreRequired('the watermark'))
  .refine((env) => env.RAW_DIR !== undefined || env.RAW_BUCKET !== undefined || env.STATE_DIR !== undefined, {
    message: 'set RAW_BUCKET (AWS) or RAW_DIR / STATE_DIR (local) for the quarantine',
    path: ['RAW_BUCKET'],
  })
export type PollBarsEnv = z.infer<typeof PollBarsEnv>

const config = loadConfig(PollBarsEnv)

const producer = createKafkaProducer(config, 'poll-bars')
// The S3 client module loads on the first watermark read, not at init (object-store.ts).
const watermarks = objectWatermarkStore(stateStore(config), WATERMARK_KEY)
// The quarantine lives in the raw zone like every stage's; locally STATE_DIR alone also works.
const objects =
  config.RAW_BUCKET !== undefined || config.RAW_DIR !== undefined
    ? rawStore(config)
    : fileObjectStore(config.STATE_DIR as string)

const run = scheduledRun(
  STAGE,
  { marginMs: DEADLINE_MARGIN_MS, done: 'bars polled' },
  async ({ scheduledAt, deadline }) => {
    const client = createAlpacaClient(await alpacaConnection(config, 'retrying Alpaca request'))
    return pollBars(
      { scheduledAt, deadline },
      {
        fetchBars: client.fetchBars,
        producer,
        watermarks,
        quarantine: quarantineInto(objects, STAGE),
        counter: powertoolsCounter,
        clock: () => new Date(),
        isRequestRejected,
        log: (message, fields) => logger.warn(message, fields),
        config: {
          symbols: config.SYMBOLS,
          backfillMaxMinutes: config.BACKFILL_MAX_MINUTES,
          initialLookbackMinutes: config.INITIAL_LOOKBACK_MINUTES,
          settleWindowMinutes: config.SETTLE_WINDOW_MINUTES,
          pollAtSecond: config.POLL_AT_SECOND,
        },
      },
    )
  },
)

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
