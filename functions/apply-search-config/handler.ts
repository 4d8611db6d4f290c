/**
 * apply-search-config Lambda: wiring only. Invoked by CloudFormation for the SearchConfig custom
 * resource (Create / Update / Delete); the logic is in core.ts.
 */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda'
import * as z from 'zod'
import { loadConfig, OpenSearchEnv } from '../shared/config.ts'
import { logger, metrics } from '../shared/observability.ts'
import { onFirstUse } from '../shared/on-first-use.ts'
import { applySearchConfig } from '../shared/search-templates.ts'
import { applySearchConfigResource, type CustomResourceResponse } from './core.ts'

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

/**
 * The pre-signed S3 URL is signed without a content type: the request must send an empty one
 * (as cfn-response does), which `fetch` would replace with text/plain.
 */
export function putResponse(url: string, response: CustomResourceResponse): Promise<void> {
  const body = JSON.stringify(response)
  const target = new URL(url)
  const send = target.protocol === 'http:' ? httpRequest : httpsRequest
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume()
        res.on('end', () =>
          res.statusCode && res.statusCode < 300
            ? resolve()
            : reject(new Error(`CloudFormation response PUT answered ${res.statusCode}`)),
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function run(event: CloudFormationCustomResourceEvent, context: Context) {
  const response = await applySearchConfigResource(event, {
    apply: async () =>
      applySearchConfig(await connected(), {
        replicas: config.OPENSEARCH_REPLICAS,
        log: (message, detail) => logger.warn(message, { ...detail }),
      }),
    respond: putResponse,
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
