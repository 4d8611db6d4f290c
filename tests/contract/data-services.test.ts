/**
 * The packaged template's data services, on both stages: the MSK event source mappings of
 * index-events and land-raw, the OpenSearch domain, MSK Serverless and the network paths.
 */
import { describe, expect, it } from 'vitest'
import { asArray, getAttOf, policyStatements, props, refOf, resourcesOfType } from './helpers/template.ts'
import { EXPECTED, KAFKA_TOPICS, packagedStages, STAGES } from './packaged-stages.ts'

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const expected = EXPECTED[stage]
  const template = () => service(stage).template

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
})
