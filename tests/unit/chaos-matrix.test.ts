import { describe, expect, it } from 'vitest'
import { matrixFailed, renderTable, rowFailed, type ScenarioRow } from '../../local/chaos/matrix.ts'
import { poisonRecords } from '../../local/chaos/scenarios-input.ts'

const clean: ScenarioRow = {
  scenario: 'kafka-kill',
  injectedAt: '45.2 s',
  produced: 120,
  indexed: 120,
  landedRaw: 120,
  quarantined: 0,
  lost: 0,
  duplicates: 0,
  stale: 0,
  recoverSeconds: 12.5,
}

describe('the chaos verdict', () => {
  it('passes a row with nothing lost, duplicated or stale that recovered', () => {
    expect(rowFailed(clean)).toBe(false)
    expect(matrixFailed([clean, { ...clean, scenario: 'baseline' }])).toBe(false)
  })

  it('fails a row on one lost event, one duplicate, one stale bar, an error or no recovery', () => {
    expect(rowFailed({ ...clean, lost: 1 })).toBe(true)
    expect(rowFailed({ ...clean, duplicates: 1 })).toBe(true)
    expect(rowFailed({ ...clean, stale: 1 })).toBe(true)
    expect(rowFailed({ ...clean, error: 'runtime exited' })).toBe(true)
    expect(rowFailed({ ...clean, recoverSeconds: undefined })).toBe(true)
  })

  it('fails the matrix when any one row fails', () => {
    expect(matrixFailed([clean, { ...clean, scenario: 'poison', duplicates: 2 }])).toBe(true)
    expect(matrixFailed([])).toBe(false)
  })

  it('does not fail a row for what it quarantined (poison is expected there)', () => {
    expect(rowFailed({ ...clean, quarantined: 12 })).toBe(false)
  })

  it('fails a row that quarantined fewer records than the poison it produced', () => {
    expect(rowFailed({ ...clean, scenario: 'poison', quarantined: 5, expectedQuarantined: 6 })).toBe(true)
    expect(rowFailed({ ...clean, scenario: 'poison', quarantined: 12, expectedQuarantined: 6 })).toBe(false)
  })
})

describe('the chaos table', () => {
  it('prints one aligned Markdown row per scenario under the columns of the matrix', () => {
    const table = renderTable([
      clean,
      { ...clean, scenario: 'runtime-kill', indexed: 119, lost: 1, recoverSeconds: undefined },
      { ...clean, scenario: 'lake', injectedAt: 'after the matrix', merged: 240 },
    ])
    expect(table.split('\n')).toEqual([
      '| scenario     | injected at      | produced | indexed | landed raw | merged in the lake | quarantined | lost | duplicates | time to recover | verdict |',
      '| ------------ | ---------------- | -------: | ------: | ---------: | -----------------: | ----------: | ---: | ---------: | --------------- | ------- |',
      '| kafka-kill   | 45.2 s           |      120 |     120 |        120 |            not run |           0 |    0 |          0 | 12.5 s          | OK      |',
      '| runtime-kill | 45.2 s           |      120 |     119 |        120 |            not run |           0 |    1 |          0 | never           | FAILED  |',
      '| lake         | after the matrix |      120 |     120 |        120 |                240 |           0 |    0 |          0 | 12.5 s          | OK      |',
    ])
  })

  it('shows why a scenario could not be measured', () => {
    const table = renderTable([{ ...clean, error: 'OpenSearch of the chaos profile is not running' }])
    expect(table).toContain('FAILED: OpenSearch of the chaos profile is not running')
  })
})

describe('the poison records', () => {
  it('cover every class: not JSON, schema violations on each topic, oversized, tombstone', () => {
    const records = poisonRecords('k')
    expect(records.map((r) => r.topic).sort()).toEqual([
      'crypto.assets',
      'crypto.bars',
      'crypto.bars',
      'crypto.bars',
      'crypto.bars',
      'crypto.trades',
    ])
    expect(records.filter((r) => r.value === undefined)).toHaveLength(1)
    expect(records.some((r) => (r.value?.length ?? 0) > 64 * 1024)).toBe(true)
    expect(records.some((r) => r.value === 'not json at all')).toBe(true)
  })
})
