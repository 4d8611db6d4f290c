import { setTimeout as sleep } from 'node:timers/promises'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import * as z from 'zod'
import { readSecret } from '../shared/adapters/secrets.ts'
import { loadConfig, OpenSearchEnv, positiveInt } from '../shared/config.ts'
import type { MskEvent } from '../shared/msk.ts'
import { logger, metrics, powertoolsCounter } from '../shared/observability.ts'
import { onFirstUse } from '../shared/on-first-use.ts'
import { quarantineInto } from '../shared/quarantine.ts'
import type { LambdaContextLike } from '../shared/scheduled.ts'
import { applyIndexTemplates } from '../shared/search-templates.ts'
import { ObjectStoreEnv, rawStore } from '../shared/stores.ts'
import { indexEvents } from './core.ts'
import { cachedIconSource, openSearchIconLookup } from './icons.ts'

const config = loadConfig(
  z.object({
    ...OpenSearchEnv,
    ...ObjectStoreEnv,
    OPENSEARCH_REPLICAS: z.coerce.number().int().min(0).default(1),
    PII_HMAC_KEY: z.string().min(32).optional(),
    PII_SECRET_ARN: z.string().startsWith('arn:').optional(),
    /**
     * Bulk attempts per invocation. 8 with 200 ms doubling backoff (jitter x0.5-1.5) keeps a batch
     * that cannot be indexed at least 12.7 s in one invocation (backoffs 0.1 + 0.2 + ... + 6.4 s),
     * up to the deadline: the floor the event source's retry budget is sized on
     * (resources/event-sources.yml).
     */
    INDEX_ATTEMPTS: positiveInt.default(8),
    /** How long a container trusts an icon (or its absence) before asking crypto-assets again. */
    ICON_CACHE_SECONDS: positiveInt.default(600),
  }),
)
const store = rawStore(config)

/**
 * The OpenSearch client module (@opensearch-project/opensearch and its transport) is imported on
 * the first invocation, not at module load, like the Kafka and S3 clients: it is the largest part
 * of this function's cold init otherwise. The client, the index port and the icon cache are then
 * built once per container.
 */
const connected = onFirstUse(() =>
  import('../shared/adapters/opensearch.ts').then(({ createOpenSearchClient, openSearchIndex }) => {
    const client = createOpenSearchClient(config)
    return {
      client,
      index: openSearchIndex(client),
      icons: cachedIconSource(openSearchIconLookup(client), { ttlMs: config.ICON_CACHE_SECONDS * 1000 }),
    }
  }),
)
let templatesApplied: Promise<unknown> | undefined

/**
 * Kept after the last bulk request for what the batch still does: quarantine to S3, the
 * response, the EMF flush. Bulk retries stop in time for it (core's `deadline`).
 */
const FINISH_MARGIN_MS = 5_000

async function run(event: MskEvent, context: LambdaContextLike) {
  const deadline = Date.now() + context.getRemainingTimeInMillis() - FINISH_MARGIN_MS
  const { client, index, icons } = await connected()
  // Templates before the first document of this container, so a new monthly index never gets
  // dynamic mappings; idempotent, and cheap once per container.
  templatesApplied ??= applyIndexTemplates(client, config.OPENSEARCH_REPLICAS).catch((error) => {
    templatesApplied = undefined
    throw error
  })
  await templatesApplied
  const piiKey = await readSecret({ value: config.PII_HMAC_KEY, arn: config.PII_SECRET_ARN }, 'PII HMAC key')
  const response = await indexEvents(event, {
    index,
    piiKey,
    counter: powertoolsCounter,
    sleep: (ms) => sleep(ms),
    attempts: config.INDEX_ATTEMPTS,
    clock: Date.now,
    deadline,
    requestTimeoutMs: client.transport.requestTimeout,
    icons,
    onIconLookupError: (error) => logger.warn('asset icons not looked up; trades indexed without', { error }),
    quarantine: quarantineInto(store, 'index-events'),
  })
  if (response.batchItemFailures.length > 0) logger.warn('partial batch failure', { ...response })
  return response
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
