/**
 * The packaged template's data-plane IAM, on both stages: each role's Kafka actions and the
 * topics and groups they reach, and the raw-bucket prefixes each function may read or write.
 */
import { describe, expect, it } from 'vitest'
import { policyStatements } from './helpers/template.ts'
import { actionsOf, KAFKA_TOPICS, packagedStages, STAGES } from './packaged-stages.ts'

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

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const template = () => service(stage).template

  describe('IAM', () => {
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
  })
})
