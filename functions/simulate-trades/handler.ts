/**
 * simulate-trades Lambda: wiring only (config, adapters, middy). The logic is in core.ts.
 * Scheduled every minute by EventBridge; locally by the scheduler with the same event shape.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import { createKafkaProducer } from '../shared/adapters/kafka.ts'
import { alpacaConnection } from '../shared/alpaca-connection.ts'
import { loadConfig } from '../shared/config.ts'
import { logger, metrics, powertoolsCounter } from '../shared/observability.ts'
import { quarantineInto } from '../shared/quarantine.ts'
import { scheduledRun } from '../shared/scheduled.ts'
import { rawStore } from '../shared/stores.ts'
import { SimulateTradesEnv } from './config.ts'
import { simulateTrades } from './core.ts'
import { buildPopulation } from './population.ts'
import { createQuotesClient } from './quotes.ts'

export const STAGE = 'simulate-trades'
/** Kept free at the end of the Lambda timeout for quarantine, producing and flushing metrics. */
const DEADLINE_MARGIN_MS = 8_000

const config = loadConfig(SimulateTradesEnv)
const producer = createKafkaProducer(config, STAGE)
const objects = rawStore(config)
// Built once per container: the same users for every invocation (and every container).
const population = buildPopulation(config.POPULATION_SIZE, config.POPULATION_SEED)

const run = scheduledRun(
  STAGE,
  { marginMs: DEADLINE_MARGIN_MS, done: 'trades simulated' },
  async ({ scheduledAt, deadline }) => {
    const client = createQuotesClient(await alpacaConnection(config, 'retrying Alpaca latest quotes'))
    return simulateTrades(
      { scheduledAt, deadline },
      {
        fetchQuotes: client.fetchLatestQuotes,
        producer,
        quarantine: quarantineInto(objects, STAGE),
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
    )
  },
)

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
