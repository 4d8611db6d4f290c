/**
 * `make logs`: the local functions' output, readable. The local runtime writes each function's
 * stdout to `.local/<profile>/logs/functions.ndjson`, as CloudWatch Logs would hold it: Powertools
 * JSON log lines and EMF metric documents. This module turns one such line into one readable
 * line (time, level, function, message, the remaining keys; an EMF document as metric=value),
 * and reads or follows the file. Formatting is pure; reading is at the end.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Paint } from './text.ts'

/** Keys every Powertools log line carries: shown in the line's fixed columns or not at all. */
const STANDARD_KEYS = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_name',
  'function_request_id',
  'sampling_rate',
  'xray_trace_id',
])

interface EmfDirective {
  Namespace?: string
  Dimensions?: string[][]
  Metrics?: Array<{ Name: string; Unit?: string }>
}

export interface LogFilter {
  /** Only lines of this function (`pollBars` or `poll-bars`); lines that name none are left out. */
  fn?: string
}

/** `poll-bars`, `PollBars`, `pollBars` -> `pollbars`: the forms a person types for one function. */
function functionKey(name: string): string {
  return name.replace(/[-_]/g, '').toLowerCase()
}

/** `2026-12-07T04:10:00.123Z` or epoch ms -> `2026-12-07 04:10:00.123` (UTC, as the runtime writes). */
export function formatTime(value: unknown): string {
  const date =
    typeof value === 'number' ? new Date(value) : typeof value === 'string' ? new Date(value) : undefined
  if (!date || Number.isNaN(date.getTime())) return '-'.padEnd(23)
  return date.toISOString().replace('T', ' ').slice(0, 23)
}

function compact(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) || value === '' ? JSON.stringify(value) : value
  return JSON.stringify(value)
}

function levelColour(level: string): Parameters<Paint>[0] {
  if (level === 'ERROR' || level === 'CRITICAL') return 'red'
  if (level === 'WARN') return 'yellow'
  if (level === 'DEBUG' || level === 'TRACE') return 'grey'
  return 'green'
}

/**
 * One line of the function log, readable; undefined when the filter leaves it out. An error's
 * stack (Powertools logs it under `error.stack`) follows on indented lines: it is what the reader
 * came for.
 */
export function formatLogLine(line: string, filter: LogFilter, paint: Paint): string | undefined {
  const trimmed = line.trim()
  if (trimmed === '') return undefined
  let record: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(trimmed)
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object')
    record = parsed as Record<string, unknown>
  } catch {
    // Not JSON: something wrote plain text to stdout. Shown as it is, unless a function is asked for.
    return filter.fn === undefined ? paint('grey', trimmed) : undefined
  }
  const fn = typeof record.function_name === 'string' ? record.function_name : undefined
  if (filter.fn !== undefined && (fn === undefined || functionKey(fn) !== functionKey(filter.fn)))
    return undefined
  const fnColumn = paint('cyan', (fn ?? '-').padEnd(16))

  const aws = record._aws as { Timestamp?: number; CloudWatchMetrics?: EmfDirective[] } | undefined
  if (aws?.CloudWatchMetrics) {
    const directives = aws.CloudWatchMetrics
    const metricNames = new Set(
      directives.flatMap((directive) => (directive.Metrics ?? []).map((m) => m.Name)),
    )
    const dimensionNames = new Set(
      directives
        .flatMap((directive) => (directive.Dimensions ?? []).flat())
        .filter((name) => name !== 'service'),
    )
    const metrics = [...metricNames].map((name) => `${paint('bold', name)}=${compact(record[name])}`)
    const dimensions = [...dimensionNames]
      .filter((name) => name !== 'function_name')
      .map((name) => `${name}=${compact(record[name])}`)
    return [
      paint('grey', formatTime(aws.Timestamp)),
      paint('cyan', 'METRIC'.padEnd(6)),
      fnColumn,
      metrics.join(' '),
      dimensions.length > 0 ? paint('grey', `(${dimensions.join(', ')})`) : '',
    ]
      .join(' ')
      .trimEnd()
  }

  const level = typeof record.level === 'string' ? record.level.toUpperCase() : 'LOG'
  const message = typeof record.message === 'string' ? record.message : ''
  const extras = Object.entries(record)
    .filter(([key]) => !STANDARD_KEYS.has(key) && key !== 'error')
    .map(([key, value]) => `${key}=${compact(value)}`)
  const error = record.error as { name?: string; message?: string; stack?: string } | undefined
  const head = [
    paint('grey', formatTime(record.timestamp)),
    paint(levelColour(level), level.padEnd(6)),
    fnColumn,
    message,
    extras.length > 0 ? paint('grey', extras.join(' ')) : '',
    error ? paint('red', `${error.name ?? 'Error'}: ${error.message ?? ''}`) : '',
  ]
    .filter((part) => part !== '')
    .join(' ')
  const stack = typeof error?.stack === 'string' ? error.stack.split('\n').slice(1) : []
  return [head, ...stack.map((frame) => paint('grey', `    ${frame.trim()}`))].join('\n')
}

/**
 * Reads the log file from `offset` and hands each complete line to `onLine`; returns the offset
 * after the last complete line (a line still being written is read on the next call).
 */
export function readLinesFrom(path: string, offset: number, onLine: (line: string) => void): number {
  if (!existsSync(path)) return 0
  const size = statSync(path).size
  // The file was replaced or truncated (a fresh run): start over.
  const start = size < offset ? 0 : offset
  if (size === start) return start
  const fd = openSync(path, 'r')
  try {
    const buffer = Buffer.alloc(size - start)
    readSync(fd, buffer, 0, buffer.length, start)
    const end = buffer.lastIndexOf(0x0a)
    if (end === -1) return start
    for (const line of buffer.subarray(0, end).toString('utf8').split('\n')) onLine(line)
    return start + end + 1
  } finally {
    closeSync(fd)
  }
}

/** The offset from which the last `count` lines of the file start (0 for a short file). */
export function offsetOfLastLines(path: string, count: number): number {
  if (!existsSync(path) || count <= 0) return existsSync(path) ? statSync(path).size : 0
  const size = statSync(path).size
  const fd = openSync(path, 'r')
  try {
    let position = size
    let newlines = 0
    const chunk = Buffer.alloc(64 * 1024)
    while (position > 0) {
      const length = Math.min(chunk.length, position)
      position -= length
      readSync(fd, chunk, 0, length, position)
      for (let i = length - 1; i >= 0; i--) {
        // The file's own last newline ends the last line; count the ones before it.
        if (chunk[i] === 0x0a && position + i !== size - 1 && ++newlines === count) return position + i + 1
      }
    }
    return 0
  } finally {
    closeSync(fd)
  }
}

/** Follows the file like `tail -f` until `signal` aborts, polling twice a second. */
export async function followLines(
  path: string,
  offset: number,
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  let position = offset
  while (!signal.aborted) {
    position = readLinesFrom(path, position, onLine)
    await sleep(500, undefined, { signal }).catch(() => undefined)
  }
}
