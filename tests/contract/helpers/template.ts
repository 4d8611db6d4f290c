/**
 * Read-only queries over a packaged CloudFormation template, so the contract tests read as the
 * rules they check. Intrinsics are left as they are; the helpers only name what a `Ref` or a
 * `Fn::GetAtt` points at.
 */
import { asArray, type CfnResource, type CfnTemplate, getAttOf } from '../../../local/runtime/cfn.ts'

// The tests read templates with the repository's one toolkit (local/runtime/cfn.ts).
export {
  asArray,
  type CfnResource,
  type CfnTemplate,
  getAttOf,
  refOf,
  resourcesOfType,
} from '../../../local/runtime/cfn.ts'

export interface PolicyStatement {
  Sid?: string
  Effect: 'Allow' | 'Deny'
  Action?: string | string[]
  NotAction?: string | string[]
  Resource?: unknown
  NotResource?: unknown
  Principal?: unknown
  Condition?: Record<string, unknown>
}

/** A policy statement together with where it was found, for readable failures. */
export interface LocatedStatement {
  /** e.g. `PollBarsRole/poll-bars#KafkaWriteBars` or `RawBucketPolicy#DenyInsecureTransport`. */
  where: string
  /** The kind of policy: identity policies, resource policies, key policies differ in meaning. */
  kind: 'identity' | 'bucket' | 'key' | 'domain' | 'other-resource'
  statement: PolicyStatement
}

export function resource(template: CfnTemplate, logicalId: string): CfnResource {
  const found = template.Resources[logicalId]
  if (!found) throw new Error(`no resource ${logicalId} in the template`)
  return found
}

export function props(template: CfnTemplate, logicalId: string): Record<string, unknown> {
  return resource(template, logicalId).Properties ?? {}
}

/** Every policy statement in the template: IAM roles and policies, bucket, key and domain policies. */
export function policyStatements(template: CfnTemplate): LocatedStatement[] {
  const located: LocatedStatement[] = []
  const add = (where: string, kind: LocatedStatement['kind'], document: unknown) => {
    const statements = (document as { Statement?: PolicyStatement | PolicyStatement[] } | undefined)
      ?.Statement
    for (const statement of asArray(statements)) {
      located.push({ where: `${where}#${statement.Sid ?? '(no Sid)'}`, kind, statement })
    }
  }
  for (const [id, res] of Object.entries(template.Resources)) {
    const p = res.Properties ?? {}
    switch (res.Type) {
      case 'AWS::IAM::Role':
        for (const policy of asArray(p.Policies as Array<{ PolicyName: string; PolicyDocument: unknown }>)) {
          add(`${id}/${policy.PolicyName}`, 'identity', policy.PolicyDocument)
        }
        // The trust policy says who may assume the role, not what the role may do.
        break
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
        add(id, 'identity', p.PolicyDocument)
        break
      case 'AWS::S3::BucketPolicy':
        add(id, 'bucket', p.PolicyDocument)
        break
      case 'AWS::KMS::Key':
        add(id, 'key', p.KeyPolicy)
        break
      case 'AWS::OpenSearchService::Domain':
        add(id, 'domain', p.AccessPolicies)
        break
      case 'AWS::SNS::TopicPolicy':
      case 'AWS::SQS::QueuePolicy':
        add(id, 'other-resource', p.PolicyDocument)
        break
      default:
        break
    }
  }
  return located
}

/** The role logical id a Lambda function runs as (`Role: { Fn::GetAtt: [X, Arn] }`). */
export function functionRole(template: CfnTemplate, functionId: string): string | undefined {
  return getAttOf(props(template, functionId).Role)?.[0]
}
