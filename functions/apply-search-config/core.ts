/**
 * apply-search-config: the CloudFormation custom resource that puts the OpenSearch index
 * templates, aliases and ISM policies in place at deploy. Create and Update apply them
 * (idempotently, so an Update with nothing new changes nothing); Delete leaves them, because
 * removing the stack must not reshape indices that still hold data. CloudFormation always gets
 * an answer: a missing one would hang the stack for an hour.
 */
import {
  answerCustomResource,
  type CustomResourceRequest,
  type CustomResourceResponse,
} from '../shared/custom-resource.ts'
import type { SearchConfigResult } from '../shared/search-templates.ts'

/** One physical id for the one search config of the domain: Update never replaces it. */
export const PHYSICAL_RESOURCE_ID = 'crypto-lake-search-config'

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

/** Handles one request and answers it (functions/shared/custom-resource.ts). */
export function applySearchConfigResource(
  event: CustomResourceRequest,
  deps: ApplySearchConfigDeps,
): Promise<CustomResourceResponse> {
  return answerCustomResource(
    event,
    {
      physicalResourceId: PHYSICAL_RESOURCE_ID,
      keptOnDelete: 'search config is kept on delete',
      apply: async () => ({ data: toData(await deps.apply()), reason: 'applied' }),
      failureReason: (error) => `${(error as Error).message ?? 'failed'} (log stream ${deps.logStreamName})`,
    },
    deps.respond,
  )
}
