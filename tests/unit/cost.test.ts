import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import {
  type CfnTemplate,
  estimateMonthlyCost,
  firingsPerHour,
  formatReport,
  type LoadAssumptions,
  type PriceList,
} from '../../scripts/cost-model.ts'

/** Round prices and a 100-hour month, so every expected figure below can be checked by hand. */
const PRICES: PriceList = {
  region: 'us-east-1',
  currency: 'USD',
  retrieved: '2026-11-30',
  hoursPerMonth: 100,
  prices: Object.fromEntries(
    Object.entries({
      'lambda.requestsPerMillion': 0.2,
      'lambda.arm64GbSecond': 0.00001,
      'lambda.eventPollerUnitHour': 0.2,
      'msk.serverless.clusterHour': 1,
      'msk.serverless.partitionHour': 0.01,
      'msk.serverless.dataInGb': 0.1,
      'msk.serverless.dataOutGb': 0.05,
      'msk.serverless.storageGbMonth': 0.1,
      'opensearch.instanceHour.t3.medium.search': 0.1,
      'opensearch.gp3GbMonth': 0.1,
      'ec2.natGatewayHour': 0.05,
      'ec2.natGatewayGb': 0.05,
      'ec2.publicIpv4Hour': 0.005,
      'vpc.interfaceEndpointAzHour': 0.01,
      'vpc.interfaceEndpointGb': 0.01,
      's3.standardGbMonth': 0.02,
      's3.putPer1000': 0.005,
      's3.getPer1000': 0.0004,
      'cloudwatch.alarmMetricMonth': 0.1,
      'cloudwatch.customMetricMonth': 0.3,
      'xray.tracesPerMillion': 5,
      'stepfunctions.transitionsPer1000': 0.025,
    }).map(([key, usd]) => [key, { usd, source: 'test' }]),
  ),
  originalDesign: { usdPerHour: 5, description: 'the original design', source: 'test' },
}

const GIB = 1024 ** 3

const LOAD: LoadAssumptions = {
  // 1 GiB per bar so the Kafka volumes come out in round GiB.
  eventBytes: { bars: GIB, trades: 0, assets: 0 },
  rawLineBytes: 0,
  assetsPerDay: 0,
  partitions: 10,
  kafkaRetentionDays: 0,
  kafkaReaders: 2,
  durationMs: { PollBarsLambdaFunction: 2000 },
  batchesPerMinute: {},
  invocationsPerMonth: {},
  logBytesPerInvocation: 0,
  customMetrics: 10,
  metricsPerInsightsQuery: 10,
  natGbPerMonth: 20,
  secretsApiCallsPerMonth: 0,
  kmsRequestsPerMonth: 0,
  buckets: { LakeBucket: { storedGb: 100, putsPerMonth: 2000, getsPerMonth: 10_000 } },
  emr: { vcpuHours: 0, gbHours: 0, basis: '' },
  stateMachines: { transitionsPerExecution: 10 },
  athena: { queriesPerMonth: 0, mbScannedPerQuery: 0 },
}

const mapping = (minimum: number, group?: string) => ({
  Type: 'AWS::Lambda::EventSourceMapping',
  Properties: {
    ProvisionedPollerConfig: { MinimumPollers: minimum, ...(group ? { PollerGroupName: group } : {}) },
  },
})

const TEMPLATE: CfnTemplate = {
  Resources: {
    MskCluster: { Type: 'AWS::MSK::ServerlessCluster', Properties: {} },
    // One bar a minute: 100 h x 60 = 6000 bars of 1 GiB.
    PollBarsLambdaFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        MemorySize: 1024,
        TracingConfig: { Mode: 'Active' },
        Environment: { Variables: { SYMBOLS: 'BTC/USD' } },
      },
    },
    PollBarsSchedule: {
      Type: 'AWS::Events::Rule',
      Properties: {
        ScheduleExpression: 'rate(1 minute)',
        Targets: [{ Arn: { 'Fn::GetAtt': ['PollBarsLambdaFunction', 'Arn'] }, Id: 'x' }],
      },
    },
    CustomResourceFunction: { Type: 'AWS::Lambda::Function', Properties: { MemorySize: 128 } },
    GroupedA: mapping(4, 'shared'),
    GroupedB: mapping(7, 'shared'),
    Alone: mapping(1),
    OpenSearchDomain: {
      Type: 'AWS::OpenSearchService::Domain',
      Properties: {
        ClusterConfig: { InstanceType: 't3.medium.search', InstanceCount: 2 },
        EBSOptions: { VolumeSize: 10 },
      },
    },
    NatGateway: { Type: 'AWS::EC2::NatGateway', Properties: {} },
    NatAddress: { Type: 'AWS::EC2::EIP', Properties: {} },
    SecretsEndpoint: {
      Type: 'AWS::EC2::VPCEndpoint',
      Properties: { VpcEndpointType: 'Interface', SubnetIds: [{ Ref: 'A' }, { Ref: 'B' }] },
    },
    S3Endpoint: { Type: 'AWS::EC2::VPCEndpoint', Properties: { VpcEndpointType: 'Gateway' } },
    LakeBucket: { Type: 'AWS::S3::Bucket', Properties: {} },
    PlainAlarm: { Type: 'AWS::CloudWatch::Alarm', Properties: { MetricName: 'Errors' } },
    InsightsAlarm: {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: { Metrics: [{ Id: 'q', Expression: 'SELECT SUM(BarsEmitted) FROM CryptoLake' }] },
    },
    Role: { Type: 'AWS::IAM::Role', Properties: {} },
    Refresh: { Type: 'AWS::StepFunctions::StateMachine', Properties: {} },
    RefreshSchedule: {
      Type: 'AWS::Events::Rule',
      Properties: { ScheduleExpression: 'rate(1 hour)', Targets: [{ Arn: { Ref: 'Refresh' }, Id: 'x' }] },
    },
    Brokers: { Type: 'Custom::KafkaBootstrapBrokers', Properties: {} },
  },
}

describe('firingsPerHour', () => {
  it('reads minute, hour and day rates', () => {
    expect(firingsPerHour('rate(1 minute)')).toBe(60)
    expect(firingsPerHour('rate(5 minutes)')).toBe(12)
    expect(firingsPerHour('rate(2 hours)')).toBe(0.5)
    expect(firingsPerHour('rate(1 day)')).toBeCloseTo(1 / 24, 12)
  })

  it('reads cron expressions: every minute, once an hour, once a day', () => {
    expect(firingsPerHour('cron(* * * * ? *)')).toBe(60)
    expect(firingsPerHour('cron(7 * * * ? *)')).toBe(1)
    expect(firingsPerHour('cron(37 3 * * ? *)')).toBeCloseTo(1 / 24, 12)
  })

  it('refuses an expression it cannot read', () => {
    expect(() => firingsPerHour('every minute')).toThrow('not a rate expression: every minute')
  })
})

describe('estimateMonthlyCost', () => {
  const estimate = estimateMonthlyCost(TEMPLATE, PRICES, LOAD)
  const usd = (resource: string) => estimate.lines.find((line) => line.resource === resource)?.usd

  it('prices MSK Serverless by cluster-hours, partition-hours, data in, data out per reader and storage', () => {
    // 100 x 1 + 10 x 100 x 0.01 + 6000 GiB x 0.1 + 12000 GiB x 0.05 + 0 stored = 100 + 10 + 600 + 600
    expect(usd('MskCluster')).toBe(1310)
  })

  it('prices a scheduled function by its invocations, memory and duration, and its traces', () => {
    // 6000 invocations: 0.006 M x 0.2 + 6000 x 1 GB x 2 s x 0.00001 = 0.0012 + 0.12
    expect(usd('PollBarsLambdaFunction')).toBe(0.12)
    expect(usd('X-Ray (active tracing)')).toBe(0.03)
  })

  it('bills pollers per EPU of 10 pollers, once per poller group', () => {
    // shared: 4 + 7 = 11 pollers = 2 EPU x 100 h x 0.2; alone: 1 EPU
    expect(usd('GroupedA')).toBe(40)
    expect(usd('Alone')).toBe(20)
    expect(estimate.lines.some((line) => line.resource === 'GroupedB')).toBe(false)
    expect(estimate.free).toContain('GroupedB (in poller group shared, billed on GroupedA)')
  })

  it('prices OpenSearch nodes and volumes, the NAT, its address and the interface endpoint per AZ', () => {
    // 2 x 100 x 0.1 + 2 x 10 x 0.1
    expect(usd('OpenSearchDomain')).toBe(22)
    // 100 x 0.05 + 20 GB x 0.05
    expect(usd('NatGateway')).toBe(6)
    expect(usd('NatAddress')).toBe(0.5)
    // 2 AZ x 100 x 0.01 (+ 0.01 GB x 0.01, below a cent)
    expect(usd('SecretsEndpoint')).toBe(2)
    expect(estimate.free).toContain('S3Endpoint (gateway endpoint)')
  })

  it('prices buckets, alarms per metric read and custom metrics', () => {
    // 100 GB x 0.02 + 2 x 0.005 + 10 x 0.0004
    expect(usd('LakeBucket')).toBe(2.01)
    expect(usd('PlainAlarm')).toBe(0.1)
    expect(usd('InsightsAlarm')).toBe(1)
    expect(usd('CloudWatch custom metrics')).toBe(3)
  })

  it('prices a state machine by its scheduled executions and the transitions of each', () => {
    // 100 executions x 10 transitions = 1000 transitions x 0.025 per 1000
    expect(usd('Refresh')).toBe(0.03)
  })

  it('lists deploy-time functions, roles and custom resources as free, and sums the lines', () => {
    expect(estimate.free).toEqual(
      expect.arrayContaining(['Brokers', 'CustomResourceFunction (runs at deploy only)', 'Role']),
    )
    expect(estimate.totalUsd).toBeCloseTo(1406.79, 2)
    expect(estimate.lines[0]?.resource).toBe('MskCluster')
  })

  it('prices a trail by the S3 data events of the buckets it selects, an instance by its hours, volumes and detailed monitoring', () => {
    const prices: PriceList = {
      ...PRICES,
      prices: {
        ...PRICES.prices,
        'cloudtrail.dataEventsPer100000': { usd: 0.1, source: 'test' },
        'ec2.instanceHour.t4g.nano': { usd: 0.01, source: 'test' },
        'ebs.gp3GbMonth': { usd: 0.1, source: 'test' },
      },
    }
    const load: LoadAssumptions = {
      ...LOAD,
      buckets: {
        LakeBucket: { storedGb: 0, putsPerMonth: 200_000, getsPerMonth: 800_000 },
        OtherBucket: { storedGb: 0, putsPerMonth: 500_000, getsPerMonth: 0 },
      },
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
    const selected = { 'Fn::Sub': '${LakeBucket.Arn}/' }
    const { lines, free } = estimateMonthlyCost(
      {
        Resources: {
          LakeBucket: { Type: 'AWS::S3::Bucket', Properties: {} },
          OtherBucket: { Type: 'AWS::S3::Bucket', Properties: {} },
          Trail: {
            Type: 'AWS::CloudTrail::Trail',
            Properties: {
              AdvancedEventSelectors: [
                { FieldSelectors: [{ Field: 'resources.ARN', StartsWith: [selected] }] },
              ],
            },
          },
          TunnelTemplate: {
            Type: 'AWS::EC2::LaunchTemplate',
            Properties: {
              LaunchTemplateData: { BlockDeviceMappings: [{ Ebs: { VolumeType: 'gp3', VolumeSize: 8 } }] },
            },
          },
          Tunnel: {
            Type: 'AWS::EC2::Instance',
            Properties: {
              InstanceType: 't4g.nano',
              Monitoring: true,
              LaunchTemplate: { LaunchTemplateId: { Ref: 'TunnelTemplate' } },
            },
          },
        },
      },
      prices,
      load,
    )
    const line = (resource: string) => lines.find((l) => l.resource === resource)
    // LakeBucket only: 200,000 + 800,000 requests = 1,000,000 data events x 0.1 per 100,000
    expect(line('Trail')).toMatchObject({ usd: 1, basis: '1000000 S3 data events on 1 buckets' })
    // 100 h x 0.01 + 8 GB x 0.1 + 7 metrics x 0.3
    expect(line('Tunnel')).toMatchObject({
      usd: 3.9,
      basis: '1 x t4g.nano x 100 h + 8 GB EBS + 7 detailed-monitoring metrics',
    })
    expect(free).toContain('TunnelTemplate')
  })

  it('refuses a resource type it has no rule for, rather than pricing it at zero', () => {
    expect(() =>
      estimateMonthlyCost({ Resources: { Db: { Type: 'AWS::RDS::DBInstance' } } }, PRICES, LOAD),
    ).toThrow('no cost rule for Db (AWS::RDS::DBInstance)')
  })

  it('refuses a price that the list does not have', () => {
    expect(() =>
      estimateMonthlyCost(
        {
          Resources: {
            Search: {
              Type: 'AWS::OpenSearchService::Domain',
              Properties: { ClusterConfig: { InstanceType: 'm7g.large.search', InstanceCount: 1 } },
            },
          },
        },
        PRICES,
        LOAD,
      ),
    ).toThrow('no price for opensearch.instanceHour.m7g.large.search')
  })
})

describe('formatReport', () => {
  it('prints one line per resource, the total per month and hour, and the original design', () => {
    const report = formatReport(
      'Monthly estimate: test',
      {
        lines: [{ resource: 'MskCluster', type: 'AWS::MSK::ServerlessCluster', usd: 100, basis: 'b' }],
        free: ['Role'],
        totalUsd: 100,
      },
      PRICES,
      ['one assumption'],
    )
    expect(report.split('\n')).toEqual([
      'Monthly estimate: test',
      'Prices: us-east-1, USD, on-demand, retrieved 2026-11-30 (resources/pricing/us-east-1.json); 100 h per month; no free tier.',
      'Load assumptions:',
      '  - one assumption',
      '',
      'resource                   USD/month  basis',
      'MskCluster                    100.00  b',
      'TOTAL                         100.00  (1.000 USD/hour)',
      'No charge of their own: 1 resources (IAM, network plumbing, policies, schedules, custom resources, grouped pollers).',
      'Original design (the original design): about 5.00 USD/hour = 500.00 USD/month; this stage is 20.0 % of it.',
    ])
  })
})

describe('resources/pricing/us-east-1.json', () => {
  it('is dated, names its region and a source for every price', async () => {
    const list = JSON.parse(
      await readFile(new URL('../../resources/pricing/us-east-1.json', import.meta.url), 'utf8'),
    ) as PriceList
    expect(list.region).toBe('us-east-1')
    expect(list.retrieved).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    for (const [key, price] of Object.entries(list.prices)) {
      expect(price.usd, key).toBeGreaterThan(0)
      expect(price.source, key).toMatch(/^https:\/\//)
    }
  })
})
