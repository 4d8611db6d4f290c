/**
 * The raw zone: every contract-valid Kafka record, kept with its coordinates and its value as
 * received, in gzip NDJSON objects under event-time partitions. Written by land-raw, read by
 * the Spark lake jobs and by the accounting report.
 *
 * Key: `raw/{topic}/dt=YYYY-MM-DD/hour=HH/{partition}-{blockStart}-{blockEnd}.ndjson.gz`, where
 * the block is a FIXED range of 1000 offsets. A record therefore always maps to the same object,
 * whatever the batch boundaries; land-raw merges each batch into the block object (union by
 * offset), so a redelivered or differently cut batch rewrites the same lines, never copies.
 */
import { promisify } from 'node:util'
import { gunzip, gzip } from 'node:zlib'
import { fileObjectStore } from './adapters/object-store.ts'
import { type AssetEvent, type BarEvent, TOPICS, type TopicName, type TradeEvent } from './contracts.ts'
import { decodeBase64, decodeHeaders, type MskRecord } from './msk.ts'
import type { ObjectStore, VersionedObject } from './ports.ts'
import { rawStore } from './stores.ts'

export const RAW_PREFIX = 'raw/'
export const BLOCK_SIZE = 1000
export const RAW_CONTENT_TYPE = 'application/x-ndjson'

const gzipAsync = promisify(gzip)
const gunzipAsync = promisify(gunzip)

/** One line of a raw object: the Kafka record's coordinates, its value as received, and its id. */
export interface RawLine {
  topic: string
  partition: number
  offset: number
  /** Kafka record timestamp, ISO-8601 with milliseconds. */
  timestamp: string
  timestamp_type: 'CREATE_TIME' | 'LOG_APPEND_TIME'
  key: string | null
  headers: Record<string, string>
  /** The record value, UTF-8 text exactly as received (the JSON text of the event). */
  value: string
  event_id: string
  /** The event time that partitions the line, `YYYY-MM-DDTHH:MM:SSZ`. */
  event_time: string
}

/** The event time of an event: bars `start`, trades `executed_at`, assets `fetched_at`. */
export function eventTimeOf(topic: TopicName, event: BarEvent | TradeEvent | AssetEvent): string {
  switch (topic) {
    case TOPICS.bars:
      return (event as BarEvent).start
    case TOPICS.trades:
      return (event as TradeEvent).executed_at
    case TOPICS.assets:
      return (event as AssetEvent).fetched_at
  }
}

/** The fixed offset block of an offset: `[floor(offset / 1000) * 1000, +999]`. */
export function offsetBlock(offset: number): { start: number; end: number } {
  const start = Math.floor(offset / BLOCK_SIZE) * BLOCK_SIZE
  return { start, end: start + BLOCK_SIZE - 1 }
}

/** The object key of a record, from its topic, partition, offset and event time (UTC). */
export function rawKey(topic: string, partition: number, offset: number, eventTime: string): string {
  const at = new Date(eventTime)
  if (Number.isNaN(at.getTime())) throw new Error(`invalid event time: ${eventTime}`)
  const iso = at.toISOString()
  const { start, end } = offsetBlock(offset)
  return `${RAW_PREFIX}${topic}/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/${partition}-${start}-${end}.ndjson.gz`
}

const KEY_PATTERN = /^raw\/([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/(\d+)-(\d+)-(\d+)\.ndjson\.gz$/

/** The parts of a raw key, or undefined for a key that is not one. */
export function parseRawKey(key: string) {
  const match = KEY_PATTERN.exec(key)
  if (!match) return undefined
  const [, topic = '', dt = '', hour = '', partition = '', first = '', last = ''] = match
  return {
    topic,
    dt,
    hour,
    partition: Number(partition),
    firstOffset: Number(first),
    lastOffset: Number(last),
  }
}

/** The raw line of a validated record. `value` is the decoded UTF-8 text of the record value. */
export function toRawLine(record: MskRecord, value: string, eventId: string, eventTime: string): RawLine {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: new Date(record.timestamp).toISOString(),
    timestamp_type: record.timestampType,
    key: decodeBase64(record.key),
    headers: decodeHeaders(record.headers),
    value,
    event_id: eventId,
    event_time: eventTime,
  }
}

/**
 * Union by offset, sorted by offset: a line already in the object is replaced by the same
 * record redelivered (identical, by Kafka's guarantee), so merging is idempotent.
 */
export function mergeLines(existing: RawLine[], incoming: RawLine[]): RawLine[] {
  const byOffset = new Map<number, RawLine>()
  for (const line of existing) byOffset.set(line.offset, line)
  for (const line of incoming) byOffset.set(line.offset, line)
  return [...byOffset.values()].sort((a, b) => a.offset - b.offset)
}

/** gzip of the NDJSON text, one line per record, each line ending in `\n`. */
export async function encodeLines(lines: RawLine[]): Promise<Uint8Array> {
  const text = lines.map((line) => `${JSON.stringify(line)}\n`).join('')
  return new Uint8Array(await gzipAsync(Buffer.from(text, 'utf8')))
}

export async function decodeLines(body: Uint8Array): Promise<RawLine[]> {
  const text = (await gunzipAsync(body)).toString('utf8')
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as RawLine)
}

/**
 * The writes land-raw needs for a read-merge-write without lost updates: read an object with its
 * version, write only if it is still that version (or still absent).
 */
export interface RawObjectStore {
  getVersioned(key: string): Promise<VersionedObject | undefined>
  /** false when the object changed (or appeared) since it was read: re-read and merge again. */
  putIfUnchanged(key: string, body: Uint8Array, etag: string | undefined): Promise<boolean>
}

/** The raw zone's view of an object store: its conditional write, with the raw objects' metadata. */
export function rawBlockStore(objects: ObjectStore): RawObjectStore {
  return {
    getVersioned: (key) => objects.getVersioned(key),
    async putIfUnchanged(key, body, etag) {
      const options = { contentType: RAW_CONTENT_TYPE, contentEncoding: 'gzip' }
      return (await objects.putIfVersion(key, body, etag, options)) !== undefined
    },
  }
}

/** The raw zone in a local directory (tests, local runs). */
export const fileRawObjectStore = (root: string): RawObjectStore => rawBlockStore(fileObjectStore(root))

/** S3 when a bucket is configured (AWS), a directory otherwise (local runs and tests). */
export function rawObjectStore(config: {
  RAW_BUCKET?: string | undefined
  RAW_DIR?: string | undefined
}): RawObjectStore {
  return rawBlockStore(rawStore(config))
}

export interface MergeResult {
  /** Lines in the object after the merge. */
  lines: number
  /** Lines this merge added (offsets the object did not hold yet). */
  added: number
  /** False when the object already held every line: nothing was written. */
  written: boolean
}

/**
 * Merges `incoming` into the object at `key`: read, union by offset, conditional write; on a
 * concurrent change, read and merge again (bounded). Idempotent: merging lines the object
 * already holds writes nothing.
 */
export async function mergeIntoObject(
  store: RawObjectStore,
  key: string,
  incoming: RawLine[],
  attempts = 5,
): Promise<MergeResult> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const current = await store.getVersioned(key)
    const existing = current ? await decodeLines(current.body) : []
    const merged = mergeLines(existing, incoming)
    const added = merged.length - existing.length
    if (current && added === 0 && sameLines(existing, incoming)) {
      return { lines: merged.length, added: 0, written: false }
    }
    if (await store.putIfUnchanged(key, await encodeLines(merged), current?.etag)) {
      return { lines: merged.length, added, written: true }
    }
  }
  throw new Error(`raw object ${key} kept changing under ${attempts} merge attempts`)
}

/** True when every incoming line is already in `existing` with the same content. */
function sameLines(existing: RawLine[], incoming: RawLine[]): boolean {
  const byOffset = new Map(existing.map((line) => [line.offset, JSON.stringify(line)]))
  return incoming.every((line) => byOffset.get(line.offset) === JSON.stringify(line))
}

/** Every line under `raw/{topic}/`, with the number of objects read. For reports and tests. */
export async function readRawTopic(
  store: ObjectStore,
  topic: string,
): Promise<{ objects: number; lines: RawLine[] }> {
  const keys = (await store.list(`${RAW_PREFIX}${topic}/`)).filter((key) => parseRawKey(key) !== undefined)
  const lines: RawLine[] = []
  for (const key of keys) {
    const body = await store.get(key)
    if (body) lines.push(...(await decodeLines(body)))
  }
  return { objects: keys.length, lines }
}
