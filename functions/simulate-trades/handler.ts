/**
 * simulate-trades Lambda: wiring only (config, adapters, middy). The logic is in core.ts.
 * Scheduled every minute by EventBridge; locally by the scheduler with the same event shape.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import { z } from 'zod'
import { loadConfig } from '../shared/config.ts'
import { createKafkaProducer } from '../shared/kafka.ts'
import { logger, metrics, powertoolsCounter } from '../shared/observability.ts'
import { quarantine } from '../shared/quarantine.ts'
import { readSecret } from '../shared/secrets.ts'
import { rawStore } from '../shared/stores.ts'
import { SimulateTradesEnv } from './config.ts'
import { type SimulateTradesSummary, simulateTrades } from './core.ts'
import { buildPopulation } from './population.ts'
import { createQuotesClient } from './quotes.ts'

export const STAGE = 'simulate-trades'
/** Kept free at the end of the Lambda timeout for quarantine, producing and flushing metrics. */
const DEADLINE_MARGIN_MS = 8_000

const AlpacaSecret = z.object({ keyId: z.string().min(1), secretKey: z.string().min(1) })

/** The EventBridge scheduled event; only `time` is used. */
const ScheduledEvent = z.looseObject({ time: z.iso.datetime({ offset: true }).optional() })

const config = loadConfig(SimulateTradesEnv)
const producer = createKafkaProducer(config, STAGE)
const objects = rawStore(config)
// Built once per container: the same users for every invocation (and every container).
const population = buildPopulation(config.POPULATION_SIZE, config.POPULATION_SEED)

async function alpacaKeys() {
  if (config.ALPACA_SECRET_ARN === undefined) return undefined
  const text = await readSecret({ arn: config.ALPACA_SECRET_ARN }, 'Alpaca API keys')
  const parsed = AlpacaSecret.safeParse(JSON.parse(text))
  // The secret is created empty: until it is filled in, the public rate limit applies.
  return parsed.success ? parsed.data : undefined
}

interface LambdaContextLike {
  getRemainingTimeInMillis(): number
}

async function run(event: unknown, context: LambdaContextLike): Promise<SimulateTradesSummary> {
  const startedAt = Date.now()
  const deadline = startedAt + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS
  const parsed = ScheduledEvent.safeParse(event)
  const time = parsed.success ? parsed.data.time : undefined
  if (time === undefined) logger.warn('no scheduled time in the event: using the clock', { event })
  const client = createQuotesClient({
    baseUrl: config.ALPACA_DATA_URL,
    location: config.ALPACA_LOCATION,
    timeoutMs: config.HTTP_TIMEOUT_MS,
    retries: config.HTTP_RETRIES,
    keys: await alpacaKeys(),
    onRetry: ({ error, attempt, delayMs }) =>
      logger.warn('retrying Alpaca latest quotes', {
        attempt,
        delayMs,
        error: error instanceof Error ? error.message : String(error),
      }),
  })
  const summary = await simulateTrades(
    { scheduledAt: time === undefined ? new Date(startedAt) : new Date(time), deadline },
    {
      fetchQuotes: client.fetchLatestQuotes,
      producer,
      quarantine: (rejections) => quarantine(objects, STAGE, rejections, new Date(), powertoolsCounter),
      counter: powertoolsCounter,
      clock: () => new Date(),
      log: (message, fields) => logger.warn(message, fields),
      population,
      config: {
        symbols: config.SYMBOLS,
        tradesPerMinute: config.TRADES_PER_MINUTE,
        populationSeed: config.POPULATION_SEED,
        quoteMaxAgeSeconds: config.QUOTE_MAX_AGE_SECONDS,
      },
    },
  ).catch((error: unknown) => {
    logger.error('simulate-trades failed', { error, summary: (error as { summary?: unknown }).summary })
    throw error
  })
  logger.info('trades simulated', { ...summary })
  return summary
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
