import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import { logger, MetricUnit, metrics } from '../shared/observability.ts'
import { resolveWindow } from './core.ts'

async function run(event: unknown) {
  const window = resolveWindow(event)
  logger.info('lake window', { ...window })
  // Window length shows backfills and reruns on the dashboard (an hourly run is 60).
  metrics.addMetric(
    'LakeWindowMinutes',
    MetricUnit.Count,
    (Date.parse(window.end) - Date.parse(window.start)) / 60_000,
  )
  return window
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
