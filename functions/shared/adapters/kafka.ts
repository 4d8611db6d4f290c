/**
 * Kafka producer adapter. Locally the broker speaks PLAINTEXT; on AWS, MSK Serverless takes
 * TLS + SASL/OAUTHBEARER with a token presigned with the function's role (msk-iam.ts).
 */
import type { Producer } from '@platformatic/kafka'
import type { EventProducer } from '../ports.ts'
import { mskIamToken } from './msk-iam.ts'

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

/**
 * @platformatic/kafka compiles JSON Schemas of its options (ajv) when its module is evaluated:
 * ~0.5 s of CPU, most of a producing function's cold start. It is imported on the first use
 * instead (in the bundle it stays inline, evaluated on that first import()), so an invocation
 * that produces nothing never pays it, and init stays small.
 */
export const loadKafka = () => import('@platformatic/kafka')

export function createKafkaProducer(config: KafkaConnection, clientId: string): EventProducer {
  let producer: Promise<Producer<string, string, string, string>> | undefined
  const connected = () => {
    producer ??= loadKafka().then(
      ({ Producer, stringSerializers }) =>
        new Producer({
          ...kafkaConnectionOptions(config, clientId),
          serializers: stringSerializers,
          // Idempotent producer: broker-side dedupe of retried batches; implies acks=all.
          idempotent: true,
          compression: 'lz4',
          autocreateTopics: false,
        }),
    )
    return producer
  }
  return {
    async send(records) {
      if (records.length === 0) return
      await (await connected()).send({
        messages: records.map((record) => ({
          topic: record.topic,
          key: record.key,
          value: record.value,
          headers: record.headers ? new Map(Object.entries(record.headers)) : undefined,
        })),
      })
    },
    async close() {
      if (producer) await (await producer).close()
    },
  }
}
