import {
  Admin,
  Consumer,
  type Message,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServices, servicesStatus, startServices } from '../../local/services/index.ts'

// Unique per run: the test profile's data survives between runs, and topics cannot be re-created.
const runId = `${Date.now()}-${process.pid}`

let services: RunningServices

beforeAll(async () => {
  services = await startServices('test')
})

afterAll(async () => {
  // A no-op when the services were already running before this file (startedHere === false).
  await services?.stop()
})

describe('local services (test profile)', () => {
  it('serves the test profile on its own ports', async () => {
    expect(services.kafka).toBe('127.0.0.1:29092')
    expect(services.opensearch).toBe('http://127.0.0.1:29200')

    const status = await servicesStatus('test')
    expect(status.kafka.healthy).toBe(true)
    expect(status.opensearch.healthy).toBe(true)
    expect(status.provisioned.kafka).toBe(true)
    expect(status.provisioned.opensearch).toBe(true)
  })

  it('reuses healthy services instead of starting them twice', async () => {
    const again = await startServices('test', { log: () => undefined })
    expect(again.startedHere).toBe(false)
    expect(again.kafka).toBe('127.0.0.1:29092')
    expect(again.opensearch).toBe('http://127.0.0.1:29200')
    // Stopping a handle that started nothing leaves the services up.
    await again.stop()
    const status = await servicesStatus('test')
    expect(status.kafka.healthy).toBe(true)
    expect(status.opensearch.healthy).toBe(true)
  })

  it('creates a topic, produces one message and consumes it back', async () => {
    const topic = `services-test.bars-${runId}`
    const admin = new Admin({ clientId: 'services-test-admin', bootstrapBrokers: [services.kafka] })
    const producer = new Producer({
      clientId: 'services-test-producer',
      bootstrapBrokers: [services.kafka],
      serializers: stringSerializers,
    })
    const consumer = new Consumer({
      groupId: `services-test-${runId}`,
      clientId: 'services-test-consumer',
      bootstrapBrokers: [services.kafka],
      deserializers: stringDeserializers,
    })
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 })
      expect(await admin.listTopics()).toContain(topic)

      await producer.send({
        messages: [
          {
            topic,
            key: 'BTC/USD',
            value: '{"symbol":"BTC/USD","close":"64000.50"}',
            headers: { 'schema-version': '1' },
          },
        ],
      })

      const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
      let received: Message<string, string, string, string> | undefined
      for await (const message of stream) {
        received = message
        break
      }
      await stream.close()

      expect(received?.topic).toBe(topic)
      expect(received?.partition).toBe(0)
      expect(received?.offset).toBe(0n)
      expect(received?.key).toBe('BTC/USD')
      expect(received?.value).toBe('{"symbol":"BTC/USD","close":"64000.50"}')
      expect(received?.headers.get('schema-version')).toBe('1')
    } finally {
      await consumer.close(true)
      await producer.close()
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
      await admin.close()
    }
  })

  it('indexes a document into OpenSearch and reads it back', async () => {
    const index = `services-test-${runId}`
    const document = { event_id: 'alpaca:BTC/USD:2025-01-02T03:04:00Z', symbol: 'BTC/USD', close: '64000.50' }
    try {
      const put = await fetch(`${services.opensearch}/${index}/_doc/bar-1?refresh=true`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(document),
      })
      expect(put.status).toBe(201)
      expect(await put.json()).toMatchObject({ _index: index, _id: 'bar-1', result: 'created' })

      const get = await fetch(`${services.opensearch}/${index}/_doc/bar-1`)
      expect(get.status).toBe(200)
      expect(await get.json()).toMatchObject({
        _index: index,
        _id: 'bar-1',
        found: true,
        _source: { event_id: 'alpaca:BTC/USD:2025-01-02T03:04:00Z', symbol: 'BTC/USD', close: '64000.50' },
      })

      const search = await fetch(`${services.opensearch}/${index}/_search?q=symbol:%22BTC/USD%22`)
      const hits = ((await search.json()) as { hits: { total: { value: number } } }).hits
      expect(hits.total.value).toBe(1)
    } finally {
      await fetch(`${services.opensearch}/${index}`, { method: 'DELETE' })
    }
  })
})
