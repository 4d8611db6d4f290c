/**
 * lake-window Lambda: wiring only (config, adapters, middy). The logic is in core.ts.
 * A given window is validated; a scheduled run lists the landing markers and reads the last
 * checkpoint of the raw bucket, then plans.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import * as z from 'zod'
import { loadConfig } from '../shared/config.ts'
import {
  CHECKPOINT_KEY,
  LANDED_PREFIX,
  parseLandedMarkerKey,
  type RefreshCheckpoint,
} from '../shared/lake-state.ts'
import { logger, MetricUnit, metrics } from '../shared/observability.ts'
import { ObjectStoreEnv, rawStore } from '../shared/stores.ts'
import { isGivenWindow, type LakeWindowInput, type LandedMarker, planWindow, resolveWindow } from './core.ts'

const config = loadConfig(z.object({ ...ObjectStoreEnv }))
const store = rawStore(config)

async function plan(event: LakeWindowInput) {
  // Read before listing: whatever lands after this instant is newer than the checkpoint.
  const listedAt = new Date()
  const markers: LandedMarker[] = []
  for (const object of await store.listObjects(LANDED_PREFIX)) {
    const parsed = parseLandedMarkerKey(object.key)
    if (parsed) markers.push({ key: object.key, ...parsed, lastModified: object.lastModified })
  }
  const body = await store.get(CHECKPOINT_KEY)
  const checkpoint = body ? (JSON.parse(new TextDecoder().decode(body)) as RefreshCheckpoint) : undefined
  return planWindow({ now: event.now, listedAt, markers, checkpoint, rerun: event.input.rerun })
}

async function run(event: LakeWindowInput) {
  const window = isGivenWindow(event) ? resolveWindow(event) : await plan(event)
  const { checkpoint: _checkpoint, ...shown } = window
  logger.info('lake window', { ...shown })
  if (window.skip) {
    metrics.addMetric('LakeRefreshSkipped', MetricUnit.Count, 1)
  } else {
    // Window length shows backfills and reruns on the dashboard (an hourly run is 60 to 120).
    metrics.addMetric(
      'LakeWindowMinutes',
      MetricUnit.Count,
      (Date.parse(window.end) - Date.parse(window.start)) / 60_000,
    )
  }
  // Late data the schedule no longer refreshes: it needs a backfill with a given window.
  if (window.outside !== undefined)
    metrics.addMetric('LakePartitionsOutsideBound', MetricUnit.Count, window.outside)
  return window
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
