import { describe, expect, it } from 'vitest'
import { handleTopicsRequest } from '../../functions/create-topics/core.ts'
import type { CustomResourceRequest, CustomResourceResponse } from '../../functions/shared/custom-resource.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'

const CLUSTER =
  'arn:aws:kafka:us-east-1:123456789012:cluster/crypto-data-lake-dev/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e-s1'

function request(type: CustomResourceRequest['RequestType'], physicalId?: string): CustomResourceRequest {
  return {
    RequestType: type,
    ServiceToken: 'arn:fn',
    RequestId: 'req-1',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/put-here',
    ResourceType: 'Custom::KafkaTopics',
    LogicalResourceId: 'KafkaTopics',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/abc',
    ResourceProperties: { ServiceToken: 'arn:fn', ClusterArn: CLUSTER, DeclarationVersion: '1' },
    ...(physicalId ? { PhysicalResourceId: physicalId, OldResourceProperties: {} } : {}),
  } as CustomResourceRequest
}

function deps(ensure: () => Promise<{ created: string[]; existing: string[] }>) {
  const answers: Array<{ url: string; body: CustomResourceResponse }> = []
  const ensured: string[][] = []
  return {
    answers,
    ensured,
    deps: {
      ensureTopics: async (declarations: readonly { name: string }[]) => {
        ensured.push(declarations.map((d) => d.name))
        return ensure()
      },
      declarations: TOPIC_DECLARATIONS,
      respond: async (url: string, body: CustomResourceResponse) => {
        answers.push({ url, body })
      },
    },
  }
}

describe('create-topics custom resource', () => {
  it('Create: ensures the declared topics and answers SUCCESS with ids copied from the request', async () => {
    const h = deps(async () => ({ created: ['crypto.bars', 'crypto.trades', 'crypto.assets'], existing: [] }))
    await handleTopicsRequest(request('Create'), h.deps)
    expect(h.ensured).toEqual([['crypto.bars', 'crypto.trades', 'crypto.assets']])
    expect(h.answers).toEqual([
      {
        url: 'https://cloudformation-custom-resource-response.example/put-here',
        body: {
          Status: 'SUCCESS',
          PhysicalResourceId: `kafka-topics:${CLUSTER}`,
          StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/abc',
          RequestId: 'req-1',
          LogicalResourceId: 'KafkaTopics',
          Data: {
            Topics: 'crypto.bars,crypto.trades,crypto.assets',
            Created: 'crypto.bars,crypto.trades,crypto.assets',
          },
        },
      },
    ])
  })

  it('Update: ensures again and keeps the physical id (an update, not a replacement)', async () => {
    const h = deps(async () => ({ created: [], existing: ['crypto.bars', 'crypto.trades', 'crypto.assets'] }))
    await handleTopicsRequest(request('Update', 'kafka-topics:old-id'), h.deps)
    expect(h.ensured).toHaveLength(1)
    expect(h.answers[0]?.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: 'kafka-topics:old-id',
      Data: { Created: '' },
    })
  })

  it('Delete: keeps the topics and answers SUCCESS', async () => {
    const h = deps(async () => Promise.reject(new Error('must not be called')))
    await handleTopicsRequest(request('Delete', 'kafka-topics:old-id'), h.deps)
    expect(h.ensured).toEqual([])
    expect(h.answers[0]?.body).toMatchObject({
      Status: 'SUCCESS',
      PhysicalResourceId: 'kafka-topics:old-id',
      Reason: 'topics are kept on delete',
    })
  })

  it('answers FAILED with the reason when the topics cannot be created', async () => {
    const h = deps(async () => Promise.reject(new Error('Cluster authorization failed')))
    const answer = await handleTopicsRequest(request('Create'), h.deps)
    expect(answer).toMatchObject({
      Status: 'FAILED',
      Reason: 'creating the Kafka topics failed: Cluster authorization failed',
      PhysicalResourceId: `kafka-topics:${CLUSTER}`,
    })
  })
})
