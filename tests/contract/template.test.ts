/**
 * The packaged AWS service, checked as deployed: `serverless package` for dev and prod (no AWS
 * credentials), then rules over the CloudFormation template and the function bundles, cfn-lint
 * over both templates, and the inline custom-resource code run for real.
 */
import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PLAN_BOUND_MS } from '../../functions/lake-window/core.ts'
import { LANDED_PREFIX } from '../../functions/shared/lake-state.ts'
import { taggingOf } from './helpers/cfn-schemas.ts'
import { invokeInlineCustomResource, invokeMacieCustomResource } from './helpers/custom-resource.ts'
import {
  cfnLint,
  type PackagedService,
  packaged as packagedStage,
  projectRoot,
} from './helpers/package-service.ts'
import { allStates, definitionOf, validateAsl } from './helpers/state-machines.ts'
import {
  asArray,
  type CfnTemplate,
  functionRole,
  getAttOf,
  type LocatedStatement,
  policyStatements,
  props,
  refOf,
  resourcesOfType,
} from './helpers/template.ts'
import { readZip } from './helpers/zip.ts'

const STAGES = ['dev', 'prod'] as const
type Stage = (typeof STAGES)[number]

/** What each stage's params must produce (serverless.yml `params:`), written out by hand. */
const EXPECTED: Record<
  Stage,
  {
    logRetentionDays: number
    piiRetentionDays: number
    openSearchMultiAz: string
    openSearchInstanceType: string
    openSearchReplicas: string
    alarmEmail: string
    indexEventsMaxRetries: number
    landRawMaxRetries: number
    rawBucketAlarmGiB: number
    lakeBucketAlarmGiB: number
    monthlyBudgetUsd: number
    macieSchedule: string
    macieSamplingPercentage: string
  }
> = {
  dev: {
    logRetentionDays: 14,
    piiRetentionDays: 7,
    openSearchMultiAz: 'false',
    openSearchInstanceType: 't3.medium.search',
    openSearchReplicas: '0',
    alarmEmail: 'crypto-lake-alarms@example.com',
    indexEventsMaxRetries: 100,
    landRawMaxRetries: 3,
    rawBucketAlarmGiB: 5,
    lakeBucketAlarmGiB: 10,
    monthlyBudgetUsd: 1100,
    macieSchedule: 'weekly',
    macieSamplingPercentage: '25',
  },
  prod: {
    logRetentionDays: 90,
    piiRetentionDays: 30,
    openSearchMultiAz: 'true',
    openSearchInstanceType: 'r7g.large.search',
    openSearchReplicas: '1',
    alarmEmail: 'crypto-lake-oncall@example.com',
    indexEventsMaxRetries: 100,
    landRawMaxRetries: 5,
    rawBucketAlarmGiB: 50,
    lakeBucketAlarmGiB: 100,
    monthlyBudgetUsd: 1450,
    macieSchedule: 'daily',
    macieSamplingPercentage: '100',
  },
}

const DATA_BUCKETS = ['RawBucket', 'LakeBucket', 'StateBucket', 'DeadLetterBucket']
/** Where the EMR job code is shipped (resources/lake.yml): encrypted, versioned, TLS-only like the data buckets. */
const CODE_BUCKETS = ['LakeCodeBucket']
/** Where CloudTrail writes the S3 data events of every bucket (resources/storage.yml, AccessTrail). */
const LOG_BUCKETS = ['AccessTrailBucket']
/**
 * The framework's deployment bucket: created SSE-S3 by the first deploy's bootstrap stack, before
 * the key exists, and put on the key by the stack update (resources/storage.yml, extensions).
 */
const DEPLOYMENT_BUCKET = 'ServerlessDeploymentBucket'

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

const KAFKA_TOPICS = ['crypto.assets', 'crypto.bars', 'crypto.trades']

/** Every Lambda function of the stack and the role it runs as (resources/iam.yml, macie.yml). */
const FUNCTION_ROLES: Record<string, string> = {
  PollBarsLambdaFunction: 'PollBarsRole',
  SimulateTradesLambdaFunction: 'SimulateTradesRole',
  RefreshAssetsLambdaFunction: 'RefreshAssetsRole',
  IndexEventsLambdaFunction: 'IndexEventsRole',
  LandRawLambdaFunction: 'LandRawRole',
  ApplySearchConfigLambdaFunction: 'ApplySearchConfigRole',
  CreateTopicsLambdaFunction: 'CreateTopicsRole',
  LakeWindowLambdaFunction: 'LakeWindowRole',
  BackfillBarsLambdaFunction: 'BackfillBarsRole',
  KafkaBootstrapBrokersFunction: 'KafkaBootstrapBrokersRole',
  MacieClassificationJobFunction: 'MacieClassificationJobRole',
}

/** The functions defined in functions/<name>/function.yml (bundled by esbuild, in the VPC). */
const SERVICE_FUNCTIONS = Object.keys(FUNCTION_ROLES).filter((id) => id.endsWith('LambdaFunction'))

/** Each role's Kafka data-plane actions, all of them (the resources are checked separately). */
const KAFKA_ACTIONS: Record<string, string[]> = {
  BackfillBarsRole: [
    'kafka-cluster:Connect',
    'kafka-cluster:DescribeCluster',
    'kafka-cluster:DescribeTopic',
    'kafka-cluster:WriteData',
    'kafka-cluster:WriteDataIdempotently',
  ],
  PollBarsRole: [
    'kafka-cluster:Connect',
    'kafka-cluster:DescribeCluster',
    'kafka-cluster:DescribeTopic',
    'kafka-cluster:WriteData',
    'kafka-cluster:WriteDataIdempotently',
  ],
  SimulateTradesRole: [
    'kafka-cluster:Connect',
    'kafka-cluster:DescribeCluster',
    'kafka-cluster:DescribeTopic',
    'kafka-cluster:WriteData',
    'kafka-cluster:WriteDataIdempotently',
  ],
  RefreshAssetsRole: [
    'kafka-cluster:Connect',
    'kafka-cluster:DescribeCluster',
    'kafka-cluster:DescribeTopic',
    'kafka-cluster:WriteData',
    'kafka-cluster:WriteDataIdempotently',
  ],
  IndexEventsRole: [
    'kafka-cluster:AlterGroup',
    'kafka-cluster:Connect',
    'kafka-cluster:DescribeCluster',
    'kafka-cluster:DescribeGroup',
    'kafka-cluster:DescribeTopic',
    'kafka-cluster:ReadData',
  ],
  LandRawRole: [
    'kafka-cluster:AlterGroup',
    'kafka-cluster:Connect',
    'kafka-cluster:DescribeCluster',
    'kafka-cluster:DescribeGroup',
    'kafka-cluster:DescribeTopic',
    'kafka-cluster:ReadData',
  ],
  CreateTopicsRole: [
    'kafka-cluster:Connect',
    'kafka-cluster:CreateTopic',
    'kafka-cluster:DescribeCluster',
    'kafka-cluster:DescribeTopic',
  ],
}

/**
 * The AWS SDK packages the nodejs22.x runtime provides: the clients and the credential chain
 * they all depend on (serverless.yml custom.esbuild.exclude). Every other package is bundled.
 */
const RUNTIME_SDK = /^@aws-sdk\/(client-[a-z0-9-]+|credential-provider-node)$/

/** The tags every taggable resource carries (serverless.yml provider.tags / custom.tags). */
const REQUIRED_TAGS = (stage: Stage) => ({ project: 'crypto-data-lake', stage, 'managed-by': 'serverless' })

const packagedByStage = new Map<Stage, PackagedService>()

function service(stage: Stage): PackagedService {
  const found = packagedByStage.get(stage)
  if (!found) throw new Error(`stage ${stage} was not packaged`)
  return found
}

/** cfn-lint of each stage, started as soon as its template exists (it overlaps the next packaging). */
const linted = new Map<Stage, Promise<{ code: number; output: string }>>()

beforeAll(async () => {
  for (const stage of STAGES) {
    const each = await packagedStage(stage)
    packagedByStage.set(stage, each)
    linted.set(stage, cfnLint(join(each.dir, 'cloudformation-template-update-stack.json')))
  }
})

afterAll(async () => {
  await Promise.allSettled(linted.values())
})

const lambdaFunctions = (template: CfnTemplate) => resourcesOfType(template, 'AWS::Lambda::Function')

/** The log group a function writes to: its LoggingConfig group, else /aws/lambda/<name>. */
function logGroupOf(template: CfnTemplate, functionId: string): string | undefined {
  const p = props(template, functionId)
  const configured = refOf((p.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup)
  if (configured) return configured
  const name = `/aws/lambda/${String(p.FunctionName)}`
  return resourcesOfType(template, 'AWS::Logs::LogGroup').find(
    ([, r]) => r.Properties?.LogGroupName === name,
  )?.[0]
}

/** Namespace/metric pairs an alarm watches: plain metric, MetricStat queries, Metrics Insights SQL. */
function alarmMetrics(alarm: Record<string, unknown>): Array<[string, string]> {
  if (typeof alarm.MetricName === 'string') return [[String(alarm.Namespace), alarm.MetricName]]
  const pairs: Array<[string, string]> = []
  for (const query of asArray(alarm.Metrics as Array<Record<string, unknown>> | undefined)) {
    const stat = query.MetricStat as { Metric?: { Namespace?: string; MetricName?: string } } | undefined
    if (stat?.Metric?.Namespace && stat.Metric.MetricName)
      pairs.push([stat.Metric.Namespace, stat.Metric.MetricName])
    const sql =
      typeof query.Expression === 'string'
        ? /^SELECT\s+\w+\((\w+)\)\s+FROM\s+"?([\w/.-]+)"?/i.exec(query.Expression)
        : null
    if (sql?.[1] && sql[2]) pairs.push([sql[2], sql[1]])
  }
  return pairs
}

function errorsAlarmFor(template: CfnTemplate, functionId: string) {
  return resourcesOfType(template, 'AWS::CloudWatch::Alarm').find(([, r]) => {
    const p = r.Properties ?? {}
    const dims = asArray(p.Dimensions as Array<{ Name: string; Value: unknown }>)
    return (
      p.Namespace === 'AWS/Lambda' &&
      p.MetricName === 'Errors' &&
      dims.some((d) => d.Name === 'FunctionName' && refOf(d.Value) === functionId)
    )
  })
}

const actionsOf = (statement: LocatedStatement) => asArray(statement.statement.Action)

describe.each(STAGES)('packaged template: %s', (stage) => {
  const expected = EXPECTED[stage]
  const template = () => service(stage).template

  describe('storage', () => {
    it('encrypts every bucket with the project CMK, versions it and blocks public access', () => {
      const buckets = resourcesOfType(template(), 'AWS::S3::Bucket').map(([id]) => id)
      expect(buckets.sort()).toEqual(
        [...DATA_BUCKETS, ...CODE_BUCKETS, ...LOG_BUCKETS, DEPLOYMENT_BUCKET].sort(),
      )
      for (const id of buckets) {
        const p = props(template(), id)
        const rules = (
          p.BucketEncryption as { ServerSideEncryptionConfiguration: Array<Record<string, unknown>> }
        ).ServerSideEncryptionConfiguration
        expect(rules, id).toEqual([
          {
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': ['DataKey', 'Arn'] },
            },
            BucketKeyEnabled: true,
          },
        ])
        expect(p.VersioningConfiguration, id).toEqual({ Status: 'Enabled' })
        expect(p.PublicAccessBlockConfiguration, id).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        })
        expect(p.OwnershipControls, id).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] })
      }
    })

    it('records every object read and write of every bucket in an encrypted, validated trail', () => {
      const trail = props(template(), 'AccessTrail')
      expect(trail).toMatchObject({
        S3BucketName: { Ref: 'AccessTrailBucket' },
        KMSKeyId: { 'Fn::GetAtt': ['DataKey', 'Arn'] },
        IsLogging: true,
        EnableLogFileValidation: true,
      })
      const [selector] = trail.AdvancedEventSelectors as Array<{
        FieldSelectors: Array<{ Field: string; Equals?: string[]; StartsWith?: unknown[] }>
      }>
      const field = (name: string) => selector?.FieldSelectors.find((f) => f.Field === name)
      expect(field('eventCategory')?.Equals).toEqual(['Data'])
      expect(field('resources.type')?.Equals).toEqual(['AWS::S3::Object'])
      const prefixes = JSON.stringify(field('resources.ARN')?.StartsWith)
      for (const id of [...DATA_BUCKETS, ...CODE_BUCKETS, DEPLOYMENT_BUCKET])
        expect(prefixes, id).toContain(id)
      const key = policyStatements(template()).find((s) => s.where.endsWith('#CloudTrailEncryptsAccessTrail'))
      expect(JSON.stringify(key?.statement.Condition)).toContain(`trail/crypto-data-lake-${stage}-access`)
    })

    it('gives every bucket a policy that denies any request without TLS, on the bucket and its objects', () => {
      for (const id of [...DATA_BUCKETS, ...CODE_BUCKETS, ...LOG_BUCKETS, DEPLOYMENT_BUCKET]) {
        const policies = resourcesOfType(template(), 'AWS::S3::BucketPolicy').filter(
          ([, r]) => refOf(r.Properties?.Bucket) === id,
        )
        expect(policies, id).toHaveLength(1)
        const document = policies[0]?.[1].Properties?.PolicyDocument as {
          Statement: Array<Record<string, unknown>>
        }
        const tls = document.Statement.find(
          (s) =>
            s.Effect === 'Deny' &&
            s.Principal === '*' &&
            s.Action === 's3:*' &&
            JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': false } }),
        )
        expect(tls, `${id}: TLS-only statement`).toBeDefined()
        const resources = JSON.stringify(tls?.Resource)
        expect(resources, id).toContain(id)
        expect(resources, `${id}: objects too`).toContain('/*')
      }
    })

    it('refuses objects encrypted with any other KMS key in the data buckets', () => {
      for (const id of DATA_BUCKETS) {
        const [policyId] =
          resourcesOfType(template(), 'AWS::S3::BucketPolicy').find(
            ([, r]) => refOf(r.Properties?.Bucket) === id,
          ) ?? []
        const statements = (
          props(template(), policyId ?? `${id}Policy`).PolicyDocument as { Statement: unknown[] }
        ).Statement
        expect(statements, id).toContainEqual({
          Sid: 'DenyObjectsEncryptedWithAnotherKey',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:PutObject',
          Resource: { 'Fn::Sub': `\${${id}.Arn}/*` },
          // A request without the header gets the default key: ...IfExists would deny it.
          Condition: {
            Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'false' },
            StringNotEquals: {
              's3:x-amz-server-side-encryption-aws-kms-key-id': { 'Fn::GetAtt': ['DataKey', 'Arn'] },
            },
          },
        })
      }
    })

    it('expires personal data: raw trades and quarantine after the stage PII retention, old versions after a day', () => {
      const rules = (
        props(template(), 'RawBucket').LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }
      ).Rules
      const byId = new Map(rules.map((rule) => [rule.Id, rule]))
      expect(byId.get('ExpireTradesPersonalData')).toEqual({
        Id: 'ExpireTradesPersonalData',
        Status: 'Enabled',
        Prefix: 'raw/crypto.trades/',
        ExpirationInDays: expected.piiRetentionDays,
      })
      expect(byId.get('ExpireQuarantine')).toEqual({
        Id: 'ExpireQuarantine',
        Status: 'Enabled',
        Prefix: 'quarantine/',
        ExpirationInDays: expected.piiRetentionDays,
      })
      expect(byId.get('ExpireNoncurrentVersions')?.NoncurrentVersionExpiration).toEqual({ NoncurrentDays: 1 })
      // Landing markers outlive the lake planner's bound, and no longer.
      const markers = byId.get('ExpireLandingMarkers')
      expect(markers?.Prefix).toBe(LANDED_PREFIX)
      expect(Number(markers?.ExpirationInDays) * 86_400_000).toBeGreaterThan(PLAN_BOUND_MS)
      const deadLetters = (
        props(template(), 'DeadLetterBucket').LifecycleConfiguration as { Rules: unknown[] }
      ).Rules
      // Failed batches hold trades as they were produced: the same retention as the raw zone's.
      expect(deadLetters).toContainEqual(
        expect.objectContaining({
          Id: 'ExpireFailedBatches',
          Status: 'Enabled',
          ExpirationInDays: expected.piiRetentionDays,
        }),
      )
      expect(deadLetters).toContainEqual(
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 1 } }),
      )
    })

    it('rotates the CMK and encrypts the secrets and the alarm topic with it', () => {
      expect(props(template(), 'DataKey').EnableKeyRotation).toBe(true)
      const secrets = resourcesOfType(template(), 'AWS::SecretsManager::Secret')
      expect(secrets.map(([id]) => id).sort()).toEqual(['AlpacaSecret', 'CoinApiSecret', 'PiiHmacSecret'])
      for (const [id, secret] of secrets) expect(refOf(secret.Properties?.KmsKeyId), id).toBe('DataKey')
      expect(props(template(), 'PiiHmacSecret').GenerateSecretString).toEqual({
        PasswordLength: 64,
        ExcludePunctuation: true,
        IncludeSpace: false,
      })
      expect(refOf(props(template(), 'AlarmTopic').KmsMasterKeyId)).toBe('DataKey')
    })
  })

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

    it('scopes Kafka access: poll-bars writes crypto.bars idempotently, index-events reads crypto.* in its groups', () => {
      const statements = policyStatements(template())
      const kafka = (role: string) =>
        statements
          .filter(
            (s) => s.where.startsWith(`${role}/`) && actionsOf(s).some((a) => a.startsWith('kafka-cluster:')),
          )
          .map((s) => ({ actions: actionsOf(s).sort(), resource: JSON.stringify(s.statement.Resource) }))
      const clusterArn = JSON.stringify({ 'Fn::GetAtt': ['MskCluster', 'Arn'] })

      const pollBars = kafka('PollBarsRole')
      expect(pollBars).toContainEqual({
        actions: [
          'kafka-cluster:Connect',
          'kafka-cluster:DescribeCluster',
          'kafka-cluster:WriteDataIdempotently',
        ],
        resource: clusterArn,
      })
      const write = pollBars.find((s) => s.actions.includes('kafka-cluster:WriteData'))
      expect(write?.actions).toEqual(['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'])
      expect(write?.resource).toContain(`:topic/crypto-data-lake-${stage}/\${ClusterUuid}/crypto.bars"`)
      expect(pollBars.some((s) => s.actions.includes('kafka-cluster:ReadData'))).toBe(false)

      const indexEvents = kafka('IndexEventsRole')
      const read = indexEvents.find((s) => s.actions.includes('kafka-cluster:ReadData'))
      expect(read?.actions).toEqual(['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'])
      expect(read?.resource).toContain(`:topic/crypto-data-lake-${stage}/\${ClusterUuid}/crypto.*"`)
      const groups = indexEvents.find((s) => s.actions.includes('kafka-cluster:AlterGroup'))
      for (const topic of ['bars', 'trades', 'assets']) {
        expect(groups?.resource).toContain(
          `:group/crypto-data-lake-${stage}/\${ClusterUuid}/crypto-data-lake-${stage}-index-events-${topic}"`,
        )
      }
      expect(indexEvents.some((s) => s.actions.some((a) => a.startsWith('kafka-cluster:Write')))).toBe(false)
    })

    it('gives each role exactly its Kafka actions, each producer on its own topic only', () => {
      const statements = policyStatements(template())
      const byRole = new Map<string, Array<{ actions: string[]; resource: string }>>()
      for (const s of statements) {
        const role = s.where.split('/')[0] ?? ''
        const actions = actionsOf(s).filter((a) => a.startsWith('kafka-cluster:'))
        if (actions.length === 0) continue
        byRole.set(role, [
          ...(byRole.get(role) ?? []),
          { actions: actions.sort(), resource: JSON.stringify(s.statement.Resource) },
        ])
      }
      const actionsByRole = Object.fromEntries(
        [...byRole].map(([role, list]) => [role, [...new Set(list.flatMap((s) => s.actions))].sort()]),
      )
      expect(actionsByRole).toEqual(KAFKA_ACTIONS)

      const topicOf = (role: string, action: string) =>
        (byRole.get(role) ?? []).filter((s) => s.actions.includes(action)).map((s) => s.resource)
      const topicArn = (topic: string) => `:topic/crypto-data-lake-${stage}/\${ClusterUuid}/${topic}"`
      for (const [role, topic] of [
        ['PollBarsRole', 'crypto.bars'],
        ['BackfillBarsRole', 'crypto.bars'],
        ['SimulateTradesRole', 'crypto.trades'],
        ['RefreshAssetsRole', 'crypto.assets'],
      ] as const) {
        const writes = topicOf(role, 'kafka-cluster:WriteData')
        expect(writes, role).toHaveLength(1)
        expect(writes[0], role).toContain(topicArn(topic))
        expect(writes[0], `${role}: one topic`).not.toContain('crypto.*')
      }
      const landRawGroups = topicOf('LandRawRole', 'kafka-cluster:AlterGroup')
      for (const topic of ['bars', 'trades', 'assets']) {
        expect(landRawGroups[0]).toContain(
          `:group/crypto-data-lake-${stage}/\${ClusterUuid}/crypto-data-lake-${stage}-land-raw-${topic}"`,
        )
      }
      expect(landRawGroups[0]).not.toContain('index-events')
      const creates = topicOf('CreateTopicsRole', 'kafka-cluster:CreateTopic')
      expect(creates).toHaveLength(1)
      for (const topic of KAFKA_TOPICS) expect(creates[0]).toContain(topicArn(topic))
    })

    it('lets land-raw read and conditionally write raw/ only, and the producers write quarantine/ only', () => {
      const s3 = (role: string) =>
        policyStatements(template())
          .filter((s) => s.where.startsWith(`${role}/`) && actionsOf(s).some((a) => a.startsWith('s3:')))
          .map((s) => ({ actions: actionsOf(s).sort(), resource: s.statement.Resource }))
      expect(s3('LandRawRole')).toEqual([
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        { actions: ['s3:GetObject', 's3:PutObject'], resource: { 'Fn::Sub': '${RawBucket.Arn}/raw/*' } },
        { actions: ['s3:ListBucket'], resource: { 'Fn::GetAtt': ['RawBucket', 'Arn'] } },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        { actions: ['s3:PutObject'], resource: { 'Fn::Sub': '${RawBucket.Arn}/quarantine/*' } },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        { actions: ['s3:PutObject'], resource: { 'Fn::Sub': '${DeadLetterBucket.Arn}/*' } },
        { actions: ['s3:ListBucket'], resource: { 'Fn::GetAtt': ['DeadLetterBucket', 'Arn'] } },
      ])
      for (const role of ['SimulateTradesRole', 'RefreshAssetsRole']) {
        expect(s3(role), role).toEqual([
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
          { actions: ['s3:PutObject'], resource: { 'Fn::Sub': '${RawBucket.Arn}/quarantine/*' } },
        ])
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

  describe('functions', () => {
    it('deploys exactly the service functions plus the inline custom-resource functions', () => {
      expect(
        lambdaFunctions(template())
          .map(([id]) => id)
          .sort(),
      ).toEqual(Object.keys(FUNCTION_ROLES).sort())
    })

    it('runs every function on nodejs22.x, arm64, with a log group kept for the stage retention', () => {
      for (const [id, fn] of lambdaFunctions(template())) {
        expect(fn.Properties?.Runtime, id).toBe('nodejs22.x')
        expect(fn.Properties?.Architectures, id).toEqual(['arm64'])
        const logGroup = logGroupOf(template(), id)
        expect(logGroup, `${id}: log group`).toBeDefined()
        expect(props(template(), logGroup ?? '').RetentionInDays, id).toBe(expected.logRetentionDays)
      }
    })

    it('has an Errors alarm for every function, notifying the alarm topic', () => {
      for (const [id] of lambdaFunctions(template())) {
        const alarm = errorsAlarmFor(template(), id)
        expect(alarm, `${id}: Errors alarm`).toBeDefined()
        expect(alarm?.[1].Properties?.AlarmActions, id).toEqual([{ Ref: 'AlarmTopic' }])
      }
    })

    it('runs the service functions in the private subnets, traced and tagged', () => {
      for (const id of SERVICE_FUNCTIONS) {
        const p = props(template(), id)
        expect(p.VpcConfig, id).toEqual({
          SecurityGroupIds: [{ 'Fn::GetAtt': ['LambdaSecurityGroup', 'GroupId'] }],
          SubnetIds: [{ Ref: 'PrivateSubnetA' }, { Ref: 'PrivateSubnetB' }],
        })
        expect(p.TracingConfig, id).toEqual({ Mode: 'Active' })
        expect(p.Tags, id).toEqual(
          expect.arrayContaining([
            { Key: 'project', Value: 'crypto-data-lake' },
            { Key: 'stage', Value: stage },
          ]),
        )
      }
    })

    it('schedules poll-bars and simulate-trades every minute, refresh-assets once a day, nothing else', () => {
      const scheduleOf = (functionId: string) => {
        const rules = resourcesOfType(template(), 'AWS::Events::Rule').filter(([, r]) =>
          asArray(r.Properties?.Targets as Array<{ Arn: unknown }>).some(
            (t) => getAttOf(t.Arn)?.[0] === functionId,
          ),
        )
        const schedules = resourcesOfType(template(), 'AWS::Scheduler::Schedule').filter(
          ([, r]) =>
            getAttOf((r.Properties?.Target as { Arn?: unknown } | undefined)?.Arn)?.[0] === functionId,
        )
        return [...rules, ...schedules].map(([, r]) => r.Properties?.ScheduleExpression)
      }
      expect(Object.fromEntries(lambdaFunctions(template()).map(([id]) => [id, scheduleOf(id)]))).toEqual({
        ...Object.fromEntries(Object.keys(FUNCTION_ROLES).map((id) => [id, []])),
        PollBarsLambdaFunction: ['cron(* * * * ? *)'],
        SimulateTradesLambdaFunction: ['cron(* * * * ? *)'],
        RefreshAssetsLambdaFunction: ['rate(1 day)'],
      })
    })

    it('starts the producers and the event sources only once the topics exist', () => {
      for (const id of [
        'PollBarsLambdaFunction',
        'BackfillBarsLambdaFunction',
        'SimulateTradesLambdaFunction',
        'RefreshAssetsLambdaFunction',
        ...resourcesOfType(template(), 'AWS::Lambda::EventSourceMapping').map(([mapping]) => mapping),
      ]) {
        expect(asArray(template().Resources[id]?.DependsOn), id).toContain('KafkaTopics')
      }
      expect(props(template(), 'KafkaTopics')).toMatchObject({
        ServiceToken: { 'Fn::GetAtt': ['CreateTopicsLambdaFunction', 'Arn'] },
        ClusterArn: { 'Fn::GetAtt': ['MskCluster', 'Arn'] },
      })
    })

    it('gives the other functions the environment their configs need, wired to this stack', () => {
      const envOf = (id: string) =>
        (props(template(), id).Environment as { Variables: Record<string, unknown> }).Variables
      const kafka = {
        KAFKA_BROKERS: { 'Fn::GetAtt': ['KafkaBootstrapBrokers', 'BootstrapBrokerStringSaslIam'] },
        KAFKA_AUTH: 'iam',
      }
      expect(envOf('SimulateTradesLambdaFunction')).toMatchObject({
        ...kafka,
        RAW_BUCKET: { Ref: 'RawBucket' },
        ALPACA_SECRET_ARN: { Ref: 'AlpacaSecret' },
        POPULATION_SEED: `crypto-data-lake-${stage}`,
      })
      expect(envOf('RefreshAssetsLambdaFunction')).toMatchObject({
        ...kafka,
        RAW_BUCKET: { Ref: 'RawBucket' },
        COINAPI_SECRET_ARN: { Ref: 'CoinApiSecret' },
      })
      expect(envOf('LandRawLambdaFunction')).toMatchObject({ RAW_BUCKET: { Ref: 'RawBucket' } })
      expect(envOf('ApplySearchConfigLambdaFunction')).toMatchObject({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        OPENSEARCH_URL: { 'Fn::Sub': 'https://${OpenSearchDomain.DomainEndpoint}' },
        OPENSEARCH_AUTH: 'sigv4',
        OPENSEARCH_REPLICAS: expected.openSearchReplicas,
      })
      expect(envOf('CreateTopicsLambdaFunction')).toMatchObject(kafka)
    })

    it('gives poll-bars the environment its config needs, wired to this stack', () => {
      const env = (
        props(template(), 'PollBarsLambdaFunction').Environment as { Variables: Record<string, unknown> }
      ).Variables
      expect(env).toMatchObject({
        KAFKA_BROKERS: { 'Fn::GetAtt': ['KafkaBootstrapBrokers', 'BootstrapBrokerStringSaslIam'] },
        KAFKA_AUTH: 'iam',
        STATE_BUCKET: { Ref: 'StateBucket' },
        RAW_BUCKET: { Ref: 'RawBucket' },
        ALPACA_SECRET_ARN: { Ref: 'AlpacaSecret' },
        POWERTOOLS_METRICS_NAMESPACE: 'CryptoLake',
      })
      expect(String(env.SYMBOLS ?? '')).toMatch(/^[A-Z0-9]+\/[A-Z]+(,[A-Z0-9]+\/[A-Z]+)*$/)
    })

    it('gives index-events the environment its config needs, wired to this stack', () => {
      const env = (
        props(template(), 'IndexEventsLambdaFunction').Environment as { Variables: Record<string, unknown> }
      ).Variables
      expect(env).toMatchObject({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        OPENSEARCH_URL: { 'Fn::Sub': 'https://${OpenSearchDomain.DomainEndpoint}' },
        OPENSEARCH_AUTH: 'sigv4',
        OPENSEARCH_REPLICAS: expected.openSearchReplicas,
        RAW_BUCKET: { Ref: 'RawBucket' },
        PII_SECRET_ARN: { Ref: 'PiiHmacSecret' },
        POWERTOOLS_METRICS_NAMESPACE: 'CryptoLake',
      })
    })
  })

  describe('MSK event source of index-events', () => {
    const mappings = () =>
      resourcesOfType(template(), 'AWS::Lambda::EventSourceMapping').filter(
        ([, r]) => refOf(r.Properties?.FunctionName) === 'IndexEventsLambdaFunction',
      )

    it('consumes the three topics, one mapping and one consumer group per topic (a Kafka mapping takes one topic)', () => {
      const all = mappings().map(([, r]) => r.Properties ?? {})
      expect(all.map((p) => asArray(p.Topics as string[])).every((topics) => topics.length === 1)).toBe(true)
      expect(all.flatMap((p) => p.Topics as string[]).sort()).toEqual(KAFKA_TOPICS)
      const groups = all.map(
        (p) => (p.AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId: string }).ConsumerGroupId,
      )
      expect(groups.sort()).toEqual(
        ['assets', 'bars', 'trades'].map((topic) => `crypto-data-lake-${stage}-index-events-${topic}`),
      )
    })

    it('reports partial batch failures, bisects failed batches and dead-letters to S3 after bounded retries', () => {
      for (const [id, mapping] of mappings()) {
        const p = mapping.Properties ?? {}
        expect(getAttOf(p.EventSourceArn), id).toEqual(['MskCluster', 'Arn'])
        expect(p.StartingPosition, id).toBe('TRIM_HORIZON')
        expect(p.FunctionResponseTypes, id).toEqual(['ReportBatchItemFailures'])
        expect(p.BisectBatchOnFunctionError, id).toBe(true)
        expect(p.MaximumRetryAttempts, id).toBe(expected.indexEventsMaxRetries)
        expect(p.DestinationConfig, id).toEqual({
          OnFailure: { Destination: { 'Fn::GetAtt': ['DeadLetterBucket', 'Arn'] } },
        })
        expect(p.ProvisionedPollerConfig, id).toMatchObject({
          MinimumPollers: 1,
          PollerGroupName: `crypto-data-lake-${stage}-msk`,
        })
        expect(p.BatchSize, id).toBe(500)
        expect(p.MaximumBatchingWindowInSeconds, id).toBe(1)
      }
    })

    it('sets none of the options an MSK mapping does not support, and never discards records for age', () => {
      for (const [id, mapping] of mappings()) {
        const keys = Object.keys(mapping.Properties ?? {})
        for (const unsupported of [
          'ParallelizationFactor',
          'TumblingWindowInSeconds',
          'Queues',
          'SelfManagedEventSource',
        ]) {
          expect(keys, `${id}: ${unsupported}`).not.toContain(unsupported)
        }
        expect(keys, id).not.toContain('MaximumRecordAgeInSeconds')
      }
    })

    it('lets the function role write the dead-letter bucket the mappings use', () => {
      const statements = policyStatements(template()).filter((s) => s.where.startsWith('IndexEventsRole/'))
      expect(statements.map((s) => s.statement)).toContainEqual({
        Sid: 'OnFailureDestination',
        Effect: 'Allow',
        Action: 's3:PutObject',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        Resource: { 'Fn::Sub': '${DeadLetterBucket.Arn}/*' },
      })
    })
  })

  describe('MSK event source of land-raw', () => {
    const mappings = () =>
      resourcesOfType(template(), 'AWS::Lambda::EventSourceMapping').filter(
        ([, r]) => refOf(r.Properties?.FunctionName) === 'LandRawLambdaFunction',
      )

    it('consumes the three topics in consumer groups of its own, apart from index-events', () => {
      const all = mappings().map(([, r]) => r.Properties ?? {})
      expect(all.flatMap((p) => p.Topics as string[]).sort()).toEqual(KAFKA_TOPICS)
      expect(
        all
          .map((p) => (p.AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId: string }).ConsumerGroupId)
          .sort(),
      ).toEqual(['assets', 'bars', 'trades'].map((topic) => `crypto-data-lake-${stage}-land-raw-${topic}`))
      const everyGroup = resourcesOfType(template(), 'AWS::Lambda::EventSourceMapping').map(
        ([, r]) =>
          (r.Properties?.AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId?: string } | undefined)
            ?.ConsumerGroupId,
      )
      expect(everyGroup).toHaveLength(6)
      expect(new Set(everyGroup).size, 'group ids are unique among the mappings').toBe(6)
    })

    it('reports partial batch failures, bisects, dead-letters to S3, and batches up to a minute', () => {
      for (const [id, mapping] of mappings()) {
        const p = mapping.Properties ?? {}
        expect(getAttOf(p.EventSourceArn), id).toEqual(['MskCluster', 'Arn'])
        expect(p.StartingPosition, id).toBe('TRIM_HORIZON')
        expect(p.FunctionResponseTypes, id).toEqual(['ReportBatchItemFailures'])
        expect(p.BisectBatchOnFunctionError, id).toBe(true)
        expect(p.MaximumRetryAttempts, id).toBe(expected.landRawMaxRetries)
        expect(p.DestinationConfig, id).toEqual({
          OnFailure: { Destination: { 'Fn::GetAtt': ['DeadLetterBucket', 'Arn'] } },
        })
        expect(p.ProvisionedPollerConfig, id).toMatchObject({
          MinimumPollers: 1,
          PollerGroupName: `crypto-data-lake-${stage}-msk`,
        })
        expect(p.BatchSize, id).toBe(1000)
        expect(p.MaximumBatchingWindowInSeconds, id).toBe(60)
        expect(Object.keys(p), id).not.toContain('MaximumRecordAgeInSeconds')
      }
    })
  })

  describe('alarms', () => {
    it('watch only metrics that exist (tests/fixtures/aws-metrics.json), and notify the topic on ALARM and OK', async () => {
      const fixture = JSON.parse(
        await readFile(join(projectRoot, 'tests/fixtures/aws-metrics.json'), 'utf8'),
      ) as {
        namespaces: Record<string, { metrics: string[] }>
      }
      const alarms = resourcesOfType(template(), 'AWS::CloudWatch::Alarm')
      expect(alarms.length).toBeGreaterThan(0)
      for (const [id, alarm] of alarms) {
        const p = alarm.Properties ?? {}
        const pairs = alarmMetrics(p)
        expect(pairs.length, `${id}: watches a metric`).toBeGreaterThan(0)
        for (const [namespace, metric] of pairs) {
          expect(fixture.namespaces[namespace]?.metrics ?? [], `${id}: ${namespace} ${metric}`).toContain(
            metric,
          )
        }
        expect(p.AlarmActions, id).toEqual([{ Ref: 'AlarmTopic' }])
        expect(p.OKActions, id).toEqual([{ Ref: 'AlarmTopic' }])
      }
    })

    it('covers throttles, index lag, quarantine, freshness and dead letters', () => {
      const watched = resourcesOfType(template(), 'AWS::CloudWatch::Alarm').map(([id, r]) => [
        id,
        alarmMetrics(r.Properties ?? {}).map(([ns, m]) => `${ns} ${m}`),
      ])
      const index = Object.fromEntries(watched)
      expect(index.PollBarsThrottlesAlarm).toEqual(['AWS/Lambda Throttles'])
      expect(index.IndexEventsThrottlesAlarm).toEqual(['AWS/Lambda Throttles'])
      expect(index.IndexEventsOffsetLagAlarm).toEqual(['AWS/Lambda OffsetLag'])
      expect(index.RecordsQuarantinedAlarm).toEqual(['CryptoLake RecordsQuarantined'])
      expect(index.BarsFreshnessAlarm).toEqual(['CryptoLake BarsEmitted'])
      expect(index.WatermarkLagAlarm).toEqual(['CryptoLake WatermarkLagMinutes'])
      expect(index.DeadLetterBucketNotEmptyAlarm).toEqual(['AWS/S3 BucketSizeBytes'])
      expect(index.SimulateTradesThrottlesAlarm).toEqual(['AWS/Lambda Throttles'])
      expect(index.RefreshAssetsThrottlesAlarm).toEqual(['AWS/Lambda Throttles'])
      expect(index.LandRawThrottlesAlarm).toEqual(['AWS/Lambda Throttles'])
      expect(index.LandRawOffsetLagAlarm).toEqual(['AWS/Lambda OffsetLag'])
      expect(index.RawBucketSizeAlarm).toEqual(['AWS/S3 BucketSizeBytes'])
      expect(index.LakeBucketSizeAlarm).toEqual(['AWS/S3 BucketSizeBytes'])
      expect(index.BatchItemFailuresAlarm).toEqual(['CryptoLake BatchItemFailures'])
      expect(index.OpenSearchClusterRedAlarm).toEqual(['AWS/ES ClusterStatus.red'])
      expect(index.OpenSearchWritesBlockedAlarm).toEqual(['AWS/ES ClusterIndexWritesBlocked'])
      expect(index.OpenSearchFreeStorageAlarm).toEqual(['AWS/ES FreeStorageSpace'])
      expect(index.OpenSearchJvmPressureAlarm).toEqual(['AWS/ES JVMMemoryPressure'])
    })

    it('watches the OpenSearch domain by DomainName and ClientId, free storage as a share of the volume', () => {
      const domain = [
        { Name: 'DomainName', Value: { Ref: 'OpenSearchDomain' } },
        { Name: 'ClientId', Value: { Ref: 'AWS::AccountId' } },
      ]
      for (const id of [
        'OpenSearchClusterRedAlarm',
        'OpenSearchWritesBlockedAlarm',
        'OpenSearchJvmPressureAlarm',
      ]) {
        expect(props(template(), id).Dimensions, id).toEqual(domain)
      }
      const storage = props(template(), 'OpenSearchFreeStorageAlarm')
      const metrics = storage.Metrics as Array<Record<string, unknown>>
      expect(metrics[0]?.MetricStat).toEqual({
        Metric: { Namespace: 'AWS/ES', MetricName: 'FreeStorageSpace', Dimensions: domain },
        Period: 60,
        Stat: 'Minimum',
      })
      const volumeGiB = (props(template(), 'OpenSearchDomain').EBSOptions as { VolumeSize: number })
        .VolumeSize
      expect(metrics[1]?.Expression).toBe(`100 * free / (${volumeGiB} * 1024)`)
      expect([storage.Threshold, storage.ComparisonOperator]).toEqual([25, 'LessThanOrEqualToThreshold'])
    })

    it('mails every object the event sources dead-letter, as soon as it is written', () => {
      const bucket = props(template(), 'DeadLetterBucket')
      expect(bucket.NotificationConfiguration).toEqual({
        EventBridgeConfiguration: { EventBridgeEnabled: true },
      })
      const rule = props(template(), 'DeadLetterObjectCreatedRule')
      expect(rule.EventPattern).toEqual({
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: {
          bucket: { name: [{ Ref: 'DeadLetterBucket' }] },
          object: { key: [{ 'anything-but': { prefix: 'redriven/' } }] },
        },
      })
      const targets = rule.Targets as Array<Record<string, unknown>>
      expect(targets.map((t) => t.Arn)).toEqual([{ Ref: 'AlarmTopic' }])
      expect((targets[0]?.InputTransformer as { InputPathsMap: unknown } | undefined)?.InputPathsMap).toEqual(
        {
          bucket: '$.detail.bucket.name',
          key: '$.detail.object.key',
          time: '$.time',
        },
      )
    })

    it('measures bucket size in GiB against the stage threshold', () => {
      for (const [id, bucket, gib] of [
        ['RawBucketSizeAlarm', 'RawBucket', expected.rawBucketAlarmGiB],
        ['LakeBucketSizeAlarm', 'LakeBucket', expected.lakeBucketAlarmGiB],
      ] as const) {
        const p = props(template(), id)
        const metrics = p.Metrics as Array<Record<string, unknown>>
        expect(metrics[0]?.MetricStat, id).toEqual({
          Metric: {
            Namespace: 'AWS/S3',
            MetricName: 'BucketSizeBytes',
            Dimensions: [
              { Name: 'BucketName', Value: { Ref: bucket } },
              { Name: 'StorageType', Value: 'StandardStorage' },
            ],
          },
          Period: 86400,
          Stat: 'Maximum',
        })
        expect(metrics[1]?.Expression, id).toBe('bytes / 1073741824')
        expect(p.Threshold, id).toBe(gib)
      }
    })

    it('lets CloudWatch, EventBridge and Budgets publish to the encrypted topic, for this account only', () => {
      const policy = props(template(), 'AlarmTopicPolicy')
      expect(policy.Topics).toEqual([{ Ref: 'AlarmTopic' }])
      const statements = (policy.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement
      const services = statements.filter((s) => (s.Principal as { Service?: string }).Service)
      expect(services.map((s) => (s.Principal as { Service: string }).Service).sort()).toEqual([
        'budgets.amazonaws.com',
        'cloudwatch.amazonaws.com',
        'events.amazonaws.com',
      ])
      const account = statements.filter((s) => !(s.Principal as { Service?: string }).Service)
      expect(account.map((s) => s.Principal)).toEqual([
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } },
      ])
      for (const s of services) {
        expect(s.Action).toBe('sns:Publish')
        expect(s.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } })
      }
      const key = policyStatements(template()).find(
        (s) => s.where === 'DataKey#EventsAndBudgetsPublishToEncryptedTopic',
      )
      expect(key?.statement.Principal).toEqual({ Service: ['events.amazonaws.com', 'budgets.amazonaws.com'] })
    })

    it('treats missing BarsEmitted data as breaching: silence is the outage', () => {
      const p = props(template(), 'BarsFreshnessAlarm')
      expect(p.TreatMissingData).toBe('breaching')
      expect(p.ComparisonOperator).toBe('LessThanThreshold')
      expect(p.Threshold).toBe(1)
    })

    it('e-mails the alarm topic to the stage address', () => {
      expect(props(template(), 'AlarmEmailSubscription')).toEqual({
        TopicArn: { Ref: 'AlarmTopic' },
        Protocol: 'email',
        Endpoint: expected.alarmEmail,
      })
    })
  })

  describe('data services', () => {
    it('runs OpenSearch 2.19 in the VPC, encrypted at rest with the CMK and between nodes, HTTPS only', () => {
      const p = props(template(), 'OpenSearchDomain')
      expect(p.EngineVersion).toBe('OpenSearch_2.19')
      expect(p.EncryptionAtRestOptions).toEqual({ Enabled: true, KmsKeyId: { Ref: 'DataKey' } })
      expect(p.NodeToNodeEncryptionOptions).toEqual({ Enabled: true })
      expect(p.DomainEndpointOptions).toEqual({
        EnforceHTTPS: true,
        TLSSecurityPolicy: 'Policy-Min-TLS-1-2-PFS-2023-10',
      })
      expect((p.VPCOptions as { SecurityGroupIds: unknown }).SecurityGroupIds).toEqual([
        { 'Fn::GetAtt': ['OpenSearchSecurityGroup', 'GroupId'] },
      ])
      expect((p.ClusterConfig as { InstanceType: string }).InstanceType).toBe(expected.openSearchInstanceType)
      expect(template().Parameters?.OpenSearchMultiAz?.Default).toBe(expected.openSearchMultiAz)
    })

    it('runs MSK Serverless with IAM auth in the private subnets', () => {
      expect(props(template(), 'MskCluster')).toMatchObject({
        ClusterName: `crypto-data-lake-${stage}`,
        ClientAuthentication: { Sasl: { Iam: { Enabled: true } } },
        VpcConfigs: [
          {
            SubnetIds: [{ Ref: 'PrivateSubnetA' }, { Ref: 'PrivateSubnetB' }],
            SecurityGroups: [{ 'Fn::GetAtt': ['MskSecurityGroup', 'GroupId'] }],
          },
        ],
      })
      expect(props(template(), 'KafkaBootstrapBrokers')).toMatchObject({
        ServiceToken: { 'Fn::GetAtt': ['KafkaBootstrapBrokersFunction', 'Arn'] },
        ClusterArn: { 'Fn::GetAtt': ['MskCluster', 'Arn'] },
      })
    })

    it('reaches S3 and Secrets Manager through VPC endpoints and the internet through one NAT gateway', () => {
      expect(props(template(), 'S3GatewayEndpoint')).toMatchObject({
        VpcEndpointType: 'Gateway',
        RouteTableIds: [{ Ref: 'PrivateRouteTable' }],
      })
      expect(props(template(), 'SecretsManagerEndpoint')).toMatchObject({
        VpcEndpointType: 'Interface',
        PrivateDnsEnabled: true,
      })
      expect(resourcesOfType(template(), 'AWS::EC2::NatGateway').map(([id]) => id)).toEqual(['NatGateway'])
      expect(props(template(), 'PrivateDefaultRoute')).toMatchObject({ NatGatewayId: { Ref: 'NatGateway' } })
    })
  })

  describe('bundles', () => {
    const serviceFunctions = () =>
      lambdaFunctions(template()).filter(
        ([id]) => (props(template(), id).Code as { S3Key?: string }).S3Key !== undefined,
      )

    it('packages every function as an ESM .mjs bundle with the createRequire banner and the AWS SDK left out', async () => {
      expect(
        serviceFunctions()
          .map(([id]) => id)
          .sort(),
      ).toEqual([...SERVICE_FUNCTIONS].sort())
      for (const [id, fn] of serviceFunctions()) {
        const key = (props(template(), id).Code as { S3Key: string }).S3Key
        const zipName = basename(key)
        expect(service(stage).files, id).toContain(zipName)
        const entries = readZip(await readFile(join(service(stage).dir, zipName)))
        const handler = String(fn.Properties?.Handler)
        const file = `${handler.slice(0, handler.lastIndexOf('.'))}.mjs`
        const exported = handler.slice(handler.lastIndexOf('.') + 1)
        const code = entries.get(file)?.toString('utf8') ?? ''
        expect(code.length, `${id}: ${file} in ${zipName}`).toBeGreaterThan(0)
        expect(
          code.startsWith(
            "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
          ),
          id,
        ).toBe(true)
        expect(code, id).toMatch(new RegExp(`export\\s*\\{[^}]*\\b${exported}\\b[^}]*\\}`))
        // Modules loaded at run time: ESM imports, and require() through the banner's require
        // (a short minified alias). Only what the nodejs22.x runtime ships may stay outside.
        const loaded = [
          ...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|(?<![.\w$])[\w$]{1,3}\(\s*)"(@aws-sdk\/[\w.-]+)"/g),
        ].map((match) => match[1])
        expect(
          [...new Set(loaded)].filter((name) => !RUNTIME_SDK.test(name ?? '')),
          `${id}: AWS SDK packages loaded at run time that the runtime does not ship`,
        ).toEqual([])
        const map = JSON.parse(entries.get(`${file}.map`)?.toString('utf8') ?? '{"sources":[]}') as {
          sources: string[]
        }
        expect(map.sources.length, `${id}: source map`).toBeGreaterThan(0)
        expect(
          map.sources.filter((source) => /node_modules\/@aws-sdk\/client-/.test(source)),
          `${id}: the runtime's SDK clients are imported, not bundled`,
        ).toEqual([])
      }
    })

    it("loads each bundle as an ES module and its config accepts the template's environment", async () => {
      const run = promisify(execFile)
      // Inside the project, so the externals (@aws-sdk/*) resolve as the runtime would provide them.
      const root = join(projectRoot, '.local', 'contract-bundles', stage)
      await rm(root, { recursive: true, force: true })
      const stand = {
        KafkaBootstrapBrokers: 'boot-abc.c1.kafka-serverless.us-east-1.amazonaws.com:9098',
        OpenSearchDomain: 'vpc-crypto-data-lake.us-east-1.es.amazonaws.com',
      } as Record<string, string>
      const resolve = (value: unknown): string => {
        if (typeof value === 'string') return value
        const ref = refOf(value)
        if (ref)
          return ref.endsWith('Secret')
            ? `arn:aws:secretsmanager:us-east-1:123456789012:secret:${ref}`
            : ref.toLowerCase()
        const att = getAttOf(value)
        if (att) return stand[att[0]] ?? `${att[0]}.${att[1]}`
        const sub = (value as { 'Fn::Sub'?: string })['Fn::Sub']
        if (typeof sub === 'string')
          return sub.replace(/\$\{(\w+)\.\w+\}/g, (_m, id: string) => stand[id] ?? id)
        throw new Error(`cannot stand in for ${JSON.stringify(value)}`)
      }
      try {
        for (const [id, fn] of serviceFunctions()) {
          const dir = join(root, id)
          await mkdir(dir, { recursive: true })
          const zipName = basename((props(template(), id).Code as { S3Key: string }).S3Key)
          for (const [name, data] of readZip(await readFile(join(service(stage).dir, zipName)))) {
            await mkdir(join(dir, name, '..'), { recursive: true })
            await writeFile(join(dir, name), data)
          }
          const handler = String(fn.Properties?.Handler)
          const file = join(dir, `${handler.slice(0, handler.lastIndexOf('.'))}.mjs`)
          const variables = (props(template(), id).Environment as { Variables: Record<string, unknown> })
            .Variables
          const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_REGION: 'us-east-1' }
          for (const [name, value] of Object.entries(variables)) env[name] = resolve(value)
          const probe = `const m = await import(${JSON.stringify(file)}); console.log(typeof m.${handler.slice(handler.lastIndexOf('.') + 1)}); process.exit(0)`
          const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], {
            env,
            timeout: 30_000,
          })
          expect(stdout.trim(), id).toBe('function')
        }
      } finally {
        await rm(root, { recursive: true, force: true })
      }
    })
  })

  describe('state machines', () => {
    const machines = () => resourcesOfType(template(), 'AWS::StepFunctions::StateMachine')

    it('deploys lake-refresh and lake-maintenance with the explicit role of resources/lake.yml', () => {
      expect(
        machines()
          .map(([, r]) => r.Properties?.StateMachineName)
          .sort(),
      ).toEqual([
        `crypto-data-lake-${stage}-backfill-bars`,
        `crypto-data-lake-${stage}-lake-maintenance`,
        `crypto-data-lake-${stage}-lake-refresh`,
      ])
      // backfill-bars has a role of its own (tests/contract/backfill.test.ts).
      for (const [id, r] of machines().filter(([id]) => id !== 'BackfillBarsStateMachine'))
        expect(getAttOf(r.Properties?.RoleArn), id).toEqual(['LakeStateMachineRole', 'Arn'])
    })

    it('passes asl-validator for every definition', () => {
      for (const [id] of machines()) {
        const result = validateAsl(definitionOf(template(), id))
        expect(result.errorsText(), id).toBe('')
        expect(result.isValid, id).toBe(true)
      }
    })

    // The one exception to Catch: the failure notifier, which every Catch leads to and which leads
    // only to a Fail state - a Catch there could only go to that same Fail state.
    it('gives every Task state a Retry with backoff, and a Catch unless it is the failure notifier', () => {
      const missing: string[] = []
      for (const [id] of machines()) {
        const states = allStates(definitionOf(template(), id))
        const byName = new Map(states)
        const catchTargets = new Set(
          states.flatMap(([, s]) =>
            asArray(s.Catch as Array<{ Next: string }> | undefined).map((c) => c.Next),
          ),
        )
        for (const [name, state] of states) {
          if (state.Type !== 'Task') continue
          const retry = asArray(state.Retry as Array<{ BackoffRate?: number }> | undefined)
          if (retry.length === 0 || !retry.every((r) => (r.BackoffRate ?? 2) > 1))
            missing.push(`${id}.${name}: Retry with backoff`)
          const notifier =
            catchTargets.has(name) &&
            state.Resource === 'arn:aws:states:::sns:publish' &&
            byName.get(String(state.Next))?.Type === 'Fail'
          if (!notifier && asArray(state.Catch as unknown[] | undefined).length === 0)
            missing.push(`${id}.${name}: Catch`)
        }
        expect(catchTargets.size, `${id}: failures are caught somewhere`).toBeGreaterThan(0)
      }
      expect(missing).toEqual([])
    })

    it('alarms on failed and timed-out executions of every state machine', () => {
      for (const [id, machine] of machines()) {
        const arn = `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${String(machine.Properties?.StateMachineName)}`
        for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
          const alarm = resourcesOfType(template(), 'AWS::CloudWatch::Alarm').find(([, r]) => {
            const p = r.Properties ?? {}
            return (
              p.Namespace === 'AWS/States' &&
              p.MetricName === metric &&
              asArray(p.Dimensions as Array<{ Name: string; Value: unknown }>).some(
                (d) =>
                  d.Name === 'StateMachineArn' &&
                  JSON.stringify(d.Value) === JSON.stringify({ 'Fn::Sub': arn }),
              )
            )
          })
          expect(alarm, `${id}: ${metric}`).toBeDefined()
        }
      }
    })

    it('notifies no single EMR job run: a Retry may heal it, only a finally failed execution notifies', () => {
      const emrRules = resourcesOfType(template(), 'AWS::Events::Rule').filter(([, r]) =>
        JSON.stringify(r.Properties?.EventPattern ?? {}).includes('aws.emr-serverless'),
      )
      expect(emrRules.map(([id]) => id)).toEqual([])
    })

    const scheduleOfMachine = (machineName: string) => {
      const [id] = machines().find(([, r]) => r.Properties?.StateMachineName === machineName) ?? []
      return resourcesOfType(template(), 'AWS::Events::Rule')
        .filter(([, r]) =>
          asArray(r.Properties?.Targets as Array<{ Arn: unknown; Input?: string }>).some(
            (t) => JSON.stringify(t.Arn) === JSON.stringify({ Ref: id }),
          ),
        )
        .map(([, r]) => ({
          expression: r.Properties?.ScheduleExpression,
          input: asArray(r.Properties?.Targets as Array<{ Input?: string }>)[0]?.Input,
        }))
    }

    it('schedules lake-refresh hourly and lake-maintenance daily with cron at different minutes, never together', () => {
      const refresh = scheduleOfMachine(`crypto-data-lake-${stage}-lake-refresh`)
      const maintenance = scheduleOfMachine(`crypto-data-lake-${stage}-lake-maintenance`)
      expect(refresh).toEqual([{ expression: 'cron(7 * * * ? *)', input: '{}' }])
      expect(maintenance).toEqual([{ expression: 'cron(37 3 * * ? *)', input: '{}' }])
      // cron fires at second 0 of its minute: disjoint minutes of the hour never coincide, whereas
      // two rate rules of one deploy fire at the same second (their creation).
      const minuteOf = (expression: unknown) => String(expression).replace(/^cron\((\S+) .*$/, '$1')
      expect(minuteOf(refresh[0]?.expression)).not.toBe(minuteOf(maintenance[0]?.expression))
    })

    it('lets lake-window read only the lake state of the raw bucket, and the state machine write only the checkpoint', () => {
      const window = props(template(), 'LakeWindowRole')
      const statements = (
        window.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, unknown>> } }>
      ).flatMap((policy) => policy.PolicyDocument.Statement)
      const s3 = statements.filter((st) => asArray(st.Action as string[]).some((a) => a.startsWith('s3:')))
      expect(s3).toEqual([
        {
          Sid: 'ListLandingMarkers',
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Resource: { 'Fn::GetAtt': ['RawBucket', 'Arn'] },
          Condition: { StringLike: { 's3:prefix': 'raw/_lake/*' } },
        },
        {
          Sid: 'ReadLakeState',
          Effect: 'Allow',
          Action: 's3:GetObject',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JS
          Resource: { 'Fn::Sub': '${RawBucket.Arn}/raw/_lake/*' },
        },
      ])
      const machine = props(template(), 'LakeStateMachineRole')
      const machineS3 = (
        machine.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, unknown>> } }>
      )
        .flatMap((policy) => policy.PolicyDocument.Statement)
        .filter((st) => asArray(st.Action as string[]).some((a) => a.startsWith('s3:')))
      expect(machineS3).toEqual([
        {
          Sid: 'WriteRefreshCheckpoint',
          Effect: 'Allow',
          Action: 's3:PutObject',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JS
          Resource: { 'Fn::Sub': '${RawBucket.Arn}/raw/_lake/refresh-checkpoint.json' },
        },
      ])
    })
  })

  describe('tags', () => {
    it('tags every taggable resource (per its CloudFormation schema) with project, stage and managed-by', async () => {
      const resources = Object.entries(template().Resources)
      const tagging = await taggingOf(resources.map(([, r]) => r.Type))
      const untagged: string[] = []
      let checked = 0
      for (const [id, r] of resources) {
        const declared = tagging.get(r.Type)
        if (!declared?.taggable || !declared.property) continue
        checked++
        const value = r.Properties?.[declared.property]
        const tags: Record<string, unknown> = Array.isArray(value)
          ? Object.fromEntries((value as Array<{ Key: string; Value: unknown }>).map((t) => [t.Key, t.Value]))
          : ((value as Record<string, unknown> | undefined) ?? {})
        for (const [key, wanted] of Object.entries(REQUIRED_TAGS(stage))) {
          if (tags[key] !== wanted) untagged.push(`${id} (${r.Type}).${declared.property}: ${key}`)
        }
      }
      expect(untagged).toEqual([])
      expect(checked).toBeGreaterThan(80)
    })

    it('leaves untagged only the types that take no tags: custom resources have no schema at all', async () => {
      const tagging = await taggingOf(Object.values(template().Resources).map((r) => r.Type))
      const withoutSchema = [...tagging].filter(([, t]) => t === undefined).map(([type]) => type)
      expect(
        withoutSchema.every((type) => type.startsWith('Custom::')),
        withoutSchema.join(', '),
      ).toBe(true)
      expect(template().Resources.MskCluster?.Properties?.Tags).toEqual(REQUIRED_TAGS(stage))
    })
  })

  describe('Macie', () => {
    it('enables Macie unless the stage says the account already has it, keeps it on stack deletion, publishes findings every 15 minutes', () => {
      expect(template().Parameters?.EnableMacieSession?.Default).toBe('true')
      expect(template().Resources.MacieSession).toEqual({
        Type: 'AWS::Macie::Session',
        Condition: 'CreateMacieSession',
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: { Status: 'ENABLED', FindingPublishingFrequency: 'FIFTEEN_MINUTES' },
      })
    })

    it('schedules a classification job on the raw and dead-letter buckets with the CPF, e-mail and name identifiers', () => {
      const p = props(template(), 'MacieClassificationJob')
      expect(p).toMatchObject({
        ServiceToken: { 'Fn::GetAtt': ['MacieClassificationJobFunction', 'Arn'] },
        BucketNames: [{ Ref: 'RawBucket' }, { Ref: 'DeadLetterBucket' }],
        AccountId: { 'Fn::If': ['CreateMacieSession', { Ref: 'MacieSession' }, { Ref: 'AWS::AccountId' }] },
        Schedule: expected.macieSchedule,
        SamplingPercentage: Number(expected.macieSamplingPercentage),
        CustomDataIdentifierIds: [
          { 'Fn::GetAtt': ['DocumentIdCpfIdentifier', 'Id'] },
          { 'Fn::GetAtt': ['DocumentIdInBase64Identifier', 'Id'] },
        ],
      })
      expect(p.ManagedDataIdentifierIds).toEqual(
        expect.arrayContaining(['BRAZIL_CPF_NUMBER', 'EMAIL_ADDRESS', 'NAME']),
      )
      expect(props(template(), 'DocumentIdCpfIdentifier')).toMatchObject({
        Regex: '\\b\\d{11}\\b',
        Keywords: ['document_id'],
      })
    })

    it('sends findings outside the expected trades prefix, and policy findings on either bucket, from EventBridge to the alarm topic', () => {
      const rule = props(template(), 'MacieFindingsRule')
      expect(rule.Targets).toEqual([{ Id: 'alarm-topic', Arn: { Ref: 'AlarmTopic' } }])
      expect(rule.EventPattern).toEqual({
        source: ['aws.macie'],
        'detail-type': ['Macie Finding'],
        detail: {
          $or: [
            {
              category: ['POLICY'],
              resourcesAffected: { s3Bucket: { name: [{ Ref: 'RawBucket' }, { Ref: 'DeadLetterBucket' }] } },
            },
            {
              resourcesAffected: {
                s3Bucket: { name: [{ Ref: 'RawBucket' }] },
                s3Object: { key: [{ 'anything-but': { prefix: 'raw/crypto.trades/' } }] },
              },
            },
          ],
        },
      })
    })

    it('lets the job custom resource manage classification jobs only', () => {
      const statements = policyStatements(template()).filter((s) =>
        s.where.startsWith('MacieClassificationJobRole/'),
      )
      expect(statements.flatMap((s) => actionsOf(s)).sort()).toEqual([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'macie2:CreateClassificationJob',
        'macie2:TagResource',
        'macie2:UpdateClassificationJob',
      ])
    })
  })

  describe('budget, dashboard and deploy-time configuration', () => {
    it('budgets the stage per month on its project and stage tags, alerting the topic at 80 % actual and 100 % forecast', () => {
      const p = props(template(), 'CostBudget')
      expect(p.Budget).toEqual({
        BudgetName: `crypto-data-lake-${stage}-monthly`,
        BudgetType: 'COST',
        TimeUnit: 'MONTHLY',
        BudgetLimit: { Amount: expected.monthlyBudgetUsd, Unit: 'USD' },
        FilterExpression: {
          And: [
            { Tags: { Key: 'project', Values: ['crypto-data-lake'], MatchOptions: ['EQUALS'] } },
            { Tags: { Key: 'stage', Values: [stage], MatchOptions: ['EQUALS'] } },
          ],
        },
      })
      const notifications = p.NotificationsWithSubscribers as Array<{
        Notification: Record<string, unknown>
        Subscribers: unknown[]
      }>
      expect(notifications.map((n) => [n.Notification.NotificationType, n.Notification.Threshold])).toEqual([
        ['ACTUAL', 80],
        ['FORECASTED', 100],
      ])
      for (const n of notifications)
        expect(n.Subscribers).toEqual([{ SubscriptionType: 'SNS', Address: { Ref: 'AlarmTopic' } }])
    })

    it('draws a dashboard whose widgets name only metrics that exist and resources of this stack', async () => {
      const fixture = JSON.parse(
        await readFile(join(projectRoot, 'tests/fixtures/aws-metrics.json'), 'utf8'),
      ) as {
        namespaces: Record<string, { metrics: string[] }>
      }
      const [text, variables] = (
        props(template(), 'OperationsDashboard').DashboardBody as {
          'Fn::Sub': [string, Record<string, unknown>]
        }
      )['Fn::Sub']
      for (const [name, value] of Object.entries(variables)) {
        const target = refOf(value) ?? getAttOf(value)?.[0]
        if (target) expect(template().Resources[target], name).toBeDefined()
      }
      const body = JSON.parse(
        text.replace(/\$\{([\w:]+)\}/g, (_m, name: string) => {
          if (name.startsWith('AWS::') || name in variables) return `stand-in-${name}`
          throw new Error(`dashboard names \${${name}}, which the Fn::Sub does not define`)
        }),
      ) as { widgets: Array<{ type: string; properties: { metrics?: unknown[][] } }> }
      const used: string[] = []
      for (const widget of body.widgets.filter((w) => w.type === 'metric')) {
        for (const line of widget.properties.metrics ?? []) {
          const first = line[0]
          if (typeof first === 'string') used.push(`${first} ${String(line[1])}`)
          else {
            const sql = /^SELECT\s+\w+\((\w+)\)\s+FROM\s+(\w+)/.exec(
              String((first as { expression?: string }).expression),
            )
            used.push(sql ? `${sql[2]} ${sql[1]}` : `unparsed ${JSON.stringify(first)}`)
          }
        }
      }
      expect(used.length).toBeGreaterThan(10)
      const unknown = used.filter((pair) => {
        const [namespace = '', metric = ''] = pair.split(' ')
        return !(fixture.namespaces[namespace]?.metrics ?? []).includes(metric)
      })
      expect(unknown).toEqual([])
    })

    it('applies the search config at deploy, again whenever its code or the replica count changes', () => {
      const p = props(template(), 'SearchConfig')
      expect(template().Resources.SearchConfig?.Type).toBe('Custom::SearchConfig')
      expect(p).toMatchObject({
        ServiceToken: { 'Fn::GetAtt': ['ApplySearchConfigLambdaFunction', 'Arn'] },
        ServiceTimeout: 300,
        DomainEndpoint: { 'Fn::GetAtt': ['OpenSearchDomain', 'DomainEndpoint'] },
        Replicas: Number(expected.openSearchReplicas),
      })
      expect(String(p.ConfigHash)).toMatch(/^[0-9a-f]{16}$/)
      // Same code in both stages, so the same version.
      expect(p.ConfigHash).toBe(props(service('dev').template, 'SearchConfig').ConfigHash)
    })
  })

  it('passes cfn-lint with no errors or warnings', async () => {
    const result = await (linted.get(stage) ?? Promise.reject(new Error(`stage ${stage} was not linted`)))
    expect(result.output).toBe('')
    expect(result.code).toBe(0)
  })
})

describe('custom metrics in tests/fixtures/aws-metrics.json', () => {
  it('are each still emitted by some function', async () => {
    const fixture = JSON.parse(
      await readFile(join(projectRoot, 'tests/fixtures/aws-metrics.json'), 'utf8'),
    ) as {
      namespaces: Record<string, { metrics: string[] }>
    }
    const sources: string[] = []
    const walk = async (dir: string) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) await walk(join(dir, entry.name))
        else if (entry.name.endsWith('.ts')) sources.push(await readFile(join(dir, entry.name), 'utf8'))
      }
    }
    await walk(join(projectRoot, 'functions'))
    const code = sources.join('\n')
    const missing = (fixture.namespaces.CryptoLake?.metrics ?? []).filter(
      (metric) => !code.includes(`'${metric}'`),
    )
    expect(missing).toEqual([])
  })
})

describe('Custom::KafkaBootstrapBrokers (the inline code in resources/msk.yml, run as Lambda would)', () => {
  const zipFile = () =>
    String(
      (props(service('dev').template, 'KafkaBootstrapBrokersFunction').Code as { ZipFile: string }).ZipFile,
    )
  const clusterArn =
    'arn:aws:kafka:us-east-1:123456789012:cluster/crypto-data-lake-dev/0f1e2d3c-aaaa-bbbb-cccc-123456789abc-s1'
  const baseEvent = {
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/guid',
    RequestId: 'req-1',
    LogicalResourceId: 'KafkaBootstrapBrokers',
    ResourceType: 'Custom::KafkaBootstrapBrokers',
    ResourceProperties: {
      ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:x',
      ClusterArn: clusterArn,
    },
  }

  it('answers Create with the SASL/IAM broker string of the cluster', async () => {
    const asked: string[] = []
    const { answers, error } = await invokeInlineCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Create' },
      {
        async getBootstrapBrokers(input) {
          asked.push(input.ClusterArn)
          return { BootstrapBrokerStringSaslIam: 'boot-1.example:9098,boot-2.example:9098' }
        },
      },
    )
    expect(error).toBeUndefined()
    expect(asked).toEqual([clusterArn])
    expect(answers).toEqual([
      {
        method: 'PUT',
        contentType: '',
        body: {
          Status: 'SUCCESS',
          Reason: 'see CloudWatch log stream 2026/11/30/[$LATEST]abc',
          PhysicalResourceId: clusterArn,
          StackId: baseEvent.StackId,
          RequestId: 'req-1',
          LogicalResourceId: 'KafkaBootstrapBrokers',
          Data: { BootstrapBrokerStringSaslIam: 'boot-1.example:9098,boot-2.example:9098' },
        },
      },
    ])
  })

  it('answers Delete without calling MSK, keeping the physical id', async () => {
    const { answers } = await invokeInlineCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: clusterArn },
      {
        async getBootstrapBrokers() {
          throw new Error('must not be called on Delete')
        },
      },
    )
    expect(answers.map((a) => [a.body.Status, a.body.PhysicalResourceId])).toEqual([['SUCCESS', clusterArn]])
  })

  it('answers FAILED with the reason when MSK has no IAM brokers or the call fails', async () => {
    const noIam = await invokeInlineCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Update', PhysicalResourceId: clusterArn },
      {
        async getBootstrapBrokers() {
          return { BootstrapBrokerStringTls: 'b-1.example:9094' }
        },
      },
    )
    expect(noIam.answers.map((a) => [a.body.Status, a.body.Reason])).toEqual([
      ['FAILED', `cluster ${clusterArn} has no SASL/IAM bootstrap brokers`],
    ])
    const denied = await invokeInlineCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Create' },
      {
        async getBootstrapBrokers() {
          throw Object.assign(new Error('User is not authorized to perform: kafka:GetBootstrapBrokers'), {
            name: 'AccessDeniedException',
          })
        },
      },
    )
    expect(denied.answers.map((a) => [a.body.Status, a.body.Reason])).toEqual([
      ['FAILED', 'User is not authorized to perform: kafka:GetBootstrapBrokers'],
    ])
  })
})

describe('Custom::MacieClassificationJob (the inline code in resources/macie.yml, run as Lambda would)', () => {
  const zipFile = () =>
    String(
      (props(service('dev').template, 'MacieClassificationJobFunction').Code as { ZipFile: string }).ZipFile,
    )
  const baseEvent = {
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/guid',
    RequestId: '3f2a9c1e-0000-4000-8000-000000000001',
    LogicalResourceId: 'MacieClassificationJob',
    ResourceType: 'Custom::MacieClassificationJob',
    // As CloudFormation delivers them: every scalar a string.
    ResourceProperties: {
      ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:x',
      ServiceTimeout: '300',
      JobName: 'crypto-data-lake-dev-raw-personal-data',
      AccountId: '123456789012',
      BucketNames: [
        'crypto-data-lake-dev-raw-123456789012-us-east-1',
        'crypto-data-lake-dev-dlq-123456789012-us-east-1',
      ],
      Schedule: 'weekly',
      SamplingPercentage: '25',
      ManagedDataIdentifierIds: ['BRAZIL_CPF_NUMBER', 'EMAIL_ADDRESS'],
      CustomDataIdentifierIds: ['cdi-1'],
      Tags: { project: 'crypto-data-lake', stage: 'dev' },
    },
  }
  const jobId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'

  it('answers Create with a new scheduled job whose client token is the request id', async () => {
    const calls: Array<[string, Record<string, unknown>]> = []
    const { answers, error } = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Create' },
      {
        async send(command, input) {
          calls.push([command, input])
          return { jobId, jobArn: `arn:aws:macie2:us-east-1:123456789012:classification-job/${jobId}` }
        },
      },
    )
    expect(error).toBeUndefined()
    expect(calls).toEqual([
      [
        'CreateClassificationJob',
        {
          clientToken: '3f2a9c1e-0000-4000-8000-000000000001',
          name: 'crypto-data-lake-dev-raw-personal-data-3f2a9c1e',
          description:
            'Personal data in s3://crypto-data-lake-dev-raw-123456789012-us-east-1, s3://crypto-data-lake-dev-dlq-123456789012-us-east-1 (stack arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/guid)',
          jobType: 'SCHEDULED',
          scheduleFrequency: { weeklySchedule: { dayOfWeek: 'MONDAY' } },
          initialRun: true,
          samplingPercentage: 25,
          managedDataIdentifierSelector: 'INCLUDE',
          managedDataIdentifierIds: ['BRAZIL_CPF_NUMBER', 'EMAIL_ADDRESS'],
          customDataIdentifierIds: ['cdi-1'],
          s3JobDefinition: {
            bucketDefinitions: [
              {
                accountId: '123456789012',
                buckets: [
                  'crypto-data-lake-dev-raw-123456789012-us-east-1',
                  'crypto-data-lake-dev-dlq-123456789012-us-east-1',
                ],
              },
            ],
          },
          tags: { project: 'crypto-data-lake', stage: 'dev' },
        },
      ],
    ])
    expect(answers).toEqual([
      {
        method: 'PUT',
        contentType: '',
        body: {
          Status: 'SUCCESS',
          Reason: 'see CloudWatch log stream 2026/11/30/[$LATEST]abc',
          PhysicalResourceId: jobId,
          StackId: baseEvent.StackId,
          RequestId: baseEvent.RequestId,
          LogicalResourceId: 'MacieClassificationJob',
          Data: { JobId: jobId, JobArn: `arn:aws:macie2:us-east-1:123456789012:classification-job/${jobId}` },
        },
      },
    ])
  })

  it('answers Update with a new job (CloudFormation then deletes the old one)', async () => {
    const { answers } = await invokeMacieCustomResource(
      zipFile(),
      {
        ...baseEvent,
        RequestType: 'Update',
        PhysicalResourceId: 'old-job',
        ResourceProperties: { ...baseEvent.ResourceProperties, Schedule: 'daily' },
      },
      {
        async send(command, input) {
          expect(command).toBe('CreateClassificationJob')
          expect(input.scheduleFrequency).toEqual({ dailySchedule: {} })
          return { jobId: 'new-job', jobArn: 'arn:new' }
        },
      },
    )
    expect(answers.map((a) => [a.body.Status, a.body.PhysicalResourceId])).toEqual([['SUCCESS', 'new-job']])
  })

  it('answers Delete by cancelling the job, also when it is already gone', async () => {
    const calls: Array<[string, Record<string, unknown>]> = []
    const cancelled = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: jobId },
      {
        async send(command, input) {
          calls.push([command, input])
          return {}
        },
      },
    )
    expect(calls).toEqual([['UpdateClassificationJob', { jobId, jobStatus: 'CANCELLED' }]])
    expect(cancelled.answers.map((a) => [a.body.Status, a.body.PhysicalResourceId])).toEqual([
      ['SUCCESS', jobId],
    ])

    const gone = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: jobId },
      {
        async send() {
          throw Object.assign(new Error('job not found'), { name: 'ResourceNotFoundException' })
        },
      },
    )
    expect(gone.answers.map((a) => a.body.Status)).toEqual(['SUCCESS'])
  })

  it('answers Delete of a job that was never created without calling Macie', async () => {
    const { answers } = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: `failed-${baseEvent.RequestId}` },
      {
        async send() {
          throw new Error('must not be called')
        },
      },
    )
    expect(answers.map((a) => [a.body.Status, a.body.PhysicalResourceId])).toEqual([
      ['SUCCESS', `failed-${baseEvent.RequestId}`],
    ])
  })

  it('answers FAILED with the reason for a bad schedule, a refused call or a failed cancel', async () => {
    const badSchedule = await invokeMacieCustomResource(
      zipFile(),
      {
        ...baseEvent,
        RequestType: 'Create',
        ResourceProperties: { ...baseEvent.ResourceProperties, Schedule: 'hourly' },
      },
      {
        async send() {
          throw new Error('must not be called')
        },
      },
    )
    expect(badSchedule.answers.map((a) => [a.body.Status, a.body.Reason, a.body.PhysicalResourceId])).toEqual(
      [['FAILED', 'Schedule must be daily or weekly, not hourly', `failed-${baseEvent.RequestId}`]],
    )

    const refused = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Create' },
      {
        async send() {
          throw Object.assign(new Error('Macie is not enabled'), { name: 'AccessDeniedException' })
        },
      },
    )
    expect(refused.answers.map((a) => [a.body.Status, a.body.Reason])).toEqual([
      ['FAILED', 'Macie is not enabled'],
    ])

    const cancelFails = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: jobId },
      {
        async send() {
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
        },
      },
    )
    expect(cancelFails.answers.map((a) => [a.body.Status, a.body.Reason, a.body.PhysicalResourceId])).toEqual(
      [['FAILED', 'Rate exceeded', jobId]],
    )
  })
})
