/**
 * The README's promise, end to end: `make run ARGS="--duration ... --report ..."` on the test
 * profile runs the packaged service's schedules against the bundled simulator, and the report —
 * read back from the sinks — shows bars produced, the same number indexed, nothing lost, nothing
 * duplicated in the run; and a store section, whose verdict the exit code follows.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { projectRoot } from '../../local/services/index.ts'

describe('make run, headless', () => {
  it('runs the pipeline for 70 s and accounts for every bar', { timeout: 480_000 }, () => {
    const reportPath = join(mkdtempSync(join(tmpdir(), 'e2e-')), 'report.json')
    const result = spawnSync(
      join(projectRoot, 'node_modules', '.bin', 'tsx'),
      [
        'local/cli.ts',
        'run',
        '--profile',
        'test',
        '--duration',
        '70s',
        '--lake-every',
        '0',
        '--report',
        reportPath,
      ],
      {
        cwd: projectRoot,
        encoding: 'utf8',
        timeout: 460_000,
        env: { ...process.env, ALPACA_DATA_URL: '', COINAPI_URL: '' },
      },
    )
    expect(result.stderr).toContain('running for 70 s')
    const report = JSON.parse(readFileSync(reportPath, 'utf8'))
    // The store section covers every id the topics retain, other tests' included on this shared
    // profile: the exit code fails on a loss there too, and says so per sink.
    const store = report.store
    const storeClean = store.lost === 0 && store.duplicates === 0 && store.stale === 0
    expect(result.status, result.stderr).toBe(storeClean ? 0 : 1)
    expect(result.stderr).toMatch(/store opensearch crypto-bars: \d+ checked, lost \d+/)
    expect(result.stderr).toMatch(/store raw crypto\.bars: \d+ checked/)
    expect(result.stderr).toMatch(/store lake crypto\.bars: \d+ checked, .*pending \d+/)
    expect(report.run).toMatchObject({ lost: 0, duplicates: 0, stale: 0 })
    const bars = report.topics['crypto.bars']
    // At least one closed minute for each of the two default symbols (more when the first poll
    // backfills from an earlier run's watermark or the initial lookback).
    expect(bars.produced).toBeGreaterThanOrEqual(2)
    expect(report.opensearch['crypto-bars']).toEqual({
      documents: bars.produced,
      lost: 0,
      duplicates: 0,
      stale: 0,
    })
    // This run's bars are part of the store, and none of them is among its lost ids.
    expect(store.opensearch['crypto-bars'].checked).toBeGreaterThanOrEqual(bars.produced)
    expect(store.topics['crypto.bars'].partitions.length).toBeGreaterThan(0)
    expect(report.lost).toBe(0)
    expect(report.duplicates).toBe(0)
    expect(report.stale).toBe(0)
    expect(Date.parse(report.ended_at) - Date.parse(report.started_at)).toBeGreaterThanOrEqual(70_000)
  })
})
