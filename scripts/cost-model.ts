/**
 * The monthly cost of a packaged stack: every resource of the CloudFormation template priced from
 * its own properties (instance types, node counts, memory sizes, schedules, poller groups) and a
 * short list of load assumptions for what the template cannot say (event sizes, durations, data
 * volumes). Pure: the template, the price list and the load come in, priced lines come out.
 */
import { nextScheduledTime } from '../local/runtime/schedules.ts'

export interface CfnResource {
  Type: string
  Properties?: Record<string, unknown>
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>
}

export interface PriceList {
  region: string
  currency: string
  retrieved: string
  hoursPerMonth: number
  prices: Record<string, { usd: number; source: string; checked?: boolean }>
  originalDesign: { usdPerHour: number; description: string; source: string }
}

/** What the template cannot tell: the data, and how long things run. Stated in the report. */
export interface LoadAssumptions {
  /** Serialized size of one event (JSON) on Kafka, bytes. */
  eventBytes: { bars: number; trades: number; assets: number }
  /** One raw-zone line (the event with its Kafka coordinates), gzip-compressed, bytes. */
  rawLineBytes: number
  assetsPerDay: number
  /** Topic partitions (functions/shared/topics.ts) and how long the topics keep data. */
  partitions: number
  kafkaRetentionDays: number
  /** Consumer groups reading every topic (index-events and land-raw). */
  kafkaReaders: number
  /** Average duration of one invocation, per function logical id; deploy-time functions are not listed. */
  durationMs: Record<string, number>
  /** Invocations per minute of a function fed by event source mappings (batches, not records). */
  batchesPerMinute: Record<string, number>
  /** Invocations per month of a function called by something the template cannot count (a state machine). */
  invocationsPerMonth: Record<string, number>
  logBytesPerInvocation: number
  customMetrics: number
  /** Metrics one Metrics Insights alarm query reads (one per dimension set of the metric). */
  metricsPerInsightsQuery: number
  natGbPerMonth: number
  secretsApiCallsPerMonth: number
  kmsRequestsPerMonth: number
  /** Per bucket logical id: extra stored GB and requests besides what the raw zone derives. */
  buckets: Record<string, { storedGb: number; putsPerMonth: number; getsPerMonth: number }>
  /** Per EMR Serverless application: monthly vCPU-hours and GB-hours of all its job runs. */
  emr: { vcpuHours: number; gbHours: number; basis: string }
  /** State transitions per execution; executions come from the state machines' schedules. */
  stateMachines: { transitionsPerExecution: number }
  athena: { queriesPerMonth: number; mbScannedPerQuery: number }
}

export interface CostLine {
  resource: string
  type: string
  usd: number
  basis: string
}

export interface CostEstimate {
  lines: CostLine[]
  /** Resources that cost nothing by themselves (IAM, security groups, routes, custom resources...). */
  free: string[]
  totalUsd: number
}

const MINUTES_PER_HOUR = 60
const GB = 1024 ** 3

const refOf = (value: unknown): string | undefined =>
  value && typeof value === 'object' && 'Ref' in value ? String((value as { Ref: unknown }).Ref) : undefined

function getAttTarget(value: unknown): string | undefined {
  if (!value || typeof value !== 'object' || !('Fn::GetAtt' in value)) return undefined
  const target = (value as { 'Fn::GetAtt': unknown })['Fn::GetAtt']
  return Array.isArray(target) ? String(target[0]) : String(target).split('.')[0]
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value]

const WEEK_MS = 7 * 24 * 3_600_000

/**
 * Average firings per hour of an EventBridge schedule expression, `rate(...)` or `cron(...)`:
 * counted over one week with the local scheduler's own reading of the expression (one parser).
 * Throws for an expression it cannot read, so a schedule cannot silently cost nothing.
 */
export function firingsPerHour(expression: string): number {
  const rule = { rule: 'cost-model', expression }
  const from = Date.UTC(2026, 0, 5)
  let firings = 0
  for (let at = nextScheduledTime(rule, from - 1); at < from + WEEK_MS; at = nextScheduledTime(rule, at))
    firings++
  return firings / (WEEK_MS / 3_600_000)
}

const round2 = (usd: number) => Math.round(usd * 100) / 100
const fmt = (n: number, digits = 2) => n.toFixed(digits)

/**
 * Prices every resource of the template. Types this model does not know throw, so a new kind of
 * resource cannot silently cost nothing.
 */
export function estimateMonthlyCost(
  template: CfnTemplate,
  prices: PriceList,
  load: LoadAssumptions,
): CostEstimate {
  const price = (key: string): number => {
    const found = prices.prices[key]
    if (!found) throw new Error(`no price for ${key} in the price list`)
    return found.usd
  }
  const hours = prices.hoursPerMonth
  const minutesPerMonth = hours * MINUTES_PER_HOUR
  const resources = Object.entries(template.Resources)
  const lines: CostLine[] = []
  const free: string[] = []
  const add = (resource: string, type: string, usd: number, basis: string) =>
    lines.push({ resource, type, usd: round2(usd), basis })

  const envOf = (id: string) =>
    ((template.Resources[id]?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>
  const findFunction = (key: string) => resources.find(([id]) => id === key)?.[0]

  // Event rates from the producers' own configuration in the template.
  const pollBars = findFunction('PollBarsLambdaFunction')
  const simulateTrades = findFunction('SimulateTradesLambdaFunction')
  const symbols = pollBars
    ? String(envOf(pollBars).SYMBOLS ?? '')
        .split(',')
        .filter(Boolean).length
    : 0
  const tradesPerMinute = simulateTrades ? Number(envOf(simulateTrades).TRADES_PER_MINUTE ?? 0) : 0
  const eventsPerMonth = {
    bars: symbols * minutesPerMonth,
    trades: tradesPerMinute * minutesPerMonth,
    assets: load.assetsPerDay * (hours / 24),
  }
  const bytesInPerMonth =
    eventsPerMonth.bars * load.eventBytes.bars +
    eventsPerMonth.trades * load.eventBytes.trades +
    eventsPerMonth.assets * load.eventBytes.assets
  const gbInPerMonth = bytesInPerMonth / GB
  const allEventsPerMonth = eventsPerMonth.bars + eventsPerMonth.trades + eventsPerMonth.assets

  // Invocations per month of each function: its schedules, or its event source mappings.
  const invocations = new Map<string, number>()
  for (const [, r] of resources) {
    if (r.Type !== 'AWS::Events::Rule' || typeof r.Properties?.ScheduleExpression !== 'string') continue
    const perHour = firingsPerHour(r.Properties.ScheduleExpression)
    for (const target of asArray(r.Properties.Targets as Array<{ Arn: unknown }> | undefined)) {
      // A function target names its Arn attribute; a state machine target is its Ref (the ARN).
      const fn = getAttTarget(target.Arn) ?? refOf(target.Arn)
      if (fn) invocations.set(fn, (invocations.get(fn) ?? 0) + perHour * hours)
    }
  }
  for (const [fn, perMinute] of Object.entries(load.batchesPerMinute)) {
    if (template.Resources[fn]) invocations.set(fn, (invocations.get(fn) ?? 0) + perMinute * minutesPerMonth)
  }
  for (const [fn, perMonth] of Object.entries(load.invocationsPerMonth)) {
    if (template.Resources[fn]) invocations.set(fn, (invocations.get(fn) ?? 0) + perMonth)
  }

  // Raw zone: every valid event lands once; trades and quarantine expire with the PII retention.
  const rawLifecycle = (
    template.Resources.RawBucket?.Properties?.LifecycleConfiguration as
      | { Rules?: Array<{ Id?: string; ExpirationInDays?: number }> }
      | undefined
  )?.Rules
  const rawRetentionDays = rawLifecycle?.find((rule) => rule.Id === 'ExpireRawZone')?.ExpirationInDays ?? 365
  const piiRetentionDays =
    rawLifecycle?.find((rule) => rule.Id === 'ExpireTradesPersonalData')?.ExpirationInDays ?? 30
  const rawGbPerDay = (events: number) => ((events / (hours / 24)) * load.rawLineBytes) / GB
  const rawStoredGb =
    rawGbPerDay(eventsPerMonth.bars + eventsPerMonth.assets) * rawRetentionDays +
    rawGbPerDay(eventsPerMonth.trades) * Math.min(piiRetentionDays, rawRetentionDays)
  const rawNewGbPerMonth = (allEventsPerMonth * load.rawLineBytes) / GB

  // Log groups: where each function writes.
  const logGroupOf = new Map<string, string>()
  for (const [id, r] of resources) {
    if (r.Type !== 'AWS::Lambda::Function') continue
    const configured = refOf((r.Properties?.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup)
    const byName = resources.find(
      ([, g]) =>
        g.Type === 'AWS::Logs::LogGroup' &&
        g.Properties?.LogGroupName === `/aws/lambda/${String(r.Properties?.FunctionName)}`,
    )?.[0]
    const group = configured ?? byName
    if (group) logGroupOf.set(group, id)
  }

  const pollerGroups = new Map<string, { first: string; pollers: number; mappings: number }>()
  let tracedInvocations = 0

  for (const [id, r] of resources) {
    const p = r.Properties ?? {}
    switch (r.Type) {
      case 'AWS::MSK::ServerlessCluster': {
        const gbOut = gbInPerMonth * load.kafkaReaders
        const storedGb = (gbInPerMonth / (hours / 24)) * load.kafkaRetentionDays
        add(
          id,
          r.Type,
          hours * price('msk.serverless.clusterHour') +
            load.partitions * hours * price('msk.serverless.partitionHour') +
            gbInPerMonth * price('msk.serverless.dataInGb') +
            gbOut * price('msk.serverless.dataOutGb') +
            storedGb * price('msk.serverless.storageGbMonth'),
          `${hours} cluster-h, ${load.partitions} partitions, ${fmt(gbInPerMonth, 3)} GB in, ${fmt(gbOut, 3)} GB out, ${fmt(storedGb, 3)} GB stored`,
        )
        break
      }
      case 'AWS::Lambda::EventSourceMapping': {
        const config = (p.ProvisionedPollerConfig ?? {}) as {
          MinimumPollers?: number
          PollerGroupName?: string
        }
        const group = config.PollerGroupName ?? id
        const known = pollerGroups.get(group)
        if (known) {
          known.pollers += config.MinimumPollers ?? 1
          known.mappings++
          free.push(`${id} (in poller group ${group}, billed on ${known.first})`)
        } else pollerGroups.set(group, { first: id, pollers: config.MinimumPollers ?? 1, mappings: 1 })
        break
      }
      case 'AWS::Lambda::Function': {
        const perMonth = invocations.get(id) ?? 0
        if (perMonth === 0) {
          free.push(`${id} (runs at deploy only)`)
          break
        }
        const memoryGb = Number(p.MemorySize ?? 128) / 1024
        const seconds = (load.durationMs[id] ?? 1000) / 1000
        if ((p.TracingConfig as { Mode?: string } | undefined)?.Mode === 'Active')
          tracedInvocations += perMonth
        add(
          id,
          r.Type,
          (perMonth / 1e6) * price('lambda.requestsPerMillion') +
            perMonth * memoryGb * seconds * price('lambda.arm64GbSecond'),
          `${Math.round(perMonth)} invocations x ${fmt(seconds, 1)} s x ${p.MemorySize ?? 128} MB (arm64)`,
        )
        break
      }
      case 'AWS::Logs::LogGroup': {
        const fn = logGroupOf.get(id)
        const perMonth = fn ? (invocations.get(fn) ?? 0) : 0
        const gb = (perMonth * load.logBytesPerInvocation) / GB
        const retained = Math.min(Number(p.RetentionInDays ?? 30), 30) / 30
        if (gb === 0) {
          free.push(`${id} (deploy-time logs only)`)
          break
        }
        add(
          id,
          r.Type,
          gb * price('cloudwatch.logsIngestedGb') + gb * retained * price('cloudwatch.logsStoredGbMonth'),
          `${fmt(gb, 3)} GB ingested, kept ${p.RetentionInDays ?? 'forever'} days`,
        )
        break
      }
      case 'AWS::EC2::NatGateway':
        add(
          id,
          r.Type,
          hours * price('ec2.natGatewayHour') + load.natGbPerMonth * price('ec2.natGatewayGb'),
          `${hours} h + ${load.natGbPerMonth} GB to Alpaca and CoinAPI`,
        )
        break
      case 'AWS::EC2::EIP':
        add(id, r.Type, hours * price('ec2.publicIpv4Hour'), `${hours} h public IPv4`)
        break
      case 'AWS::EC2::VPCEndpoint': {
        if (p.VpcEndpointType !== 'Interface') {
          free.push(`${id} (gateway endpoint)`)
          break
        }
        const azs = asArray(p.SubnetIds as unknown[]).length
        add(
          id,
          r.Type,
          azs * hours * price('vpc.interfaceEndpointAzHour') + 0.01 * price('vpc.interfaceEndpointGb'),
          `${azs} AZ x ${hours} h`,
        )
        break
      }
      case 'AWS::OpenSearchService::Domain': {
        const cluster = (p.ClusterConfig ?? {}) as { InstanceType?: string; InstanceCount?: number }
        const ebs = (p.EBSOptions ?? {}) as { VolumeSize?: number }
        const count = Number(cluster.InstanceCount ?? 1)
        const volume = Number(ebs.VolumeSize ?? 10)
        add(
          id,
          r.Type,
          count * hours * price(`opensearch.instanceHour.${cluster.InstanceType}`) +
            count * volume * price('opensearch.gp3GbMonth'),
          `${count} x ${cluster.InstanceType} x ${hours} h + ${count} x ${volume} GB gp3`,
        )
        break
      }
      case 'AWS::KMS::Key':
        add(
          id,
          r.Type,
          price('kms.keyMonth') + (load.kmsRequestsPerMonth / 10_000) * price('kms.requestsPer10000'),
          `1 key + ${load.kmsRequestsPerMonth} requests (S3 bucket keys)`,
        )
        break
      case 'AWS::SecretsManager::Secret':
        add(
          id,
          r.Type,
          price('secretsmanager.secretMonth') +
            (load.secretsApiCallsPerMonth / 10_000) * price('secretsmanager.apiCallsPer10000'),
          `1 secret + ${load.secretsApiCallsPerMonth} reads (cold starts)`,
        )
        break
      case 'AWS::S3::Bucket': {
        const extra = load.buckets[id] ?? { storedGb: 0, putsPerMonth: 0, getsPerMonth: 0 }
        const isRaw = id === 'RawBucket'
        const landRawBatches = invocations.get('LandRawLambdaFunction') ?? 0
        const stored = extra.storedGb + (isRaw ? rawStoredGb : 0)
        const puts = extra.putsPerMonth + (isRaw ? landRawBatches : 0)
        const gets = extra.getsPerMonth + (isRaw ? landRawBatches : 0)
        add(
          id,
          r.Type,
          stored * price('s3.standardGbMonth') +
            (puts / 1000) * price('s3.putPer1000') +
            (gets / 1000) * price('s3.getPer1000'),
          `${fmt(stored, 3)} GB, ${Math.round(puts)} PUT, ${Math.round(gets)} GET`,
        )
        break
      }
      case 'AWS::CloudWatch::Alarm': {
        const queries = asArray(p.Metrics as Array<Record<string, unknown>> | undefined)
        const metrics =
          queries.length === 0
            ? 1
            : queries.reduce(
                (n, q) =>
                  n +
                  (q.MetricStat ? 1 : 0) +
                  (typeof q.Expression === 'string' && /^\s*SELECT\b/i.test(q.Expression)
                    ? load.metricsPerInsightsQuery
                    : 0),
                0,
              )
        add(id, r.Type, metrics * price('cloudwatch.alarmMetricMonth'), `${metrics} metric(s) evaluated`)
        break
      }
      case 'AWS::CloudWatch::Dashboard':
        add(id, r.Type, price('cloudwatch.dashboardMonth'), '1 dashboard')
        break
      case 'AWS::Macie::Session': {
        const buckets = resources.filter(([, b]) => b.Type === 'AWS::S3::Bucket').length
        add(id, r.Type, buckets * price('macie.bucketMonth'), `${buckets} buckets monitored`)
        break
      }
      case 'Custom::MacieClassificationJob': {
        const sampling = Number(p.SamplingPercentage ?? 100) / 100
        const gb = rawNewGbPerMonth * sampling
        add(
          id,
          r.Type,
          gb * price('macie.scannedGb'),
          `${fmt(gb, 3)} GB of new raw objects scanned (${p.SamplingPercentage ?? 100} % sampled)`,
        )
        break
      }
      case 'AWS::StepFunctions::StateMachine': {
        const executions = invocations.get(id) ?? 0
        const transitions = executions * load.stateMachines.transitionsPerExecution
        add(
          id,
          r.Type,
          (transitions / 1000) * price('stepfunctions.transitionsPer1000'),
          `${Math.round(executions)} scheduled executions x ${load.stateMachines.transitionsPerExecution} transitions`,
        )
        break
      }
      case 'AWS::EMRServerless::Application':
        add(
          id,
          r.Type,
          load.emr.vcpuHours * price('emrserverless.arm64VcpuHour') +
            load.emr.gbHours * price('emrserverless.arm64GbHour'),
          `${load.emr.vcpuHours} vCPU-h + ${load.emr.gbHours} GB-h (${load.emr.basis})`,
        )
        break
      case 'AWS::Athena::WorkGroup': {
        const tb = (load.athena.queriesPerMonth * Math.max(10, load.athena.mbScannedPerQuery)) / 1024 ** 2
        add(
          id,
          r.Type,
          tb * price('athena.tbScanned'),
          `${load.athena.queriesPerMonth} queries x ${load.athena.mbScannedPerQuery} MB`,
        )
        break
      }
      default:
        if (FREE_TYPES.has(r.Type) || r.Type.startsWith('Custom::')) free.push(id)
        else throw new Error(`no cost rule for ${id} (${r.Type}): add one to scripts/cost-model.ts`)
    }
  }

  for (const [group, { first, pollers, mappings }] of pollerGroups) {
    const epus = Math.ceil(pollers / 10)
    add(
      first,
      'AWS::Lambda::EventSourceMapping',
      epus * hours * price('lambda.eventPollerUnitHour'),
      `poller group ${group}: ${mappings} mappings, ${pollers} minimum pollers = ${epus} EPU x ${hours} h`,
    )
  }
  if (tracedInvocations > 0) {
    add(
      'X-Ray (active tracing)',
      'AWS::XRay',
      (tracedInvocations / 1e6) * price('xray.tracesPerMillion'),
      `${Math.round(tracedInvocations)} traces`,
    )
  }
  add(
    'CloudWatch custom metrics',
    'AWS::CloudWatch::Metric',
    load.customMetrics * price('cloudwatch.customMetricMonth'),
    `${load.customMetrics} metric/dimension sets (EMF, namespace CryptoLake)`,
  )

  lines.sort((a, b) => b.usd - a.usd || a.resource.localeCompare(b.resource))
  return { lines, free: free.sort(), totalUsd: round2(lines.reduce((sum, line) => sum + line.usd, 0)) }
}

/** Types that cost nothing by themselves (their use is priced on the resources that use them). */
const FREE_TYPES = new Set([
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
])

/** The report `make cost` prints. */
export function formatReport(
  title: string,
  estimate: CostEstimate,
  prices: PriceList,
  assumptions: string[],
): string {
  const width = Math.max(24, ...estimate.lines.map((line) => line.resource.length))
  const out: string[] = []
  out.push(title)
  out.push(
    `Prices: ${prices.region}, ${prices.currency}, on-demand, retrieved ${prices.retrieved} (resources/pricing/${prices.region}.json); ${prices.hoursPerMonth} h per month; no free tier.`,
  )
  out.push('Load assumptions:')
  for (const line of assumptions) out.push(`  - ${line}`)
  out.push('')
  out.push(`${'resource'.padEnd(width)}  ${'USD/month'.padStart(10)}  basis`)
  for (const line of estimate.lines) {
    out.push(`${line.resource.padEnd(width)}  ${fmt(line.usd).padStart(10)}  ${line.basis}`)
  }
  out.push(
    `${'TOTAL'.padEnd(width)}  ${fmt(estimate.totalUsd).padStart(10)}  (${fmt(estimate.totalUsd / prices.hoursPerMonth, 3)} USD/hour)`,
  )
  out.push(
    `No charge of their own: ${estimate.free.length} resources (IAM, network plumbing, policies, schedules, custom resources, grouped pollers).`,
  )
  const original = prices.originalDesign.usdPerHour * prices.hoursPerMonth
  out.push(
    `Original design (${prices.originalDesign.description}): about ${fmt(prices.originalDesign.usdPerHour)} USD/hour = ${fmt(original)} USD/month; this stage is ${fmt((estimate.totalUsd / original) * 100, 1)} % of it.`,
  )
  return out.join('\n')
}
