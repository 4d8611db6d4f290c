/**
 * The store as Kafka holds it, for the report's `store` section (store.ts): every retained record
 * of each topic, a run's share of them, and each consumer group's committed offsets.
 */
import { Admin } from '@platformatic/kafka'
import { type KafkaConnection, kafkaConnectionOptions } from '../../functions/shared/adapters/kafka.ts'
import type { TopicName } from '../../functions/shared/contracts.ts'
import { earliestOffsets, endOffsets, readRange } from '../runtime/kafka-read.ts'
import { type TopicRecord, toTopicRecords } from './report.ts'

/** One topic as the store holds it: every retained record, read once. */
export interface StoreTopic {
  topic: TopicName
  /** The topic's physical name (the contract name, except in tests that isolate themselves). */
  name: string
  earliest: bigint[]
  end: bigint[]
  records: TopicRecord[]
}

/** Every retained record of each topic, earliest offset to end. */
export async function readStoreTopics(
  kafka: KafkaConnection,
  topics: TopicName[],
  nameOf: (topic: TopicName) => string = (topic) => topic,
): Promise<StoreTopic[]> {
  const names = topics.map(nameOf)
  const [earliest, end] = await Promise.all([earliestOffsets(kafka, names), endOffsets(kafka, names)])
  const out: StoreTopic[] = []
  for (const topic of topics) {
    const name = nameOf(topic)
    const from = earliest.get(name) ?? []
    const to = end.get(name) ?? []
    out.push({
      topic,
      name,
      earliest: from,
      end: to,
      records: toTopicRecords(topic, await readRange(kafka, name, from, to)),
    })
  }
  return out
}

/** The records of a store topic within [from, to) per partition: a run's share of it. */
export function recordsBetween(records: TopicRecord[], from: bigint[], to: bigint[]): TopicRecord[] {
  return records.filter((r) => r.offset >= (from[r.partition] ?? 0n) && r.offset < (to[r.partition] ?? 0n))
}

/** Consumer group -> topic -> committed offset per partition (absent: nothing committed). */
export type CommittedOffsets = Map<string, Map<string, Map<number, bigint>>>

export async function committedOffsets(kafka: KafkaConnection, groups: string[]): Promise<CommittedOffsets> {
  const out: CommittedOffsets = new Map()
  if (groups.length === 0) return out
  const admin = new Admin(kafkaConnectionOptions(kafka, 'report-offsets'))
  try {
    for (const group of await admin.listConsumerGroupOffsets({ groups: [...new Set(groups)] })) {
      const topics = new Map<string, Map<number, bigint>>()
      for (const topic of group.topics) {
        const partitions = new Map<number, bigint>()
        for (const p of topic.partitions)
          if (p.committedOffset >= 0n) partitions.set(p.partitionIndex, p.committedOffset)
        topics.set(topic.name, partitions)
      }
      out.set(group.groupId, topics)
    }
    return out
  } finally {
    await admin.close()
  }
}
