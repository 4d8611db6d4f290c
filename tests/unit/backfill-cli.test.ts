import { describe, expect, it } from 'vitest'
import { progressOf } from '../../local/backfill.ts'
import { parseWindow } from '../../local/lake/refresh-cli.ts'

describe('progressOf', () => {
  it('counts chunks out of the plan, bars and their rate, from local or deployed state outputs', () => {
    let now = 1_000_000
    const tracker = progressOf(() => now)
    expect(tracker.line()).toBe('[....................] chunks 0/? | 0 bars | 0 bars/s | 0.0 s')
    // Locally the Task's own output; from AWS the state's output after its ResultPath.
    tracker.observe('Plan', { plan: { chunks: [{}, {}, {}, {}] } })
    tracker.observe('Chunk', { status: 'skipped', emitted: 2880 })
    tracker.observe('Chunk', { status: 'done', emitted: 2880 })
    tracker.observe('Chunks', null)
    now += 2_000
    expect(tracker.progress).toMatchObject({ total: 4, done: 2, skipped: 1, bars: 2880 })
    expect(tracker.line()).toBe(
      '[##########..........] chunks 2/4 (1 skipped: done before) | 2,880 bars | 1,440 bars/s | 2.0 s',
    )
    const local = progressOf(() => now)
    local.observe('Plan', { chunks: [{}, {}] })
    expect(local.progress.total).toBe(2)
  })
})

describe('parseWindow', () => {
  it('reads start/end and refuses anything else', () => {
    expect(parseWindow('2026-11-30T00:00:00Z/2026-12-01T00:00:00Z')).toEqual({
      start: '2026-11-30T00:00:00Z',
      end: '2026-12-01T00:00:00Z',
    })
    expect(() => parseWindow('2026-11-30T00:00:00Z')).toThrow(/start\/end/)
    expect(() => parseWindow('yesterday/today')).toThrow(/start\/end/)
    expect(() => parseWindow('2026-11-30T00:00:00Z/2026-12-01T00:00:00Z/x')).toThrow(/start\/end/)
  })
})
