/**
 * The lake state machines end to end on this machine: the real ASL run by aws-local-stepfunctions,
 * the real lake-window handler, spark-submit of the real jobs over raw-zone objects written with
 * the land-raw encoder, an Iceberg JDBC catalog in a temp dir, SNS to a notification log.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BarEvent, barEventId, type TradeEvent } from '../../functions/shared/contracts.ts'
import { encodeLines, type RawLine, rawKey } from '../../functions/shared/raw-zone.ts'
import { lakeCounts } from '../../local/lake/counts.ts'
import { type LocalLake, localLake, runStateMachine } from '../../local/lake/step-functions.ts'
import { asset, bar, FIRST_REVISION, trade } from '../helpers/events.ts'

const SPARK_TIMEOUT = 600_000
const WINDOW = { start: '2026-11-30T10:00:00Z', end: '2026-11-30T11:00:00Z' }

let root: string
let lake: LocalLake

function rawLine(
  topic: string,
  offset: number,
  value: object,
  eventId: string,
  eventTime: string,
  key: string,
): RawLine {
  return {
    topic,
    partition: 0,
    offset,
    timestamp: eventTime.replace('Z', '.000Z'),
    timestamp_type: 'CREATE_TIME',
    key,
    headers: {},
    value: JSON.stringify(value),
    event_id: eventId,
    event_time: eventTime,
  }
}

async function writeRaw(lines: RawLine[]) {
  const byKey = Map.groupBy(lines, (line) => rawKey(line.topic, line.partition, line.offset, line.event_time))
  for (const [key, group] of byKey) {
    const path = join(lake.rawDir, key)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, await encodeLines(group))
  }
}

function minuteBars(symbol: string): BarEvent[] {
  return Array.from({ length: 60 }, (_, minute) => {
    const start = `2026-11-30T10:${String(minute).padStart(2, '0')}:00Z`
    return {
      ...bar(symbol, start),
      event_id: barEventId(symbol, start),
      open: '97000',
      high: '97010',
      low: '96990',
      close: '97005',
    }
  })
}

function trades(): TradeEvent[] {
  return Array.from({ length: 4 }, (_, i) => {
    const tradeId = `202611301000-${String(i + 1).padStart(4, '0')}`
    return {
      ...trade(tradeId),
      executed_at: `2026-11-30T10:0${i}:07Z`,
      price: '97001.25',
      notional: '194.0025',
    }
  })
}

function notifications(): Array<{ subject?: string; message: string }> {
  try {
    return readFileSync(lake.notificationsLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
  } catch {
    return []
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'lake-it-'))
  lake = localLake('test', {
    rawDir: join(root, 'raw'),
    lakeDir: join(root, 'lake'),
    piiKeyFile: join(root, 'pii.key'),
    notificationsLog: join(root, 'notifications.log'),
    logDir: join(root, 'emr-logs'),
  })
  writeFileSync(lake.piiKeyFile, 'integration-test-pii-key-0123456789abcdef\n')
  const bars = minuteBars('BTC/USD')
  await writeRaw([
    ...bars.map((b, i) => rawLine('crypto.bars', i, b, b.event_id, b.start, b.symbol)),
    ...trades().map((t, i) => rawLine('crypto.trades', i, t, t.event_id, t.executed_at, t.user_id)),
    rawLine(
      'crypto.assets',
      0,
      { ...asset('BTC'), fetched_at: '2026-11-30T10:00:10Z' },
      asset('BTC').event_id,
      '2026-11-30T10:00:10Z',
      'BTC',
    ),
  ])
})

afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

describe('lake-refresh, locally', () => {
  it(
    'merges a window and passes its quality checks',
    async () => {
      const result = await runStateMachine('lake-refresh', { window: WINDOW }, lake)
      expect(result.error).toBeUndefined()
      expect(result.status).toBe('SUCCEEDED')
      // A given window: no checkpoint (that is the schedule's progress, not a rerun's).
      expect(result.states).toEqual([
        'ResolveWindow',
        'AnythingNew',
        'Refresh',
        'Quality',
        'Scheduled',
        'Succeeded',
      ])
      expect(result.output).toMatchObject({
        window: { start: WINDOW.start, end: WINDOW.end, token: 'lake-20261130T1000Z-20261130T1100Z' },
        refresh: { State: 'SUCCESS' },
        quality: { State: 'SUCCESS' },
      })
      const counts = await lakeCounts(
        'test',
        {
          'crypto.bars': minuteBars('BTC/USD').map((b) => b.event_id),
          'crypto.trades': trades().map((t) => t.event_id),
          // the 2026-11-29 fetch is superseded by the 2026-11-30 one: found, not lost
          'crypto.assets': [asset('BTC').event_id, 'coinapi:BTC:2026-11-29', 'coinapi:ETH:2026-11-30'],
        },
        lake,
      )
      expect(counts.tables.bars_1m).toEqual({ rows: 60 })
      expect(counts.tables.trades).toEqual({ rows: 4 })
      expect(counts.tables.assets).toEqual({ rows: 1 })
      expect(counts.tables.bars_1h).toEqual({ rows: 1 })
      expect(counts.tables.trade_volume_1h).toEqual({ rows: 1 })
      expect(counts.topics['crypto.bars']).toEqual({ expected: 60, found: 60, lost: 0, duplicates: 0 })
      expect(counts.topics['crypto.trades']).toEqual({ expected: 4, found: 4, lost: 0, duplicates: 0 })
      // ETH was never fetched: the one asset event the lake lacks
      expect(counts.topics['crypto.assets']).toEqual({ expected: 3, found: 2, lost: 1, duplicates: 0 })
      expect(notifications()).toEqual([])
    },
    SPARK_TIMEOUT,
  )

  it('refuses an invalid window before any Spark job and notifies with the window and the error', async () => {
    const window = { start: '2026-11-01T00:00:00Z', end: '2026-11-09T00:00:00Z' }
    const result = await runStateMachine('lake-refresh', { window }, lake)
    expect(result.status).toBe('FAILED')
    expect(result.error?.name).toBe('LakeRefreshFailed')
    expect(result.states).toEqual(['ResolveWindow', 'NotifyFailure', 'Failed'])
    const [note] = notifications()
    expect(note?.subject).toBe('lake-refresh failed')
    const message = JSON.parse(note?.message ?? '{}')
    expect(message.window).toEqual(window)
    expect(message.error.Error).toBe('InvalidWindow')
    expect(message.error.Cause).toContain('longer than 7 days')
  })

  it(
    'fails the run when a quality check fails, after one retry, and notifies',
    async () => {
      // A contract-valid bar whose high is below its low: merged, then caught by quality.
      // A later revision of the 10:30 bar (sinks keep the newest revision, so it replaces the sane one).
      const insane = {
        ...bar('BTC/USD', '2026-11-30T10:30:00Z', '97005', FIRST_REVISION + 60_000),
        open: '97000',
        high: '96000',
        low: '96990',
        close: '97005',
      }
      await writeRaw([
        {
          ...rawLine('crypto.bars', 500, insane, insane.event_id, insane.start, 'BTC/USD'),
          timestamp: '2026-11-30T12:00:00.000Z',
        },
      ])
      const result = await runStateMachine('lake-refresh', { window: WINDOW, rerun: 1 }, lake)
      expect(result.status).toBe('FAILED')
      expect(result.states).toEqual([
        'ResolveWindow',
        'AnythingNew',
        'Refresh',
        'Quality',
        'Quality:retry',
        'NotifyFailure',
        'Failed',
      ])
      const note = notifications().at(-1)
      const message = JSON.parse(note?.message ?? '{}')
      expect(message.window.token).toBe('lake-20261130T1000Z-20261130T1100Z-r1')
      expect(message.error.Error).toBe('EmrServerless.JobFailed')
      expect(message.refresh.State).toBe('SUCCESS')
    },
    SPARK_TIMEOUT,
  )
})

describe('lake-maintenance, locally', () => {
  it(
    'compacts every table and keeps the data',
    async () => {
      const result = await runStateMachine('lake-maintenance', {}, lake)
      expect(result.error).toBeUndefined()
      expect(result.states).toEqual(['Maintain', 'Succeeded'])
      const counts = await lakeCounts('test', { 'crypto.trades': trades().map((t) => t.event_id) }, lake)
      expect(counts.tables.bars_1m).toEqual({ rows: 60 })
      expect(counts.topics['crypto.trades']).toEqual({ expected: 4, found: 4, lost: 0, duplicates: 0 })
    },
    SPARK_TIMEOUT,
  )
})
