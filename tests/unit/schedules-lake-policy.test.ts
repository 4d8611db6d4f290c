import { describe, expect, it } from 'vitest'
import { lakeSchedulePolicy } from '../../local/lake/schedule-policy.ts'
import type { Schedule } from '../../local/runtime/schedules.ts'

const HOUR = 3_600_000

const pollBars: Schedule = {
  rule: 'PollBarsEventsRuleSchedule1',
  expression: 'cron(* * * * ? *)',
  periodMs: 60_000,
  target: { kind: 'function', name: 'pollBars' },
}
const lakeRefresh: Schedule = {
  rule: 'LakeRefreshSchedule',
  expression: 'cron(7 * * * ? *)',
  periodMs: HOUR,
  target: { kind: 'stateMachine', logicalId: 'LakeRefreshStateMachine' },
  input: {},
}
const lakeMaintenance: Schedule = {
  rule: 'LakeMaintenanceSchedule',
  expression: 'cron(30 3 * * ? *)',
  periodMs: 24 * HOUR,
  target: { kind: 'stateMachine', logicalId: 'LakeMaintenanceStateMachine' },
}

describe('lakeSchedulePolicy', () => {
  const all = [pollBars, lakeRefresh, lakeMaintenance]

  it('catches up the functions at start, never the lake', () => {
    const policy = lakeSchedulePolicy(all, 120_000)
    expect(all.map((schedule) => policy.catchUp(schedule))).toEqual([true, false, false])
  })

  it('compresses lake-refresh alone: an hour lasts --lake-every', () => {
    const policy = lakeSchedulePolicy(all, 120_000)
    expect(all.map((schedule) => policy.speedup(schedule))).toEqual([1, 30, 1])
    expect(policy.describe(lakeRefresh)).toBe(
      'schedule: cron(7 * * * ? *) -> LakeRefreshStateMachine (locally every 120 s)',
    )
    expect(policy.describe(pollBars)).toBe('schedule: cron(* * * * ? *) -> pollBars')
  })

  it('keeps lake-refresh in real time at --lake-every 0', () => {
    const policy = lakeSchedulePolicy(all, 0)
    expect(policy.speedup(lakeRefresh)).toBe(1)
    expect(policy.describe(lakeRefresh)).toBe('schedule: cron(7 * * * ? *) -> LakeRefreshStateMachine')
  })

  it('fires lake-refresh once more at the end, when the template schedules it', () => {
    expect(lakeSchedulePolicy(all, 0).finalRefresh).toBe(lakeRefresh)
    expect(lakeSchedulePolicy([pollBars, lakeMaintenance], 0).finalRefresh).toBeUndefined()
  })
})
