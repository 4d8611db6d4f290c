/**
 * The one logger and metrics setup every function uses. Service name and namespace come from
 * POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE (set in serverless.yml); the defaults
 * keep local runs and tests readable.
 */
import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import type { Counter } from './ports.ts'

export const METRICS_NAMESPACE = 'CryptoLake'

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'crypto-lake' })

export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'crypto-lake',
})

export { MetricUnit }

export const powertoolsCounter: Counter = {
  count(name, value, dimensions) {
    if (dimensions && Object.keys(dimensions).length > 0) {
      // A single metric with its own dimension set must not leak those dimensions into the others.
      const single = metrics.singleMetric()
      for (const [key, dim] of Object.entries(dimensions)) single.addDimension(key, dim)
      single.addMetric(name, MetricUnit.Count, value)
      return
    }
    metrics.addMetric(name, MetricUnit.Count, value)
  },
}
