/**
 * create-topics: the CloudFormation custom resource that creates the declared Kafka topics
 * (functions/shared/topics.ts) on MSK Serverless at deploy, with the same `ensureTopics` the
 * local runtime uses. `AWS::MSK::Topic` wraps the MSK topic API, which serves provisioned
 * clusters only, hence this resource.
 *
 * - Create / Update: create the declared topics that do not exist (idempotent; existing
 *   topics are never altered: partition changes re-key data and MSK Serverless accepts
 *   cleanup.policy only at creation).
 * - Delete: keep the topics. Deleting a stack, or replacing this resource, must not delete
 *   data; the cluster's own deletion removes them when that is really meant.
 */
import {
  answerCustomResource,
  type CustomResourceRequest,
  type CustomResourceResponse,
} from '../shared/custom-resource.ts'
import type { TopicDeclaration } from '../shared/topics.ts'

export interface CreateTopicsDeps {
  ensureTopics: (
    declarations: readonly TopicDeclaration[],
  ) => Promise<{ created: string[]; existing: string[] }>
  declarations: readonly TopicDeclaration[]
  respond: (url: string, response: CustomResourceResponse) => Promise<void>
  log?: (message: string, fields: Record<string, unknown>) => void
}

/**
 * One physical id per cluster: a new one when the cluster is replaced (CloudFormation then
 * deletes the old one, which keeps its topics anyway).
 */
export function newPhysicalId(request: CustomResourceRequest): string {
  const cluster = request.ResourceProperties.ClusterArn
  return `kafka-topics:${typeof cluster === 'string' && cluster !== '' ? cluster : request.LogicalResourceId}`
}

/** Handles one request and answers it (functions/shared/custom-resource.ts). */
export function handleTopicsRequest(
  request: CustomResourceRequest,
  deps: CreateTopicsDeps,
): Promise<CustomResourceResponse> {
  const log = deps.log ?? (() => undefined)
  return answerCustomResource(
    request,
    {
      physicalResourceId: newPhysicalId(request),
      keptOnDelete: 'topics are kept on delete',
      apply: async () => {
        const result = await deps.ensureTopics(deps.declarations)
        log('topics ensured', { requestType: request.RequestType, ...result })
        return {
          data: {
            Topics: deps.declarations.map((topic) => topic.name).join(','),
            Created: result.created.join(','),
          },
        }
      },
      failureReason: (error) => {
        const reason = `creating the Kafka topics failed: ${error instanceof Error ? error.message : String(error)}`
        log('topics not ensured', { requestType: request.RequestType, reason })
        return reason
      },
    },
    deps.respond,
  )
}
