/**
 * Stopping `make run` must not sit out a batch window: land-raw's is 60 s, the most AWS allows
 * 300 s. On the real broker, an event source with a 300 s window holds what it has fetched
 * until `flush()` (what a stopping run calls), then delivers it at once; its lag reaches 0 only
 * because of the flush, long before the window could close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKafkaProducer, type KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import type { MskEvent } from '../../functions/shared/msk.ts'
import type { EventProducer } from '../../functions/shared/ports.ts'
import type { TopicDeclaration } from '../../functions/shared/topics.ts'
import { type EventSource, startEventSource } from '../../local/runtime/event-source.ts'
import { deleteTopics } from '../../local/runtime/kafka-read.ts'
import { startServices } from '../../local/services/index.ts'
import { untilCaughtUp } from '../helpers/event-source.ts'
import { runId } from '../helpers/fakes.ts'

const run = runId(8).toLowerCase()
const TOPIC = `it-flush-${run}`

let kafka: KafkaConnection
let producer: EventProducer
let source: EventSource
const delivered: string[] = []

beforeAll(async () => {
  const services = await startServices('test')
  kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
  await ensureTopics(kafka, [{ name: TOPIC, partitions: 1, configs: {} } as unknown as TopicDeclaration], 1)
  producer = createKafkaProducer(kafka, 'flush-it')
  source = await startEventSource({
    name: `flush-${run}`,
    kafka,
    topics: [TOPIC],
    groupId: `flush-${run}`,
    batchSize: 1000,
    batchWindowMs: 300_000,
    maximumRetryAttempts: 0,
    bisectBatchOnFunctionError: false,
    invoke: async (event: MskEvent) => {
      for (const records of Object.values(event.records))
        for (const record of records) delivered.push(Buffer.from(record.value ?? '', 'base64').toString())
      return undefined
    },
    onFailure: async () => {
      throw new Error('nothing may reach the on-failure destination')
    },
    log: () => {},
  })
})

afterAll(async () => {
  await source?.stop()
  await producer?.close()
  if (kafka) await deleteTopics(kafka, [TOPIC])
})

describe('event source flush on stop', () => {
  it('delivers the open batch at once instead of waiting out the batch window', async () => {
    const values = ['a', 'b', 'c', 'd', 'e'].map((letter) => `{"n":"${letter}"}`)
    await producer.send(values.map((value) => ({ topic: TOPIC as never, key: 'k', value })))
    expect(delivered).toEqual([])
    source.flush()
    await untilCaughtUp(source, 120_000)
    expect(delivered).toEqual(values)
    expect(source.stats).toMatchObject({ batches: 1, records: 5 })
  })
})
