/**
 * The Lambda MSK event and its partial-batch response, as AWS sends and reads them. The local
 * event-source emulator builds exactly these payloads, so handlers never know the difference.
 */
export interface MskRecordHeader {
  [name: string]: number[]
}

export interface MskRecord {
  topic: string
  partition: number
  offset: number
  /** Milliseconds since the epoch. */
  timestamp: number
  timestampType: 'CREATE_TIME' | 'LOG_APPEND_TIME'
  /** Base64; absent for a null key. */
  key?: string
  /** Base64; null for a tombstone. */
  value: string | null
  headers: MskRecordHeader[]
}

export interface MskEvent {
  eventSource: 'aws:kafka'
  eventSourceArn: string
  bootstrapServers: string
  /** Keyed by `${topic}-${partition}`, records in offset order. */
  records: Record<string, MskRecord[]>
}

/** Kafka's partial batch response: resume each reported partition from the given offset. */
export interface KafkaBatchItemFailure {
  itemIdentifier: { partition: string; offset: number }
}
export interface KafkaBatchResponse {
  batchItemFailures: KafkaBatchItemFailure[]
}

export const partitionKey = (topic: string, partition: number) => `${topic}-${partition}`

export function decodeBase64(text: string | null | undefined): string | null {
  return text == null ? null : Buffer.from(text, 'base64').toString('utf8')
}

/** The value of one header, or undefined (the last one wins, as in `decodeHeaders`). */
export function headerValue(headers: MskRecordHeader[], name: string): string | undefined {
  let value: string | undefined
  for (const header of headers) {
    const bytes = header[name]
    if (bytes) value = Buffer.from(bytes).toString('utf8')
  }
  return value
}

/** MSK headers arrive as `[{ name: [byte, ...] }]`; this reads them back as strings. */
export function decodeHeaders(headers: MskRecordHeader[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const header of headers) {
    for (const [name, bytes] of Object.entries(header)) out[name] = Buffer.from(bytes).toString('utf8')
  }
  return out
}

/**
 * The failures to report: for each partition, the lowest failed offset (Lambda resumes the
 * partition from there, so later successes in it are redelivered — harmless, every sink is
 * idempotent).
 */
export function toBatchResponse(failed: Array<{ topic: string; partition: number; offset: number }>) {
  const lowest = new Map<string, number>()
  for (const record of failed) {
    const key = partitionKey(record.topic, record.partition)
    const current = lowest.get(key)
    if (current === undefined || record.offset < current) lowest.set(key, record.offset)
  }
  return {
    batchItemFailures: [...lowest].map(([partition, offset]) => ({ itemIdentifier: { partition, offset } })),
  } satisfies KafkaBatchResponse
}
