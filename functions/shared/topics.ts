/**
 * The one declaration of the Kafka topics. Created from here locally at start and on AWS at
 * deploy, so partitions, retention and compaction never drift between the two.
 */
import { TOPICS, type TopicName } from './contracts.ts'

export interface TopicDeclaration {
  name: TopicName
  partitions: number
  /** Topic-level configs, as Kafka names them. */
  configs: Record<string, string>
}

const DAY_MS = 24 * 60 * 60 * 1000

export const TOPIC_DECLARATIONS: readonly TopicDeclaration[] = [
  // Keyed by symbol: one partition per pair keeps each symbol's bars in order.
  {
    name: TOPICS.bars,
    partitions: 3,
    configs: { 'retention.ms': String(7 * DAY_MS), 'cleanup.policy': 'delete' },
  },
  {
    name: TOPICS.trades,
    partitions: 6,
    configs: { 'retention.ms': String(7 * DAY_MS), 'cleanup.policy': 'delete' },
  },
  // Compacted: the latest icon of each asset is kept forever.
  { name: TOPICS.assets, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
]
