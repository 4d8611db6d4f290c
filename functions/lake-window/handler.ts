import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import { logger, metrics } from '../shared/observability.ts'
import { resolveWindow } from './core.ts'

async function run(event: unknown) {
  const window = resolveWindow(event)
  logger.info('lake window', { ...window })
  return window
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
