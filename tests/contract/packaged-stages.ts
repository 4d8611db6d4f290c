/**
 * What every contract file over the packaged template shares: the stages and what each one's
 * params must produce (written out by hand), the resources the stack is expected to hold, the
 * packages made once for the run (helpers/package-global-setup.ts) and the few template lookups
 * more than one file needs.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll } from 'vitest'
import { type PackagedService, packaged, projectRoot } from './helpers/package-service.ts'
import {
  asArray,
  type CfnTemplate,
  type LocatedStatement,
  props,
  refOf,
  resourcesOfType,
} from './helpers/template.ts'

export const STAGES = ['dev', 'prod'] as const
export type Stage = (typeof STAGES)[number]

/** What each stage's params must produce (serverless.yml `params:`), written out by hand. */
export const EXPECTED: Record<
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

export const DATA_BUCKETS = ['RawBucket', 'LakeBucket', 'StateBucket', 'DeadLetterBucket']
/** Where the EMR job code is shipped (resources/lake.yml): encrypted, versioned, TLS-only like the data buckets. */
export const CODE_BUCKETS = ['LakeCodeBucket']
/** Where CloudTrail writes the S3 data events of every bucket (resources/storage.yml, AccessTrail). */
export const LOG_BUCKETS = ['AccessTrailBucket']
/**
 * The framework's deployment bucket: created SSE-S3 by the first deploy's bootstrap stack, before
 * the key exists, and put on the key by the stack update (resources/storage.yml, extensions).
 */
export const DEPLOYMENT_BUCKET = 'ServerlessDeploymentBucket'

export const KAFKA_TOPICS = ['crypto.assets', 'crypto.bars', 'crypto.trades']

/** Every Lambda function of the stack and the role it runs as (resources/iam.yml, macie.yml). */
export const FUNCTION_ROLES: Record<string, string> = {
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
export const SERVICE_FUNCTIONS = Object.keys(FUNCTION_ROLES).filter((id) => id.endsWith('LambdaFunction'))

/** The tags every taggable resource carries (serverless.yml provider.tags / custom.tags). */
export const REQUIRED_TAGS = (stage: Stage) => ({
  project: 'crypto-data-lake',
  stage,
  'managed-by': 'serverless',
})

/**
 * Both stages' packages, loaded before the file's tests: call once at the top of a file; the
 * returned lookup gives a stage's package inside a test.
 */
export function packagedStages(): (stage: Stage) => PackagedService {
  const byStage = new Map<Stage, PackagedService>()
  beforeAll(async () => {
    for (const stage of STAGES) byStage.set(stage, await packaged(stage))
  })
  return (stage) => {
    const found = byStage.get(stage)
    if (!found) throw new Error(`stage ${stage} was not packaged`)
    return found
  }
}

/** The metrics that exist on AWS, by namespace (tests/fixtures/aws-metrics.json). */
export async function metricsFixture(): Promise<{ namespaces: Record<string, { metrics: string[] }> }> {
  return JSON.parse(await readFile(join(projectRoot, 'tests/fixtures/aws-metrics.json'), 'utf8'))
}

/** The value at a dotted path of nested objects (`DatabaseInput.Name`), or undefined. */
export function at(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined),
      value,
    )
}

export const lambdaFunctions = (template: CfnTemplate) => resourcesOfType(template, 'AWS::Lambda::Function')

/** The log group a function writes to: its LoggingConfig group, else /aws/lambda/<name>. */
export function logGroupOf(template: CfnTemplate, functionId: string): string | undefined {
  const p = props(template, functionId)
  const configured = refOf((p.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup)
  if (configured) return configured
  const name = `/aws/lambda/${String(p.FunctionName)}`
  return resourcesOfType(template, 'AWS::Logs::LogGroup').find(
    ([, r]) => r.Properties?.LogGroupName === name,
  )?.[0]
}

/** Namespace/metric pairs an alarm watches: plain metric, MetricStat queries, Metrics Insights SQL. */
export function alarmMetrics(alarm: Record<string, unknown>): Array<[string, string]> {
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

export function errorsAlarmFor(template: CfnTemplate, functionId: string) {
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

export const actionsOf = (statement: LocatedStatement) => asArray(statement.statement.Action)
