import { describe, expect, it, vi } from 'vitest'
import { parseRate, scheduledEvent, schedulesFromTemplate, startScheduler } from '../../local/schedules.ts'

describe('parseRate', () => {
  it.each([
    ['rate(1 minute)', 60_000],
    ['rate(5 minutes)', 300_000],
    ['rate(1 hour)', 3_600_000],
    ['rate(2 days)', 172_800_000],
  ])('%s -> %i ms', (expression, ms) => {
    expect(parseRate(expression)).toBe(ms)
  })

  it('refuses what it cannot emulate, saying so', () => {
    expect(() => parseRate('cron(0 3 * * ? *)')).toThrow(/only rate/)
  })
})

describe('schedulesFromTemplate', () => {
  it('reads enabled EventBridge rules and their function and state-machine targets', () => {
    const schedules = schedulesFromTemplate({
      Resources: {
        PollBarsEventsRuleSchedule1: {
          Type: 'AWS::Events::Rule',
          Properties: {
            ScheduleExpression: 'rate(1 minute)',
            State: 'ENABLED',
            Targets: [{ Arn: { 'Fn::GetAtt': ['PollBarsLambdaFunction', 'Arn'] }, Id: 'x' }],
          },
        },
        Disabled: {
          Type: 'AWS::Events::Rule',
          Properties: {
            ScheduleExpression: 'rate(1 minute)',
            State: 'DISABLED',
            Targets: [{ Arn: { 'Fn::GetAtt': ['OtherLambdaFunction', 'Arn'] } }],
          },
        },
        LakeRefreshSchedule: {
          Type: 'AWS::Events::Rule',
          Properties: {
            ScheduleExpression: 'rate(1 hour)',
            Targets: [{ Arn: { Ref: 'LakeRefreshStateMachine' }, Input: '{}' }],
          },
        },
        Bucket: { Type: 'AWS::S3::Bucket' },
      },
    })
    expect(schedules).toEqual([
      {
        rule: 'PollBarsEventsRuleSchedule1',
        expression: 'rate(1 minute)',
        periodMs: 60_000,
        target: { kind: 'function', name: 'pollBars' },
        input: undefined,
      },
      {
        rule: 'LakeRefreshSchedule',
        expression: 'rate(1 hour)',
        periodMs: 3_600_000,
        target: { kind: 'stateMachine', logicalId: 'LakeRefreshStateMachine' },
        input: {},
      },
    ])
  })
})

describe('scheduledEvent', () => {
  it('has the shape EventBridge sends, with the scheduled time in whole seconds', () => {
    const event = scheduledEvent('PollBarsRule', new Date('2026-11-30T10:01:00.000Z'))
    expect(event).toMatchObject({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: '2026-11-30T10:01:00Z',
      resources: ['arn:aws:events:local:000000000000:rule/PollBarsRule'],
      detail: {},
    })
  })
})

describe('startScheduler', () => {
  const minute = {
    rule: 'Every',
    expression: 'rate(1 minute)',
    periodMs: 60_000,
    target: { kind: 'function' as const, name: 'pollBars' },
  }

  function memoryState(initial: Record<string, number>) {
    const state = { ...initial }
    return {
      state,
      lastFired: (rule: string) => state[rule],
      fired: (rule: string, at: number) => (state[rule] = at),
    }
  }

  it('catches up a due schedule at start, then fires on the period boundaries', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-30T10:00:30Z') })
    const times: string[] = []
    const state = memoryState({})
    const scheduler = startScheduler([minute], async (_, event) => void times.push(event.time), {
      offsetMs: 2_000,
      state,
      log: () => {},
    })
    await vi.advanceTimersByTimeAsync(95_000)
    await scheduler.stop()
    vi.useRealTimers()
    expect(times).toEqual(['2026-11-30T10:00:00Z', '2026-11-30T10:01:00Z', '2026-11-30T10:02:00Z'])
    expect(state.state.Every).toBe(Date.parse('2026-11-30T10:02:00Z'))
  })

  it('waits for the next boundary when the schedule fired less than a period ago', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-30T10:00:30Z') })
    const times: string[] = []
    const scheduler = startScheduler([minute], async (_, event) => void times.push(event.time), {
      state: memoryState({ Every: Date.parse('2026-11-30T10:00:00Z') }),
      log: () => {},
    })
    await vi.advanceTimersByTimeAsync(31_000)
    await scheduler.stop()
    vi.useRealTimers()
    expect(times).toEqual(['2026-11-30T10:01:00Z'])
  })
})
