/**
 * Creates the declared topics that do not exist yet. Idempotent; never alters an existing
 * topic (changing partitions re-keys data and is a deliberate operation, not a side effect).
 */

import type { TopicDeclaration } from '../topics.ts'
import { type KafkaConnection, kafkaConnectionOptions, loadKafka } from './kafka.ts'

export async function ensureTopics(
  config: KafkaConnection,
  declarations: readonly TopicDeclaration[],
  replicas: number,
): Promise<{ created: string[]; existing: string[] }> {
  // Imported on use (see loadKafka): create-topics' cold start stays small.
  const { Admin } = await loadKafka()
  const admin = new Admin(kafkaConnectionOptions(config, 'crypto-lake-admin'))
  try {
    const existingTopics = new Set(await admin.listTopics())
    const created: string[] = []
    const existing: string[] = []
    for (const topic of declarations) {
      if (existingTopics.has(topic.name)) {
        existing.push(topic.name)
        continue
      }
      await admin.createTopics({
        topics: [topic.name],
        partitions: topic.partitions,
        replicas,
        configs: Object.entries(topic.configs).map(([name, value]) => ({ name, value })),
      })
      created.push(topic.name)
    }
    return { created, existing }
  } finally {
    await admin.close()
  }
}
