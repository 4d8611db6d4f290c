/**
 * Personal data never leaves Kafka and the encrypted raw zone in clear. Downstream it is a
 * keyed HMAC-SHA256 token: stable (joins and "top users" still work), not reversible without
 * the key, and the same in OpenSearch and in the Iceberg tables (the Spark side computes
 * HMAC-SHA256 with the same key and hex encoding).
 */
import { createHmac } from 'node:crypto'

export const tokenize = (key: string, value: string) => createHmac('sha256', key).update(value).digest('hex')
