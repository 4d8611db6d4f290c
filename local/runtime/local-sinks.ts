/**
 * The profile's Kafka and OpenSearch as the local runtime connects to them (no auth, no region),
 * and what the deploy's custom resources do, done on them: the topics (create-topics) and the
 * index templates and aliases (apply-search-config), idempotently, before any function runs, so
 * every index a local run creates (old months of a backfill too) follows the templates.
 */
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import { ensureTopics } from '../../functions/shared/adapters/kafka-admin.ts'
import { createOpenSearchClient } from '../../functions/shared/adapters/opensearch.ts'
import { applySearchConfig } from '../../functions/shared/search-templates.ts'
import { TOPIC_DECLARATIONS } from '../../functions/shared/topics.ts'

export interface LocalServices {
  kafka: string
  opensearch: string
}

export function localKafka(services: LocalServices): KafkaConnection {
  return { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none', AWS_REGION: 'local' }
}

export function localSearchClient(services: LocalServices) {
  return createOpenSearchClient({
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    AWS_REGION: 'local',
  })
}

export async function provisionLocalSinks(
  services: LocalServices,
  log: (line: string) => void,
): Promise<{ kafka: KafkaConnection }> {
  const kafka = localKafka(services)
  const topics = await ensureTopics(kafka, TOPIC_DECLARATIONS, 1)
  if (topics.created.length > 0) log(`kafka: created topics ${topics.created.join(', ')}`)
  const search = localSearchClient(services)
  try {
    const searchConfig = await applySearchConfig(search, {
      replicas: 0,
      log: (line) => log(`opensearch: ${line}`),
    })
    log(`opensearch: templates ${searchConfig.templates.join(', ')} applied on ${services.opensearch}`)
  } finally {
    await search.close()
  }
  return { kafka }
}
