/**
 * The packaged template's IAM, on both stages: no wildcard grant, one role per function, each
 * role writing its own logs, secrets and the key given to exactly who needs them, the search
 * domain open to three roles only. Kafka and S3 data access: iam-data-access.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { asArray, functionRole, policyStatements, props, refOf } from './helpers/template.ts'
import {
  actionsOf,
  DATA_BUCKETS,
  FUNCTION_ROLES,
  lambdaFunctions,
  logGroupOf,
  packagedStages,
  STAGES,
} from './packaged-stages.ts'

/**
 * Actions allowed on Resource "*", because they have no resource-level permissions: the network
 * interfaces a VPC function (and the MSK event source's pollers) create, and X-Ray tracing.
 * Key policies are the other exception: there "*" means the key the policy is attached to.
 */
const RESOURCE_STAR_ACTIONS = new Set([
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
  'ec2:DescribeVpcs',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  // Step Functions execution logging (vended log delivery) by the lake state machines' role.
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
])

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const template = () => service(stage).template

  describe('IAM', () => {
    it('grants no Allow with Action "*", a whole-service wildcard or NotAction', () => {
      const offenders = policyStatements(template())
        .filter((s) => s.statement.Effect === 'Allow')
        .filter(
          (s) =>
            s.statement.NotAction !== undefined ||
            actionsOf(s).some((a) => a === '*' || /^[\w-]+:\*$/.test(a)),
        )
        .map((s) => s.where)
      expect(offenders).toEqual([])
    })

    it('uses service-wide Deny statements only as the TLS-only guard of bucket policies', () => {
      const denies = policyStatements(template()).filter(
        (s) => s.statement.Effect === 'Deny' && actionsOf(s).some((a) => /^[\w-]+:\*$/.test(a) || a === '*'),
      )
      expect(denies.length).toBeGreaterThanOrEqual(DATA_BUCKETS.length + 1)
      for (const deny of denies) {
        expect(deny.kind, deny.where).toBe('bucket')
        expect(deny.statement.Condition, deny.where).toEqual({ Bool: { 'aws:SecureTransport': false } })
      }
    })

    it('allows Resource "*" only for actions without resource-level permissions, and in the key policy', () => {
      const offenders = policyStatements(template())
        .filter((s) => s.statement.Effect === 'Allow')
        .filter((s) => asArray(s.statement.Resource).includes('*') || s.statement.NotResource !== undefined)
        .filter((s) => !(s.kind === 'key' || actionsOf(s).every((a) => RESOURCE_STAR_ACTIONS.has(a))))
        .map((s) => `${s.where}: ${actionsOf(s).join(',')}`)
      expect(offenders).toEqual([])
    })

    it('runs every function under a role of its own from resources/iam.yml, never the framework default role', () => {
      expect(template().Resources.IamRoleLambdaExecution).toBeUndefined()
      const roles = lambdaFunctions(template()).map(([id]) => functionRole(template(), id))
      for (const role of roles) expect(template().Resources[role ?? '']?.Type, role).toBe('AWS::IAM::Role')
      expect(new Set(roles).size, 'one role per function').toBe(roles.length)
      expect(
        Object.fromEntries(lambdaFunctions(template()).map(([id]) => [id, functionRole(template(), id)])),
      ).toEqual(FUNCTION_ROLES)
    })

    it("lets each role write only its own function's log group", () => {
      for (const [functionId] of lambdaFunctions(template())) {
        const role = functionRole(template(), functionId) ?? ''
        const logStatements = policyStatements(template()).filter(
          (s) => s.where.startsWith(`${role}/`) && actionsOf(s).some((a) => a.startsWith('logs:')),
        )
        expect(
          logStatements.map((s) => s.statement.Resource),
          functionId,
        ).toEqual([{ 'Fn::GetAtt': [logGroupOf(template(), functionId), 'Arn'] }])
      }
    })

    it('gives each secret to the functions that read it, and no other', () => {
      const readers = new Map<string, string[]>()
      for (const s of policyStatements(template())) {
        if (!actionsOf(s).includes('secretsmanager:GetSecretValue')) continue
        for (const r of asArray(s.statement.Resource)) {
          const secret = refOf(r) ?? JSON.stringify(r)
          readers.set(secret, [...(readers.get(secret) ?? []), s.where.split('/')[0] ?? ''].sort())
        }
      }
      expect(Object.fromEntries(readers)).toEqual({
        AlpacaSecret: ['BackfillBarsRole', 'PollBarsRole', 'SimulateTradesRole'],
        CoinApiSecret: ['RefreshAssetsRole'],
        PiiHmacSecret: ['IndexEventsRole', 'LakeJobRole'],
      })
    })

    it('lets a service principal use the CMK only for this account, and any other principal only by exact role ARN', () => {
      const key = policyStatements(template()).filter((s) => s.kind === 'key')
      for (const s of key) {
        const principal = s.statement.Principal as { AWS?: unknown; Service?: unknown }
        if (principal.AWS === '*') {
          expect(Object.keys(s.statement.Condition?.StringEquals ?? {}), s.where).toEqual(
            expect.arrayContaining(['aws:PrincipalArn', 'kms:CallerAccount']),
          )
        }
      }
      const macie = key.find((s) => s.where.endsWith('#MacieServiceLinkedRoleDecryptsRawObjects'))
      expect(macie?.statement.Action).toBe('kms:Decrypt')
      expect(JSON.stringify(macie?.statement.Condition)).toContain(
        'role/aws-service-role/macie.amazonaws.com/AWSServiceRoleForAmazonMacie',
      )
    })

    it('opens the OpenSearch domain to the index-events, apply-search-config and Dashboards user roles only, for HTTP reads and writes', () => {
      const domain = props(template(), 'OpenSearchDomain')
      const statement = (sid: string, role: string) => ({
        Sid: sid,
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::GetAtt': [role, 'Arn'] } },
        Action: ['es:ESHttpGet', 'es:ESHttpHead', 'es:ESHttpPost', 'es:ESHttpPut'],
        Resource: {
          'Fn::Sub': `arn:\${AWS::Partition}:es:\${AWS::Region}:\${AWS::AccountId}:domain/crypto-data-lake-${stage}/*`,
        },
      })
      expect(domain.AccessPolicies).toEqual({
        Version: '2012-10-17',
        Statement: [
          statement('IndexEventsReadsAndWrites', 'IndexEventsRole'),
          statement('ApplySearchConfigConfigures', 'ApplySearchConfigRole'),
          statement('DashboardsUsers', 'DashboardsUserRole'),
        ],
      })
    })
  })
})
