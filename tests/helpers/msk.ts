import type { MskEvent, MskRecord } from '../../functions/shared/msk.ts'

/** An MSK record as Lambda delivers it, from a plain value (serialized as given). */
export function mskRecord(
  topic: string,
  partition: number,
  offset: number,
  value: unknown,
  key = 'k',
): MskRecord {
  const text = value === null ? null : typeof value === 'string' ? value : JSON.stringify(value)
  return {
    topic,
    partition,
    offset,
    timestamp: Date.parse('2026-11-30T10:00:00Z'),
    timestampType: 'CREATE_TIME',
    key: Buffer.from(key).toString('base64'),
    value: text === null ? null : Buffer.from(text).toString('base64'),
    headers: [],
  }
}

export function mskEvent(records: MskRecord[]): MskEvent {
  const grouped = Object.groupBy(records, (record) => `${record.topic}-${record.partition}`)
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/test/abc',
    bootstrapServers: '127.0.0.1:9092',
    records: grouped as Record<string, MskRecord[]>,
  }
}
