import { Admin, Producer, stringSerializers } from '@platformatic/kafka'
import { type KafkaConnection, kafkaConnectionOptions } from '../../functions/shared/adapters/kafka.ts'
import type { Offsets } from '../../local/runtime/kafka-read.ts'

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

/**
 * Sets a group's committed offsets on each topic, as a consumer that stopped there would have left
 * them: a test's consumer then starts at its own records, not at the shared topic's backlog.
 */
export async function commitGroupAt(
  kafka: KafkaConnection,
  groupId: string,
  offsets: Map<string, Offsets>,
): Promise<void> {
  const admin = new Admin(kafkaConnectionOptions(kafka, `${groupId}-offsets`))
  try {
    await admin.alterConsumerGroupOffsets({
      groupId,
      topics: [...offsets].map(([name, topicOffsets]) => ({
        name,
        partitionOffsets: topicOffsets.map((offset, partition) => ({ partition, offset })),
      })),
    })
  } finally {
    await admin.close()
  }
}
