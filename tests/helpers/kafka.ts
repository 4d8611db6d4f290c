import { Producer, stringSerializers } from '@platformatic/kafka'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'

/** Sends a tombstone (null value): the functions' string producer cannot send one. */
export async function sendTombstone(kafka: KafkaConnection, topic: string, key: string): Promise<void> {
  const producer = new Producer({
    clientId: `tombstone-${topic}`,
    bootstrapBrokers: kafka.KAFKA_BROKERS,
    serializers: stringSerializers,
  })
  try {
    await producer.send({ messages: [{ topic, key }] })
  } finally {
    await producer.close()
  }
}
