/**
 * apply-search-config Lambda: wiring only. Invoked by CloudFormation for the SearchConfig custom
 * resource (Create / Update / Delete); the logic is in core.ts.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import * as z from 'zod'
import { loadConfig, OpenSearchEnv } from '../shared/config.ts'
import { type CustomResourceRequest, putCustomResourceResponse } from '../shared/custom-resource.ts'
import { logger, metrics } from '../shared/observability.ts'
import { onFirstUse } from '../shared/on-first-use.ts'
import { applySearchConfig } from '../shared/search-templates.ts'
import { applySearchConfigResource } from './core.ts'

const config = loadConfig(
  z.object({
    ...OpenSearchEnv,
    OPENSEARCH_REPLICAS: z.coerce.number().int().min(0).default(1),
  }),
)
// The OpenSearch client module loads when CloudFormation first calls, not at init (on-first-use.ts).
const connected = onFirstUse(() =>
  import('../shared/adapters/opensearch.ts').then(({ createOpenSearchClient }) =>
    createOpenSearchClient(config),
  ),
)

async function run(event: CustomResourceRequest, context: Context) {
  const response = await applySearchConfigResource(event, {
    apply: async () =>
      applySearchConfig(await connected(), {
        replicas: config.OPENSEARCH_REPLICAS,
        log: (message, detail) => logger.warn(message, { ...detail }),
      }),
    respond: putCustomResourceResponse,
    logStreamName: context.logStreamName,
  })
  logger.info('custom resource answered', {
    requestType: event.RequestType,
    status: response.Status,
    reason: response.Reason,
    data: response.Data,
  })
  return response
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
