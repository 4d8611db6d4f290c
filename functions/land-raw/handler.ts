/**
 * land-raw Lambda: wiring only (config, adapters, middy). The logic is in core.ts.
 * Triggered by the LandRaw*Mapping event source mappings on the MSK topics; locally by the
 * event-source emulator with the same event shape.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import * as z from 'zod'
import { loadConfig, positiveInt } from '../shared/config.ts'
import type { MskEvent } from '../shared/msk.ts'
import { logger, metrics, powertoolsCounter } from '../shared/observability.ts'
import { quarantineInto } from '../shared/quarantine.ts'
import { rawObjectStore } from '../shared/raw-zone.ts'
import { ObjectStoreEnv, rawStore } from '../shared/stores.ts'
import { landRaw } from './core.ts'

export const STAGE = 'land-raw'

const config = loadConfig(
  z.object({
    ...ObjectStoreEnv,
    RAW_WRITE_CONCURRENCY: positiveInt.default(8),
  }),
)
const store = rawObjectStore(config)
// Plain puts to the raw bucket: quarantine records and the lake's landing markers.
const quarantineStore = rawStore(config)

async function run(event: MskEvent) {
  const response = await landRaw(event, {
    store,
    markers: quarantineStore,
    counter: powertoolsCounter,
    concurrency: config.RAW_WRITE_CONCURRENCY,
    quarantine: quarantineInto(quarantineStore, STAGE),
    onWriteError: (key, error) => logger.error('raw object not written', { key, error }),
  })
  if (response.batchItemFailures.length > 0) logger.warn('partial batch failure', { ...response })
  return response
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
