/**
 * One pricing rule per CloudFormation resource type: the resource's own properties and the month's
 * usage in, a priced line (or the reason it costs nothing by itself) out. Pure.
 */
import { asArray, refOf } from '../local/runtime/cfn.ts'
import { GB, type Usage } from './cost-usage.ts'

export type PriceOf = (key: string) => number
/** A priced line, the reason a resource costs nothing itself, or nothing: priced on its group's line. */
export type Priced = { usd: number; basis: string } | { free: string } | undefined
type Rule = (id: string, p: Record<string, unknown>, usage: Usage, price: PriceOf) => Priced

export const fmt = (n: number, digits = 2) => n.toFixed(digits)

function mskCluster(_id: string, _p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const { hours, load, gbInPerMonth } = u
  const gbOut = gbInPerMonth * load.kafkaReaders
  const storedGb = (gbInPerMonth / (hours / 24)) * load.kafkaRetentionDays
  return {
    usd:
      hours * price('msk.serverless.clusterHour') +
      load.partitions * hours * price('msk.serverless.partitionHour') +
      gbInPerMonth * price('msk.serverless.dataInGb') +
      gbOut * price('msk.serverless.dataOutGb') +
      storedGb * price('msk.serverless.storageGbMonth'),
    basis: `${hours} cluster-h, ${load.partitions} partitions, ${fmt(gbInPerMonth, 3)} GB in, ${fmt(gbOut, 3)} GB out, ${fmt(storedGb, 3)} GB stored`,
  }
}

/** A mapping is billed on its poller group's line (see pollerGroupLine); the others are free. */
function eventSourceMapping(id: string, p: Record<string, unknown>, u: Usage): Priced {
  const name = (p.ProvisionedPollerConfig as { PollerGroupName?: string } | undefined)?.PollerGroupName ?? id
  const first = u.pollerGroups.get(name)?.first
  return first === id ? undefined : { free: `${id} (in poller group ${name}, billed on ${first})` }
}

function lambdaFunction(id: string, p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const perMonth = u.invocations.get(id) ?? 0
  if (perMonth === 0) return { free: `${id} (runs at deploy only)` }
  const memoryGb = Number(p.MemorySize ?? 128) / 1024
  const seconds = (u.load.durationMs[id] ?? 1000) / 1000
  return {
    usd:
      (perMonth / 1e6) * price('lambda.requestsPerMillion') +
      perMonth * memoryGb * seconds * price('lambda.arm64GbSecond'),
    basis: `${Math.round(perMonth)} invocations x ${fmt(seconds, 1)} s x ${p.MemorySize ?? 128} MB (arm64)`,
  }
}

function logGroup(id: string, p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const fn = u.logGroupOf.get(id)
  const perMonth = fn ? (u.invocations.get(fn) ?? 0) : 0
  const gb = (perMonth * u.load.logBytesPerInvocation) / GB
  const retained = Math.min(Number(p.RetentionInDays ?? 30), 30) / 30
  if (gb === 0) return { free: `${id} (deploy-time logs only)` }
  return {
    usd: gb * price('cloudwatch.logsIngestedGb') + gb * retained * price('cloudwatch.logsStoredGbMonth'),
    basis: `${fmt(gb, 3)} GB ingested, kept ${p.RetentionInDays ?? 'forever'} days`,
  }
}

function vpcEndpoint(id: string, p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  if (p.VpcEndpointType !== 'Interface') return { free: `${id} (gateway endpoint)` }
  const azs = asArray(p.SubnetIds as unknown[]).length
  return {
    usd: azs * u.hours * price('vpc.interfaceEndpointAzHour') + 0.01 * price('vpc.interfaceEndpointGb'),
    basis: `${azs} AZ x ${u.hours} h`,
  }
}

function openSearchDomain(_id: string, p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const cluster = (p.ClusterConfig ?? {}) as { InstanceType?: string; InstanceCount?: number }
  const ebs = (p.EBSOptions ?? {}) as { VolumeSize?: number }
  const count = Number(cluster.InstanceCount ?? 1)
  const volume = Number(ebs.VolumeSize ?? 10)
  return {
    usd:
      count * u.hours * price(`opensearch.instanceHour.${cluster.InstanceType}`) +
      count * volume * price('opensearch.gp3GbMonth'),
    basis: `${count} x ${cluster.InstanceType} x ${u.hours} h + ${count} x ${volume} GB gp3`,
  }
}

/** A bucket's stored GB and requests: the assumed extras, plus what land-raw writes to the raw bucket. */
function bucketUsage(id: string, u: Usage): { stored: number; puts: number; gets: number } {
  const extra = u.load.buckets[id] ?? { storedGb: 0, putsPerMonth: 0, getsPerMonth: 0 }
  const isRaw = id === 'RawBucket'
  // One object per land-raw batch (and one read of the block it extends).
  const landRawBatches = u.invocations.get('LandRawLambdaFunction') ?? 0
  return {
    stored: extra.storedGb + (isRaw ? u.rawStoredGb : 0),
    puts: extra.putsPerMonth + (isRaw ? landRawBatches : 0),
    gets: extra.getsPerMonth + (isRaw ? landRawBatches : 0),
  }
}

function s3Bucket(id: string, _p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const { stored, puts, gets } = bucketUsage(id, u)
  return {
    usd:
      stored * price('s3.standardGbMonth') +
      (puts / 1000) * price('s3.putPer1000') +
      (gets / 1000) * price('s3.getPer1000'),
    basis: `${fmt(stored, 3)} GB, ${Math.round(puts)} PUT, ${Math.round(gets)} GET`,
  }
}

/**
 * A trail pays per data event it delivers: here S3 object-level events, one per request on each
 * bucket its selectors name (`${Bucket.Arn}/` or `${Bucket}/`). Management events are not
 * selected: the account's own trail keeps those.
 */
function cloudTrail(_id: string, p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const selectors = JSON.stringify(p.AdvancedEventSelectors ?? [])
  const buckets = new Set(
    [...selectors.matchAll(/\$\{(\w+)(?:\.Arn)?\}\//g)]
      .map((match) => match[1] as string)
      .filter((id) => u.template.Resources[id]?.Type === 'AWS::S3::Bucket'),
  )
  const events = [...buckets].reduce((sum, id) => {
    const { puts, gets } = bucketUsage(id, u)
    return sum + puts + gets
  }, 0)
  return {
    usd: (events / 100_000) * price('cloudtrail.dataEventsPer100000'),
    basis: `${Math.round(events)} S3 data events on ${buckets.size} buckets`,
  }
}

/** EC2 detailed monitoring sends this many metrics a minute, each billed as a custom metric. */
const DETAILED_MONITORING_METRICS = 7

/** An instance: its hours, the volumes of its launch template, detailed monitoring if on. */
function ec2Instance(_id: string, p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const type = String(p.InstanceType)
  const launchTemplate = refOf(
    (p.LaunchTemplate as { LaunchTemplateId?: unknown } | undefined)?.LaunchTemplateId,
  )
  const data = (u.template.Resources[launchTemplate ?? '']?.Properties?.LaunchTemplateData ?? {}) as {
    BlockDeviceMappings?: Array<{ Ebs?: { VolumeType?: string; VolumeSize?: number } }>
  }
  const volumes = (data.BlockDeviceMappings ?? []).flatMap((mapping) => (mapping.Ebs ? [mapping.Ebs] : []))
  const volumeGb = volumes.reduce((sum, ebs) => sum + Number(ebs.VolumeSize ?? 8), 0)
  const volumeUsd = volumes.reduce(
    (sum, ebs) => sum + Number(ebs.VolumeSize ?? 8) * price(`ebs.${ebs.VolumeType ?? 'gp3'}GbMonth`),
    0,
  )
  const metrics = p.Monitoring === true || p.Monitoring === 'true' ? DETAILED_MONITORING_METRICS : 0
  return {
    usd:
      u.hours * price(`ec2.instanceHour.${type}`) +
      volumeUsd +
      metrics * price('cloudwatch.customMetricMonth'),
    basis: `1 x ${type} x ${u.hours} h + ${volumeGb} GB EBS${metrics ? ` + ${metrics} detailed-monitoring metrics` : ''}`,
  }
}

/** An alarm pays per metric it evaluates; a Metrics Insights query reads one per dimension set. */
function alarm(_id: string, p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const queries = asArray(p.Metrics as Array<Record<string, unknown>> | undefined)
  const readsInsights = (q: Record<string, unknown>) =>
    typeof q.Expression === 'string' && /^\s*SELECT\b/i.test(q.Expression)
  const metrics =
    queries.length === 0
      ? 1
      : queries.reduce(
          (n, q) => n + (q.MetricStat ? 1 : 0) + (readsInsights(q) ? u.load.metricsPerInsightsQuery : 0),
          0,
        )
  return { usd: metrics * price('cloudwatch.alarmMetricMonth'), basis: `${metrics} metric(s) evaluated` }
}

function macieClassificationJob(_id: string, p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const sampling = Number(p.SamplingPercentage ?? 100) / 100
  const gb = u.rawNewGbPerMonth * sampling
  return {
    usd: gb * price('macie.scannedGb'),
    basis: `${fmt(gb, 3)} GB of new raw objects scanned (${p.SamplingPercentage ?? 100} % sampled)`,
  }
}

function stateMachine(id: string, _p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const executions = u.invocations.get(id) ?? 0
  const { transitionsPerExecution } = u.load.stateMachines
  return {
    usd: ((executions * transitionsPerExecution) / 1000) * price('stepfunctions.transitionsPer1000'),
    basis: `${Math.round(executions)} scheduled executions x ${transitionsPerExecution} transitions`,
  }
}

function athenaWorkGroup(_id: string, _p: Record<string, unknown>, u: Usage, price: PriceOf): Priced {
  const { queriesPerMonth, mbScannedPerQuery } = u.load.athena
  const tb = (queriesPerMonth * Math.max(10, mbScannedPerQuery)) / 1024 ** 2
  return {
    usd: tb * price('athena.tbScanned'),
    basis: `${queriesPerMonth} queries x ${mbScannedPerQuery} MB`,
  }
}

/** The rule of each priced resource type. */
export const RULES: Record<string, Rule> = {
  'AWS::MSK::ServerlessCluster': mskCluster,
  'AWS::Lambda::EventSourceMapping': eventSourceMapping,
  'AWS::Lambda::Function': lambdaFunction,
  'AWS::Logs::LogGroup': logGroup,
  'AWS::EC2::NatGateway': (_id, _p, u, price) => ({
    usd: u.hours * price('ec2.natGatewayHour') + u.load.natGbPerMonth * price('ec2.natGatewayGb'),
    basis: `${u.hours} h + ${u.load.natGbPerMonth} GB to Alpaca and CoinAPI`,
  }),
  'AWS::EC2::EIP': (_id, _p, u, price) => ({
    usd: u.hours * price('ec2.publicIpv4Hour'),
    basis: `${u.hours} h public IPv4`,
  }),
  'AWS::EC2::VPCEndpoint': vpcEndpoint,
  'AWS::OpenSearchService::Domain': openSearchDomain,
  'AWS::KMS::Key': (_id, _p, u, price) => ({
    usd: price('kms.keyMonth') + (u.load.kmsRequestsPerMonth / 10_000) * price('kms.requestsPer10000'),
    basis: `1 key + ${u.load.kmsRequestsPerMonth} requests (S3 bucket keys)`,
  }),
  'AWS::SecretsManager::Secret': (_id, _p, u, price) => ({
    usd:
      price('secretsmanager.secretMonth') +
      (u.load.secretsApiCallsPerMonth / 10_000) * price('secretsmanager.apiCallsPer10000'),
    basis: `1 secret + ${u.load.secretsApiCallsPerMonth} reads (cold starts)`,
  }),
  'AWS::S3::Bucket': s3Bucket,
  'AWS::CloudTrail::Trail': cloudTrail,
  'AWS::EC2::Instance': ec2Instance,
  'AWS::CloudWatch::Alarm': alarm,
  'AWS::CloudWatch::Dashboard': (_id, _p, _u, price) => ({
    usd: price('cloudwatch.dashboardMonth'),
    basis: '1 dashboard',
  }),
  'AWS::Macie::Session': (_id, _p, u, price) => {
    const buckets = Object.values(u.template.Resources).filter((b) => b.Type === 'AWS::S3::Bucket').length
    return { usd: buckets * price('macie.bucketMonth'), basis: `${buckets} buckets monitored` }
  },
  'Custom::MacieClassificationJob': macieClassificationJob,
  'AWS::StepFunctions::StateMachine': stateMachine,
  'AWS::EMRServerless::Application': (_id, _p, u, price) => ({
    usd:
      u.load.emr.vcpuHours * price('emrserverless.arm64VcpuHour') +
      u.load.emr.gbHours * price('emrserverless.arm64GbHour'),
    basis: `${u.load.emr.vcpuHours} vCPU-h + ${u.load.emr.gbHours} GB-h (${u.load.emr.basis})`,
  }),
  'AWS::Athena::WorkGroup': athenaWorkGroup,
}

/** Types that cost nothing by themselves (their use is priced on the resources that use them). */
export const FREE_TYPES = new Set([
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::IAM::ManagedPolicy',
  'AWS::EC2::VPC',
  'AWS::EC2::Subnet',
  'AWS::EC2::RouteTable',
  'AWS::EC2::Route',
  'AWS::EC2::SubnetRouteTableAssociation',
  'AWS::EC2::InternetGateway',
  'AWS::EC2::VPCGatewayAttachment',
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::SecurityGroupIngress',
  'AWS::EC2::SecurityGroupEgress',
  'AWS::S3::BucketPolicy',
  'AWS::KMS::Alias',
  'AWS::SNS::Topic',
  'AWS::SNS::TopicPolicy',
  'AWS::SNS::Subscription',
  'AWS::Lambda::Permission',
  'AWS::Events::Rule',
  'AWS::Budgets::Budget',
  'AWS::Macie::CustomDataIdentifier',
  'AWS::Glue::Database',
  'AWS::Athena::NamedQuery',
  'AWS::Logs::LogStream',
  'AWS::Logs::ResourcePolicy',
  'AWS::IAM::InstanceProfile',
  // Priced on the instance that uses it (its volumes).
  'AWS::EC2::LaunchTemplate',
  // A view or table definition in the Data Catalog; its data is priced on its bucket.
  'AWS::Glue::Table',
])
