/**
 * Kafka producer adapter. Locally the broker speaks PLAINTEXT; on AWS, MSK Serverless takes
 * TLS + SASL/OAUTHBEARER with a token presigned with the function's role (msk-iam.ts).
 */
import { Producer, stringSerializers } from '@platformatic/kafka'
import type { TopicName } from './contracts.ts'
import { mskIamToken } from './msk-iam.ts'

export interface OutgoingRecord {
  topic: TopicName
  key: string
  /** The serialized event (JSON text). */
  value: string
  headers?: Record<string, string>
}

/** The port cores produce through. Resolves only once the broker has acknowledged every record. */
export interface EventProducer {
  send(records: OutgoingRecord[]): Promise<void>
  close(): Promise<void>
}

export interface KafkaConnection {
  KAFKA_BROKERS: string[]
  KAFKA_AUTH: 'none' | 'iam'
  AWS_REGION: string
}

/** Connection options shared by the producer, the admin client and the local consumer. */
export function kafkaConnectionOptions(config: KafkaConnection, clientId: string) {
  const base = {
    clientId,
    bootstrapBrokers: config.KAFKA_BROKERS,
    connectTimeout: 5_000,
    requestTimeout: 15_000,
    // Bounded: a Lambda must fail inside its timeout rather than retry forever.
    retries: 5,
    retryDelay: 250,
  }
  if (config.KAFKA_AUTH === 'none') return base
  return {
    ...base,
    tls: {},
    sasl: {
      mechanism: 'OAUTHBEARER' as const,
      // Called on every (re)authentication, so the 15-minute MSK token never goes stale.
      token: () => mskIamToken(config.AWS_REGION),
    },
  }
}

export function createKafkaProducer(config: KafkaConnection, clientId: string): EventProducer {
  const producer = new Producer({
    ...kafkaConnectionOptions(config, clientId),
    serializers: stringSerializers,
    // Idempotent producer: broker-side dedupe of retried batches; implies acks=all.
    idempotent: true,
    compression: 'lz4',
    autocreateTopics: false,
  })
  return {
    async send(records) {
      if (records.length === 0) return
      await producer.send({
        messages: records.map((record) => ({
          topic: record.topic,
          key: record.key,
          value: record.value,
          headers: record.headers ? new Map(Object.entries(record.headers)) : undefined,
        })),
      })
    },
    async close() {
      await producer.close()
    },
  }
}
