/**
 * apply-search-config: the CloudFormation custom resource that puts the OpenSearch index
 * templates, aliases and ISM policies in place at deploy. Create and Update apply them
 * (idempotently, so an Update with nothing new changes nothing); Delete leaves them, because
 * removing the stack must not reshape indices that still hold data. CloudFormation always gets
 * an answer: a missing one would hang the stack for an hour.
 */
import type { CloudFormationCustomResourceEvent } from 'aws-lambda'
import type { SearchConfigResult } from '../shared/search-templates.ts'

/** One physical id for the one search config of the domain: Update never replaces it. */
export const PHYSICAL_RESOURCE_ID = 'crypto-lake-search-config'

export interface CustomResourceResponse {
  Status: 'SUCCESS' | 'FAILED'
  Reason: string
  PhysicalResourceId: string
  StackId: string
  RequestId: string
  LogicalResourceId: string
  Data: Record<string, string>
}

export interface ApplySearchConfigDeps {
  apply: () => Promise<SearchConfigResult>
  /** PUTs the response document to the pre-signed ResponseURL. */
  respond: (url: string, response: CustomResourceResponse) => Promise<void>
  /** Where the log stream of this invocation is, for the failure reason CloudFormation shows. */
  logStreamName: string
}

/** Flat string attributes, as `Fn::GetAtt` on a custom resource reads them. */
function toData(result: SearchConfigResult): Record<string, string> {
  return {
    Templates: result.templates.join(','),
    Aliases: result.aliases.join(','),
    Ism:
      result.ism === 'unavailable'
        ? 'unavailable'
        : Object.entries(result.ism)
            .map(([id, o]) => `${id}:${o}`)
            .join(','),
  }
}

export async function applySearchConfigResource(
  event: CloudFormationCustomResourceEvent,
  deps: ApplySearchConfigDeps,
): Promise<CustomResourceResponse> {
  const base = {
    PhysicalResourceId: PHYSICAL_RESOURCE_ID,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  }
  let response: CustomResourceResponse
  if (event.RequestType === 'Delete') {
    // The physical id CloudFormation holds is the one to answer with, or it would see a replacement.
    response = {
      ...base,
      PhysicalResourceId: event.PhysicalResourceId,
      Status: 'SUCCESS',
      Reason: 'search config is kept on delete',
      Data: {},
    }
  } else {
    try {
      const result = await deps.apply()
      response = { ...base, Status: 'SUCCESS', Reason: 'applied', Data: toData(result) }
    } catch (error) {
      // The message only, never the serialized error: it can carry request details.
      response = {
        ...base,
        Status: 'FAILED',
        Reason: `${(error as Error).message ?? 'failed'} (log stream ${deps.logStreamName})`.slice(0, 1000),
        Data: {},
      }
    }
  }
  await deps.respond(event.ResponseURL, response)
  return response
}
