/**
 * One CloudFormation custom-resource answer for the packaged providers (create-topics,
 * apply-search-config): Create and Update do the work, Delete keeps what exists, and every path
 * answers, because a lost answer leaves the stack waiting until ServiceTimeout.
 *
 * The answer is a PUT of the response object to the request's pre-signed S3 ResponseURL with an
 * empty Content-Type: the URL is signed without one, so any other type fails the signature
 * (AWS's own cfn-response module sends `content-type: ''` for the same reason). The inline
 * providers in resources/msk.yml and resources/macie.yml send the same request; a ZipFile is one
 * index.js with no bundler, so they cannot import this module.
 */
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse } from 'aws-lambda'

export type CustomResourceRequest = CloudFormationCustomResourceEvent
export type CustomResourceResponse = CloudFormationCustomResourceResponse<Record<string, string>>

/** How one provider does its work and explains itself. */
export interface CustomResourceProvider {
  /** The physical id of a new resource (Create): an Update or Delete answers with the one CloudFormation holds. */
  physicalResourceId: string
  /** The Reason of the Delete answer: what is kept and why nothing is removed. */
  keptOnDelete: string
  /** Create and Update: does the work, resolves to the attributes `Fn::GetAtt` reads. */
  apply: () => Promise<{ data: Record<string, string>; reason?: string }>
  /** The Reason of a FAILED answer: the message only, never a serialized error (it can carry request details). */
  failureReason: (error: unknown) => string
}

/** The response body may not exceed 4096 bytes; a Reason this long is a stack trace, not a reason. */
const MAX_REASON_CHARS = 1000

/** The physical id CloudFormation holds, or the provider's for a new resource. */
function physicalIdOf(request: CustomResourceRequest, provider: CustomResourceProvider): string {
  return ('PhysicalResourceId' in request && request.PhysicalResourceId) || provider.physicalResourceId
}

/**
 * Handles one request and answers it through `respond`. Resolves with the answer sent; rejects
 * only when the answer itself could not be delivered (the invocation fails and Lambda retries).
 */
export async function answerCustomResource(
  request: CustomResourceRequest,
  provider: CustomResourceProvider,
  respond: (url: string, response: CustomResourceResponse) => Promise<void>,
): Promise<CustomResourceResponse> {
  const ids = {
    PhysicalResourceId: physicalIdOf(request, provider),
    StackId: request.StackId,
    RequestId: request.RequestId,
    LogicalResourceId: request.LogicalResourceId,
  }
  let response: CustomResourceResponse
  if (request.RequestType === 'Delete') {
    response = { ...ids, Status: 'SUCCESS', Reason: provider.keptOnDelete, Data: {} }
  } else {
    try {
      const { data, reason } = await provider.apply()
      response = { ...ids, Status: 'SUCCESS', ...(reason ? { Reason: reason } : {}), Data: data }
    } catch (error) {
      const reason = provider.failureReason(error)
      const Reason = reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason
      response = { ...ids, Status: 'FAILED', Reason, Data: {} }
    }
  }
  await respond(request.ResponseURL, response)
  return response
}

/** PUTs the response object to the pre-signed ResponseURL with the empty Content-Type it is signed for. */
export async function putCustomResourceResponse(
  url: string,
  response: CustomResourceResponse,
  fetchImpl: typeof fetch = fetch,
): Promise<void> {
  const answered = await fetchImpl(url, {
    method: 'PUT',
    headers: { 'content-type': '' },
    body: JSON.stringify(response),
  })
  if (!answered.ok) throw new Error(`CloudFormation response rejected: HTTP ${answered.status}`)
}
