/**
 * Reading topics back, for the accounting report and the tests: end offsets now, and every
 * record between two sets of offsets.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin, Consumer, type Message } from '@platformatic/kafka'
import { type KafkaConnection, kafkaConnectionOptions } from '../../functions/shared/adapters/kafka.ts'

/** Per partition, the offset the next record will get. */
export type Offsets = bigint[]

export async function endOffsets(kafka: KafkaConnection, topics: string[]): Promise<Map<string, Offsets>> {
  const consumer = new Consumer({
    ...kafkaConnectionOptions(kafka, 'offsets-reader'),
    groupId: `offsets-${randomUUID()}`,
  })
  try {
    return await consumer.listOffsets({ topics })
  } finally {
    await consumer.close()
  }
}

export async function earliestOffsets(
  kafka: KafkaConnection,
  topics: string[],
): Promise<Map<string, Offsets>> {
  const consumer = new Consumer({
    ...kafkaConnectionOptions(kafka, 'offsets-reader'),
    groupId: `offsets-${randomUUID()}`,
  })
  try {
    return await consumer.listOffsets({ topics, timestamp: -2n })
  } finally {
    await consumer.close()
  }
}

/** Every record of `topic` with from[p] <= offset < to[p], in partition order. */
export async function readRange(
  kafka: KafkaConnection,
  topic: string,
  from: Offsets,
  to: Offsets,
  timeoutMs = 60_000,
): Promise<Message[]> {
  const wanted = to.map((end, partition) => end - (from[partition] ?? 0n)).reduce((a, b) => a + b, 0n)
  if (wanted <= 0n) return []
  const consumer = new Consumer({
    ...kafkaConnectionOptions(kafka, 'range-reader'),
    retries: 40,
    retryDelay: 500,
    groupId: `range-${randomUUID()}`,
    autocommit: false,
    maxWaitTime: 200,
  })
  const messages: Message[] = []
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: 'manual',
      offsets: from.map((offset, partition) => ({ topic, partition, offset })),
    })
    const remaining = new Map(to.map((end, partition) => [partition, end]))
    const deadline = Date.now() + timeoutMs
    const iterator = stream[Symbol.asyncIterator]()
    let next = iterator.next()
    while ([...remaining.values()].some((end, partition) => end > (from[partition] ?? 0n))) {
      const result = await Promise.race([
        next,
        sleep(Math.max(0, deadline - Date.now())).then(() => undefined),
      ])
      if (!result) throw new Error(`timed out reading ${topic}: got ${messages.length} of ${wanted} records`)
      if (result.done) break
      const message = result.value as Message
      next = iterator.next()
      const end = to[message.partition] ?? 0n
      if (message.offset < end) messages.push(message)
      if (message.offset + 1n >= end) remaining.set(message.partition, from[message.partition] ?? 0n)
    }
    await stream.close()
    return messages
  } finally {
    await consumer.close()
  }
}

export async function deleteTopics(kafka: KafkaConnection, topics: string[]): Promise<void> {
  const admin = new Admin(kafkaConnectionOptions(kafka, 'topic-admin'))
  try {
    const existing = new Set(await admin.listTopics())
    const doomed = topics.filter((topic) => existing.has(topic))
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed })
  } finally {
    await admin.close()
  }
}
