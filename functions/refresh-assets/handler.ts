/**
 * refresh-assets Lambda: wiring only (config, adapters, middy). The logic is in core.ts.
 * Scheduled once a day by EventBridge; locally by the scheduler with the same event shape.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import * as z from 'zod'
import { createKafkaProducer } from '../shared/adapters/kafka.ts'
import { readSecret } from '../shared/adapters/secrets.ts'
import { loadConfig } from '../shared/config.ts'
import { logger, metrics, powertoolsCounter } from '../shared/observability.ts'
import { quarantineInto } from '../shared/quarantine.ts'
import { logRetry, scheduledRun } from '../shared/scheduled.ts'
import { rawStore } from '../shared/stores.ts'
import { createCoinApiClient } from './coinapi.ts'
import { RefreshAssetsEnv } from './config.ts'
import { refreshAssets } from './core.ts'

export const STAGE = 'refresh-assets'
const DEADLINE_MARGIN_MS = 8_000

const CoinApiSecret = z.object({ apiKey: z.string() })

const config = loadConfig(RefreshAssetsEnv)
const producer = createKafkaProducer(config, STAGE)
const objects = rawStore(config)

/** The key from the environment (local) or the secret (AWS; `{"apiKey"}` or the bare key). */
async function apiKey(): Promise<string> {
  const text = await readSecret({ value: config.COINAPI_KEY, arn: config.COINAPI_SECRET_ARN }, 'CoinAPI key')
  let key = text.trim()
  if (key.startsWith('{')) key = CoinApiSecret.parse(JSON.parse(key)).apiKey.trim()
  if (key === '')
    throw new Error('CoinAPI key is empty: put it in the CoinAPI secret ({"apiKey": "..."}) or COINAPI_KEY')
  return key
}

const run = scheduledRun(
  STAGE,
  { marginMs: DEADLINE_MARGIN_MS, done: 'asset icons refreshed' },
  async ({ scheduledAt, deadline }) => {
    const client = createCoinApiClient({
      baseUrl: config.COINAPI_URL,
      apiKey: await apiKey(),
      timeoutMs: config.HTTP_TIMEOUT_MS,
      retries: config.HTTP_RETRIES,
      onRetry: logRetry('retrying CoinAPI icons'),
    })
    return refreshAssets(
      { scheduledAt, deadline },
      {
        fetchIcons: client.fetchIcons,
        producer,
        quarantine: quarantineInto(objects, STAGE),
        counter: powertoolsCounter,
        clock: () => new Date(),
        log: (message, fields) => logger.warn(message, fields),
        config: { assets: config.ASSETS, iconSize: config.ICON_SIZE },
      },
    )
  },
)

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
