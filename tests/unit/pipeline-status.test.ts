/**
 * What the status line and the page say about the lake: the refresh at work while Spark runs
 * (a queue of one at a time), then the last one with the window it resolved for itself.
 */
import { describe, expect, it } from 'vitest'
import { observeLakeRuns } from '../../local/dashboard/pipeline-status.ts'
import type { LakeRunner } from '../../local/lake/runner.ts'
import type { RunResult } from '../../local/lake/step-functions.ts'

/** A runner whose runs end when the test says so, recording them as the real one does. */
function fakeRunner() {
  const finish: Array<(result: RunResult) => void> = []
  let queue: Promise<unknown> = Promise.resolve()
  const runner: LakeRunner = {
    runs: [],
    run(name, input) {
      const next = queue.then(
        () =>
          new Promise<RunResult>((resolve) => {
            finish.push((result) => {
              runner.runs.push({ name, input, status: result.status, seconds: 12.5 })
              resolve(result)
            })
          }),
      )
      queue = next
      return next
    },
  }
  return { runner, finish }
}

describe('lake activity', () => {
  it('shows the refresh in progress and the queue, then the last run with its resolved window', async () => {
    const { runner, finish } = fakeRunner()
    const lake = observeLakeRuns(runner)
    expect(lake.current()).toBeUndefined()
    expect(lake.last()).toBeUndefined()

    const first = runner.run('lake-refresh', {})
    const second = runner.run('lake-refresh', {
      window: { start: '2026-12-02T09:00:00Z', end: '2026-12-02T10:00:00Z' },
    })
    expect(lake.current()).toMatchObject({ name: 'lake-refresh', status: 'RUNNING (1 queued)' })
    expect(lake.current()?.window).toBeUndefined()

    await Promise.resolve()
    finish[0]?.({
      status: 'SUCCEEDED',
      output: { window: { start: '2026-12-02T08:00:00Z', end: '2026-12-02T09:00:00Z', skip: true } },
      states: [],
    })
    await first
    expect(lake.last()).toEqual({
      name: 'lake-refresh',
      window: { start: '2026-12-02T08:00:00Z', end: '2026-12-02T09:00:00Z' },
      status: 'SUCCEEDED (nothing new)',
      seconds: 12.5,
    })
    expect(lake.current()).toMatchObject({
      status: 'RUNNING',
      window: { start: '2026-12-02T09:00:00Z', end: '2026-12-02T10:00:00Z' },
    })

    await new Promise((resolve) => setImmediate(resolve))
    finish[1]?.({ status: 'FAILED', error: { name: 'States.TaskFailed', message: 'spark' }, states: [] })
    await second
    expect(lake.current()).toBeUndefined()
    expect(lake.last()).toMatchObject({
      status: 'FAILED',
      window: { start: '2026-12-02T09:00:00Z', end: '2026-12-02T10:00:00Z' },
    })
    expect(lake.runs()).toBe(2)
  })
})
