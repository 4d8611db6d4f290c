/**
 * The inline code of Custom::KafkaBootstrapBrokers (resources/msk.yml), run as Lambda would.
 */
import { describe, expect, it } from 'vitest'
import { invokeInlineCustomResource } from './helpers/custom-resource.ts'
import { props } from './helpers/template.ts'
import { packagedStages } from './packaged-stages.ts'

const service = packagedStages()

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
