/**
 * The terminal side of `make run`: the live status lines (what a user reads every few seconds)
 * and the Maven download progress parsed from its batch-mode transfer log.
 */
import { describe, expect, it } from 'vitest'
import type { PipelineStatus } from '../../local/dashboard/pipeline-status.ts'
import { createStatusLine, formatStatus } from '../../local/report/status-line.ts'
import { downloadedBytes } from '../../local/services/toolchain.ts'

const status: PipelineStatus = {
  sampled_at: '2026-12-02T10:02:04.512Z',
  started_at: '2026-12-02T10:00:30.000Z',
  topics: {
    'crypto.bars': {
      produced: 12,
      records: 13,
      indexed: 12,
      landed: 10,
      quarantined: 1,
      lag: { indexEvents: 0, landRaw: 2 },
      lost: 0,
    },
    'crypto.trades': {
      produced: 40,
      records: 40,
      indexed: 40,
      landed: 40,
      quarantined: 0,
      lag: { indexEvents: 0, landRaw: 0 },
      lost: 0,
    },
  },
  quarantined: { total: 1, by_reason: { schema_violation: 1 } },
  lost: 0,
  lake: {
    current: {
      name: 'lake-refresh',
      window: { start: '2026-12-02T09:00:00Z', end: '2026-12-02T10:03:00Z' },
      status: 'RUNNING',
      seconds: 23,
    },
    last: { name: 'lake-refresh', status: 'SUCCEEDED', seconds: 48 },
    runs: 1,
  },
  functions: {},
}

describe('status line', () => {
  it('shows per topic produced, lag, indexed, landed, quarantined and the lake refresh at work', () => {
    expect(formatStatus(status)).toEqual([
      '[status 10:02:04] nothing lost so far; lake: lake-refresh 09:00-10:03 RUNNING 23 s; last lake-refresh SUCCEEDED 48 s',
      '  crypto.bars    produced 12  lag indexEvents 0, landRaw 2  indexed 12  landed 10  quarantined 1',
      '  crypto.trades  produced 40  lag indexEvents 0, landRaw 0  indexed 40  landed 40  quarantined 0',
    ])
  })

  it('says so when something is lost, and when no refresh ran yet', () => {
    const lossy: PipelineStatus = {
      ...status,
      topics: {
        'crypto.trades': {
          produced: 40,
          records: 40,
          indexed: 37,
          landed: 40,
          quarantined: 0,
          lag: { indexEvents: 0, landRaw: 0 },
          lost: 3,
        },
      },
      lost: 3,
      lake: { runs: 0 },
    }
    expect(formatStatus(lossy)).toEqual([
      '[status 10:02:04] 3 LOST; lake: no refresh yet',
      '  crypto.trades  produced 40  lag indexEvents 0, landRaw 0  indexed 37  landed 40  quarantined 0  LOST 3',
    ])
  })

  it('writes plain lines, only when something changed, when stderr is not a terminal', () => {
    const written: string[] = []
    const stream = {
      isTTY: false,
      write: (text: string) => written.push(text),
    } as unknown as NodeJS.WriteStream
    const line = createStatusLine(stream, { plainEveryMs: 0 })
    line.log('[run 10:02:00] pollBars: emitted 2')
    line.update(status)
    line.update({ ...status, sampled_at: '2026-12-02T10:02:07.000Z' })
    line.done()
    expect(written).toEqual(['[run 10:02:00] pollBars: emitted 2\n', `${formatStatus(status).join('\n')}\n`])
  })

  it('on a terminal, keeps the status below the progress lines, redrawn in place', () => {
    const written: string[] = []
    const stream = {
      isTTY: true,
      columns: 160,
      rows: 40,
      write: (text: string) => written.push(text),
    } as unknown as NodeJS.WriteStream
    const line = createStatusLine(stream)
    line.update(status)
    line.log('[run 10:02:05] pollBars: emitted 2')
    line.done()
    const screen = written.join('')
    // The status, then the progress line written over it (eraseLines), then the status again.
    const first = screen.indexOf('[status 10:02:04]')
    const progress = screen.indexOf('[run 10:02:05] pollBars: emitted 2')
    expect(first).toBeGreaterThanOrEqual(0)
    expect(progress).toBeGreaterThan(first)
    expect(screen.indexOf('[status 10:02:04]', progress)).toBeGreaterThan(progress)
    expect(screen.slice(first, progress)).toContain('\u001B[2K')
  })

  it('falls back to plain lines on a terminal of unknown width', () => {
    const written: string[] = []
    const stream = { isTTY: true, columns: 0, write: (text: string) => written.push(text) }
    const line = createStatusLine(stream as unknown as NodeJS.WriteStream, { plainEveryMs: 0 })
    line.update(status)
    expect(written).toEqual([`${formatStatus(status).join('\n')}\n`])
  })
})

describe('Maven download progress', () => {
  it('reads the size of each downloaded file from the batch-mode transfer log', () => {
    expect(
      downloadedBytes(
        '[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/kafka/kafka-clients/4.1.0/kafka-clients-4.1.0.jar (9.1 MB at 12 MB/s)',
      ),
    ).toBe(9_100_000)
    expect(
      downloadedBytes(
        'Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/apache/10/apache-10.pom (15 kB at 400 kB/s)',
      ),
    ).toBe(15_000)
    expect(
      downloadedBytes('[INFO] Downloading from central: https://repo.maven.apache.org/x.jar'),
    ).toBeUndefined()
    expect(downloadedBytes('[INFO] BUILD SUCCESS')).toBeUndefined()
  })
})
