/**
 * create-topics Lambda (the Custom::KafkaTopics provider): wiring only. The logic is in core.ts.
 * Invoked by CloudFormation on Create, Update and Delete of the KafkaTopics resource.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import middy from '@middy/core'
import * as z from 'zod'
import { ensureTopics } from '../shared/adapters/kafka-admin.ts'
import { KafkaEnv, loadConfig } from '../shared/config.ts'
import {
  type CustomResourceRequest,
  type CustomResourceResponse,
  putCustomResourceResponse,
} from '../shared/custom-resource.ts'
import { logger, metrics } from '../shared/observability.ts'
import { TOPIC_DECLARATIONS } from '../shared/topics.ts'
import { handleTopicsRequest } from './core.ts'

export const CreateTopicsEnv = z.object({
  ...KafkaEnv,
  /** -1 = the cluster's default (MSK Serverless sets replication itself). */
  TOPIC_REPLICATION_FACTOR: z.coerce.number().int().min(-1).default(-1),
})

const config = loadConfig(CreateTopicsEnv)

async function run(event: CustomResourceRequest): Promise<CustomResourceResponse> {
  return handleTopicsRequest(event, {
    ensureTopics: (declarations) => ensureTopics(config, declarations, config.TOPIC_REPLICATION_FACTOR),
    declarations: TOPIC_DECLARATIONS,
    respond: putCustomResourceResponse,
    log: (message, fields) => logger.info(message, fields),
  })
}

export const handler = middy(run)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics))
