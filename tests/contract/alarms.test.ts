/**
 * The packaged template's alarms, on both stages, against the metrics that exist on AWS
 * (tests/fixtures/aws-metrics.json), and that fixture against the metrics the functions emit.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { projectRoot } from './helpers/package-service.ts'
import { policyStatements, props, resourcesOfType } from './helpers/template.ts'
import { alarmMetrics, EXPECTED, metricsFixture, packagedStages, STAGES } from './packaged-stages.ts'

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const expected = EXPECTED[stage]
  const template = () => service(stage).template

  describe('alarms', () => {
    it('watch only metrics that exist (tests/fixtures/aws-metrics.json), and notify the topic on ALARM and OK', async () => {
      const fixture = await metricsFixture()
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
})

describe('custom metrics in tests/fixtures/aws-metrics.json', () => {
  it('are each still emitted by some function', async () => {
    const fixture = await metricsFixture()
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
