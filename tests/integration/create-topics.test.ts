/**
 * The create-topics custom resource handler on the real broker: CloudFormation's request in,
 * the answer PUT to a local stand-in for the pre-signed response URL. The declared topics
 * already exist on the shared test broker (every suite ensures them), so Create must find them
 * and answer SUCCESS without creating or altering anything.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Admin } from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type KafkaConnection, kafkaConnectionOptions } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { startServices } from '../../local/services/index.ts'
import { loadTestBundle, loadTestFunction, testStandIns } from '../helpers/packaged-function.ts'

let kafka: KafkaConnection
let createTopics: LocalFunction
let server: Server
let responseUrl: string
let standIns: Record<string, string>
const answers: Array<{ method?: string; contentType?: string; body: Record<string, unknown> }> = []

beforeAll(async () => {
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  server = createServer((req, res) => {
    let text = ''
    req.on('data', (chunk) => {
      text += chunk
    })
    req.on('end', () => {
      answers.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(text) })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cfn-response?X-Amz-Signature=test`
  standIns = testStandIns(services)
  createTopics = await loadTestFunction('createTopics', standIns)
})

afterAll(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve))
})

const request = (type: 'Create' | 'Update' | 'Delete') => ({
  RequestType: type,
  RequestId: `req-${type}`,
  ResponseURL: responseUrl,
  ResourceType: 'Custom::KafkaTopics',
  LogicalResourceId: 'KafkaTopics',
  StackId: 'arn:aws:cloudformation:local:000000000000:stack/crypto-data-lake-test/1',
  ...(type === 'Create' ? {} : { PhysicalResourceId: 'kafka-topics:arn:local:cluster' }),
  ResourceProperties: {
    ServiceToken: 'arn:local:fn',
    ClusterArn: 'arn:local:cluster',
    DeclarationVersion: '1',
  },
})

describe('create-topics handler (real broker)', () => {
  it('answers Create with SUCCESS, the declared topics present and crypto.assets compacted', async () => {
    await createTopics.invoke(request('Create'))
    expect(answers.at(-1)).toEqual({
      method: 'PUT',
      contentType: '',
      body: {
        Status: 'SUCCESS',
        PhysicalResourceId: 'kafka-topics:arn:local:cluster',
        StackId: 'arn:aws:cloudformation:local:000000000000:stack/crypto-data-lake-test/1',
        RequestId: 'req-Create',
        LogicalResourceId: 'KafkaTopics',
        Data: { Topics: 'crypto.bars,crypto.trades,crypto.assets', Created: '' },
      },
    })
    const admin = new Admin(kafkaConnectionOptions(kafka, 'create-topics-it'))
    try {
      const topics = await admin.listTopics()
      for (const name of ['crypto.bars', 'crypto.trades', 'crypto.assets']) expect(topics).toContain(name)
      const [assets] = await admin.describeConfigs({
        resources: [
          { resourceType: 2, resourceName: 'crypto.assets', configurationKeys: ['cleanup.policy'] },
        ],
      })
      expect(assets?.configs[0]?.value).toBe('compact')
    } finally {
      await admin.close()
    }
  })

  it('answers Create from its packaged bundle too, with the modules the build stubs out: a real admin client in the zip', async () => {
    // The bundle aliases avsc and ajv-draft-04 (the Kafka client's schema registry) to an empty
    // module; an admin client that needed either would fail here, not only on AWS.
    const bundle = await loadTestBundle('createTopics', standIns)
    await bundle.invoke(request('Create'))
    expect(answers.at(-1)?.body).toMatchObject({
      Status: 'SUCCESS',
      RequestId: 'req-Create',
      Data: { Topics: 'crypto.bars,crypto.trades,crypto.assets', Created: '' },
    })
  })

  it('answers Update with SUCCESS and Delete with SUCCESS, keeping the topics', async () => {
    await createTopics.invoke(request('Update'))
    expect(answers.at(-1)?.body).toMatchObject({ Status: 'SUCCESS', RequestId: 'req-Update' })
    await createTopics.invoke(request('Delete'))
    expect(answers.at(-1)?.body).toMatchObject({
      Status: 'SUCCESS',
      RequestId: 'req-Delete',
      Reason: 'topics are kept on delete',
    })
    const admin = new Admin(kafkaConnectionOptions(kafka, 'create-topics-it'))
    try {
      expect(await admin.listTopics()).toContain('crypto.assets')
    } finally {
      await admin.close()
    }
  })
})
