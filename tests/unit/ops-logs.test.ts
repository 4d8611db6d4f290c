import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  followLines,
  formatLogLine,
  formatTime,
  offsetOfLastLines,
  readLinesFrom,
} from '../../local/ops/logs.ts'
import { paintWith } from '../../local/ops/text.ts'

const plain = paintWith(false)
const coloured = paintWith(true)

/** A Powertools log line as the logger writes it inside a handler (injectLambdaContext). */
const POLL_DONE = JSON.stringify({
  level: 'INFO',
  message: 'done',
  timestamp: '2026-12-07T04:10:03.250Z',
  service: 'crypto-lake',
  cold_start: true,
  function_arn: 'arn:aws:lambda:local:000000000000:function:pollBars',
  function_memory_size: '512',
  function_name: 'pollBars',
  function_request_id: 'b7c2',
  sampling_rate: 0,
  emitted: 2880,
  rejected: 0,
})

/** An EMF document as Powertools metrics flushes it. */
const QUARANTINE_METRIC = JSON.stringify({
  _aws: {
    Timestamp: Date.parse('2026-12-07T04:10:04.000Z'),
    CloudWatchMetrics: [
      {
        Namespace: 'CryptoLake',
        Dimensions: [['service', 'Stage', 'Reason']],
        Metrics: [{ Name: 'RecordsQuarantined', Unit: 'Count' }],
      },
    ],
  },
  service: 'crypto-lake',
  Stage: 'index-events',
  Reason: 'schema_violation',
  RecordsQuarantined: 3,
})

describe('formatLogLine', () => {
  it('shows time, level, function, message and the keys beyond the standard ones', () => {
    expect(formatLogLine(POLL_DONE, {}, plain)).toBe(
      '2026-12-07 04:10:03.250 INFO   pollBars         done emitted=2880 rejected=0',
    )
  })

  it('shows an EMF document as metric=value with its dimensions, service left out', () => {
    expect(formatLogLine(QUARANTINE_METRIC, {}, plain)).toBe(
      '2026-12-07 04:10:04.000 METRIC -                RecordsQuarantined=3 (Stage=index-events, Reason=schema_violation)',
    )
  })

  it('colours the level: errors red, warnings yellow', () => {
    const error = JSON.stringify({ level: 'ERROR', message: 'x', timestamp: '2026-12-07T04:10:03.250Z' })
    const warn = JSON.stringify({ level: 'WARN', message: 'x', timestamp: '2026-12-07T04:10:03.250Z' })
    expect(formatLogLine(error, {}, coloured)).toContain('\u001b[31mERROR ')
    expect(formatLogLine(warn, {}, coloured)).toContain('\u001b[33mWARN  ')
  })

  it('follows an error with its stack frames, indented', () => {
    const line = JSON.stringify({
      level: 'ERROR',
      message: 'invocation failed',
      timestamp: '2026-12-07T04:10:03.250Z',
      function_name: 'indexEvents',
      error: { name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at run (core.ts:1:2)' },
    })
    expect(formatLogLine(line, {}, plain)).toBe(
      '2026-12-07 04:10:03.250 ERROR  indexEvents      invocation failed TypeError: boom\n    at run (core.ts:1:2)',
    )
  })

  it('keeps only the asked function, whichever way its name is typed', () => {
    expect(formatLogLine(POLL_DONE, { fn: 'poll-bars' }, plain)).toContain('done')
    expect(formatLogLine(POLL_DONE, { fn: 'PollBars' }, plain)).toContain('done')
    expect(formatLogLine(POLL_DONE, { fn: 'landRaw' }, plain)).toBeUndefined()
    // A metric document names no function: under a function filter it cannot be attributed.
    expect(formatLogLine(QUARANTINE_METRIC, { fn: 'indexEvents' }, plain)).toBeUndefined()
  })

  it('passes plain text through and drops blank lines', () => {
    expect(formatLogLine('not json at all', {}, plain)).toBe('not json at all')
    expect(formatLogLine('not json at all', { fn: 'pollBars' }, plain)).toBeUndefined()
    expect(formatLogLine('   ', {}, plain)).toBeUndefined()
  })

  it('formats epoch milliseconds and ISO strings alike, and marks a missing time', () => {
    expect(formatTime(Date.parse('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02 03:04:05.678')
    expect(formatTime('2026-01-02T03:04:05.678Z')).toBe('2026-01-02 03:04:05.678')
    expect(formatTime(undefined).trim()).toBe('-')
  })
})

describe('reading the log file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-logs-'))

  it('reads complete lines from an offset and leaves a line being written for later', () => {
    const file = join(dir, 'functions.ndjson')
    writeFileSync(file, 'one\ntwo\nthr')
    const seen: string[] = []
    const offset = readLinesFrom(file, 0, (line) => seen.push(line))
    expect(seen).toEqual(['one', 'two'])
    expect(offset).toBe(8)
    appendFileSync(file, 'ee\n')
    readLinesFrom(file, offset, (line) => seen.push(line))
    expect(seen).toEqual(['one', 'two', 'three'])
  })

  it('starts over when the file was truncated (a fresh run)', () => {
    const file = join(dir, 'truncated.ndjson')
    writeFileSync(file, 'a\n')
    const seen: string[] = []
    readLinesFrom(file, 100, (line) => seen.push(line))
    expect(seen).toEqual(['a'])
  })

  it('follows lines appended after it started, until aborted', async () => {
    const file = join(dir, 'follow.ndjson')
    writeFileSync(file, 'old\n')
    const seen: string[] = []
    const stop = new AbortController()
    const following = followLines(
      file,
      4,
      (line) => {
        seen.push(line)
        if (line === 'second') stop.abort()
      },
      stop.signal,
    )
    appendFileSync(file, 'first\nsecond\n')
    await following
    expect(seen).toEqual(['first', 'second'])
  })

  it('finds where the last n lines start', () => {
    const file = join(dir, 'tail.ndjson')
    writeFileSync(file, '1\n2\n3\n4\n')
    const last = (count: number) => {
      const seen: string[] = []
      readLinesFrom(file, offsetOfLastLines(file, count), (line) => seen.push(line))
      return seen
    }
    expect(last(2)).toEqual(['3', '4'])
    expect(last(10)).toEqual(['1', '2', '3', '4'])
    expect(last(0)).toEqual([])
  })
})
