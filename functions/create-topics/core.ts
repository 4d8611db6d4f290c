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
 * - Every path answers CloudFormation through the pre-signed ResponseURL; a lost answer would
 *   leave the stack waiting until ServiceTimeout.
 */
import type { TopicDeclaration } from '../shared/topics.ts'

/** The request CloudFormation sends (Create, Update and Delete share these fields). */
export interface CustomResourceRequest {
  RequestType: 'Create' | 'Update' | 'Delete'
  RequestId: string
  ResponseURL: string
  ResourceType: string
  LogicalResourceId: string
  StackId: string
  /** Absent on Create; what the last answer set, on Update and Delete. */
  PhysicalResourceId?: string
  ResourceProperties: Record<string, unknown>
  OldResourceProperties?: Record<string, unknown>
}

/** The body PUT to ResponseURL (at most 4096 bytes). */
export interface CustomResourceResponse {
  Status: 'SUCCESS' | 'FAILED'
  Reason?: string
  PhysicalResourceId: string
  StackId: string
  RequestId: string
  LogicalResourceId: string
  NoEcho?: boolean
  Data?: Record<string, string>
}

const MAX_BODY_BYTES = 4096

/**
 * One physical id per cluster: the same on every answer for the same cluster (an Update is an
 * update), a new one when the cluster is replaced (CloudFormation then deletes the old one,
 * which keeps its topics anyway).
 */
export function physicalIdOf(request: CustomResourceRequest): string {
  if (request.PhysicalResourceId) return request.PhysicalResourceId
  const cluster = request.ResourceProperties.ClusterArn
  return `kafka-topics:${typeof cluster === 'string' && cluster !== '' ? cluster : request.LogicalResourceId}`
}

/** The response body, with StackId, RequestId and LogicalResourceId copied verbatim from the request. */
export function responseBody(
  request: CustomResourceRequest,
  outcome: { status: 'SUCCESS' | 'FAILED'; reason?: string; data?: Record<string, string> },
): string {
  const body: CustomResourceResponse = {
    Status: outcome.status,
    Reason: outcome.reason,
    PhysicalResourceId: physicalIdOf(request),
    StackId: request.StackId,
    RequestId: request.RequestId,
    LogicalResourceId: request.LogicalResourceId,
    Data: outcome.data,
  }
  let text = JSON.stringify(body)
  if (Buffer.byteLength(text) > MAX_BODY_BYTES && body.Reason) {
    body.Reason = `${body.Reason.slice(0, 1000)}…`
    text = JSON.stringify(body)
  }
  return text
}

/** PUTs the answer. The pre-signed URL is signed without a content type: none is sent. */
export async function putResponse(url: string, body: string, fetchImpl: typeof fetch = fetch): Promise<void> {
  const response = await fetchImpl(url, { method: 'PUT', headers: { 'content-type': '' }, body })
  if (!response.ok) throw new Error(`CloudFormation response rejected: HTTP ${response.status}`)
}

export interface CreateTopicsDeps {
  ensureTopics: (
    declarations: readonly TopicDeclaration[],
  ) => Promise<{ created: string[]; existing: string[] }>
  declarations: readonly TopicDeclaration[]
  respond: (url: string, body: string) => Promise<void>
  log?: (message: string, fields: Record<string, unknown>) => void
}

/**
 * Handles one request and answers it. Resolves with the answer sent; rejects only when the
 * answer itself could not be delivered (so the invocation fails and is retried).
 */
export async function handleTopicsRequest(
  request: CustomResourceRequest,
  deps: CreateTopicsDeps,
): Promise<CustomResourceResponse> {
  const log = deps.log ?? (() => undefined)
  let outcome: { status: 'SUCCESS' | 'FAILED'; reason?: string; data?: Record<string, string> }
  if (request.RequestType === 'Delete') {
    outcome = { status: 'SUCCESS', reason: 'topics are kept on delete', data: {} }
  } else {
    try {
      const result = await deps.ensureTopics(deps.declarations)
      log('topics ensured', { requestType: request.RequestType, ...result })
      outcome = {
        status: 'SUCCESS',
        data: {
          Topics: deps.declarations.map((topic) => topic.name).join(','),
          Created: result.created.join(','),
        },
      }
    } catch (error) {
      const reason = `creating the Kafka topics failed: ${error instanceof Error ? error.message : String(error)}`
      log('topics not ensured', { requestType: request.RequestType, reason })
      outcome = { status: 'FAILED', reason }
    }
  }
  const body = responseBody(request, outcome)
  await deps.respond(request.ResponseURL, body)
  return JSON.parse(body) as CustomResourceResponse
}
