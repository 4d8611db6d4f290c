/**
 * backfill-bars Lambda: wiring only (config, adapters, middy). The logic is in core.ts. One
 * function for the three Tasks of the `backfill-bars` state machine, told apart by `action`:
 * `plan` (input and `$$.Execution.StartTime`), `chunk` (one Map item), `landed` (every chunk).
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import * as z from 'zod'
import { createAlpacaClient, isRequestRejected } from '../poll-bars/alpaca.ts'
import { createKafkaProducer } from '../shared/adapters/kafka.ts'
import { alpacaConnection } from '../shared/alpaca-connection.ts'
import { AlpacaEnv, HttpEnv, KafkaEnv, loadConfig, SymbolsEnv } from '../shared/config.ts'
import { CryptoSymbol, IsoSeconds } from '../shared/contracts.ts'
import { logger, MetricUnit, metrics, powertoolsCounter } from '../shared/observability.ts'
import { quarantineInto } from '../shared/quarantine.ts'
import { ObjectStoreEnv, rawStore, StateStoreEnv, stateStore, stateStoreRequired } from '../shared/stores.ts'
import { BarsNotLandedYet, backfillChunk, notLandedYet, planBackfill } from './core.ts'
import { objectProgressStore } from './progress.ts'

export const STAGE = 'backfill-bars'
/** Kept free at the end of the Lambda timeout for the progress object, metrics and logs. */
const DEADLINE_MARGIN_MS = 5_000

export const BackfillBarsEnv = z
  .object({
    ...AlpacaEnv,
    ...SymbolsEnv,
    ...HttpEnv({ timeoutMs: 10_000, retries: 4 }),
    ...KafkaEnv,
    ...ObjectStoreEnv,
    ...StateStoreEnv,
  })
  .refine(...stateStoreRequired('the progress objects'))
  .refine((env) => env.RAW_DIR !== undefined || env.RAW_BUCKET !== undefined, {
    message: 'set RAW_BUCKET (AWS) or RAW_DIR (local): quarantine and landing markers',
    path: ['RAW_BUCKET'],
  })

const config = loadConfig(BackfillBarsEnv)
// The S3 client module loads on the first progress read, not at init (object-store.ts).
const progress = objectProgressStore(stateStore(config))
const raw = rawStore(config)
let producer: ReturnType<typeof createKafkaProducer> | undefined

const ChunkSchema = z.object({
  id: z.string().min(1),
  symbols: z.array(CryptoSymbol).min(1),
  start: IsoSeconds,
  end: IsoSeconds,
  lakeOnlyBefore: IsoSeconds.optional(),
})

const BackfillEvent = z.discriminatedUnion('action', [
  z.object({ action: z.literal('plan'), input: z.unknown(), now: z.iso.datetime({ offset: true }) }),
  z.object({ action: z.literal('chunk'), chunk: ChunkSchema }),
  z.object({ action: z.literal('landed'), chunks: z.array(ChunkSchema) }),
])

async function run(event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>) {
  const request = BackfillEvent.parse(event)
  if (request.action === 'plan') {
    const plan = planBackfill(request.input, new Date(request.now), config.SYMBOLS)
    logger.info('backfill planned', { ...plan, chunks: plan.chunks.length })
    metrics.addMetric('BackfillChunksPlanned', MetricUnit.Count, plan.chunks.length)
    return plan
  }
  if (request.action === 'landed') {
    const missing = await notLandedYet(request.chunks, {
      progress,
      listMarkers: (prefix) => raw.listObjects(prefix),
    })
    metrics.addMetric('BackfillHoursNotLanded', MetricUnit.Count, missing.length)
    if (missing.length > 0)
      throw new BarsNotLandedYet(`${missing.length} hour(s) not landed yet, first ${missing[0]}`)
    return { landed: true }
  }
  const deadline = Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS
  producer ??= createKafkaProducer(config, STAGE)
  const client = createAlpacaClient(await alpacaConnection(config, 'retrying Alpaca request'))
  const result = await backfillChunk(request.chunk, deadline, {
    fetchBars: client.fetchBars,
    producer,
    progress,
    quarantine: quarantineInto(raw, STAGE),
    counter: powertoolsCounter,
    clock: () => new Date(),
    isRequestRejected,
    log: (message, fields) => logger.warn(message, fields),
  })
  metrics.addMetric(
    result.status === 'skipped' ? 'BackfillChunksSkipped' : 'BackfillChunksDone',
    MetricUnit.Count,
    1,
  )
  logger.info('chunk backfilled', { ...result, start: request.chunk.start, end: request.chunk.end })
  return result
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
