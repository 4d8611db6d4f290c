import { describe, expect, it, vi } from 'vitest'
import {
  nextCronTime,
  nextScheduledTime,
  parseCron,
  parseRate,
  ratePhaseMs,
  scheduledEvent,
  schedulesFromTemplate,
  startScheduler,
} from '../../local/runtime/schedules.ts'

const at = (iso: string) => Date.parse(iso)
const isoOf = (ms: number) => new Date(ms).toISOString()

describe('parseRate', () => {
  it.each([
    ['rate(1 minute)', 60_000],
    ['rate(5 minutes)', 300_000],
    ['rate(1 hour)', 3_600_000],
    ['rate(2 days)', 172_800_000],
  ])('%s -> %i ms', (expression, ms) => {
    expect(parseRate(expression)).toBe(ms)
  })

  it('refuses what is not a rate', () => {
    expect(() => parseRate('cron(0 3 * * ? *)')).toThrow(/not a rate/)
  })
})

describe('cron (EventBridge 6-field syntax, UTC)', () => {
  it.each([
    ['cron(7 * * * ? *)', '2026-11-30T10:06:59.999Z', '2026-11-30T10:07:00.000Z'],
    ['cron(7 * * * ? *)', '2026-11-30T10:07:00.000Z', '2026-11-30T11:07:00.000Z'],
    ['cron(37 3 * * ? *)', '2026-11-30T03:37:00.000Z', '2026-12-01T03:37:00.000Z'],
    ['cron(* * * * ? *)', '2026-11-30T10:00:30.000Z', '2026-11-30T10:01:00.000Z'],
    ['cron(0/15 * * * ? *)', '2026-11-30T10:16:00.000Z', '2026-11-30T10:30:00.000Z'],
    ['cron(5,35 8-9 * * ? *)', '2026-11-30T09:35:00.000Z', '2026-12-01T08:05:00.000Z'],
    // 2026-12-04 is a Friday: the next weekday noon is Monday the 7th
    ['cron(0 12 ? * MON-FRI *)', '2026-12-04T12:00:00.000Z', '2026-12-07T12:00:00.000Z'],
    ['cron(0 0 1 JAN ? 2027)', '2026-11-30T10:00:00.000Z', '2027-01-01T00:00:00.000Z'],
  ])('%s after %s fires at %s', (expression, after, expected) => {
    expect(isoOf(nextCronTime(parseCron(expression), at(after)))).toBe(expected)
  })

  it.each([
    ['cron(0 12 * * * *)', /exactly one of day-of-month and day-of-week/],
    ['cron(0 12 L * ? *)', /day-of-month L is not supported/],
    ['cron(0 12 ? * 2#1 *)', /not supported/],
    ['cron(61 * * * ? *)', /minutes 61 out of range/],
    ['cron(0 12 * * ?)', /6 fields/],
  ])('refuses %s', (expression, message) => {
    expect(() => parseCron(expression)).toThrow(message)
  })
})

describe('nextScheduledTime', () => {
  it('fires a rate rule at the second of its period its name stands for (EventBridge: the rule creation)', () => {
    // `printf %s Every | sha256sum` starts 9b8617fdfbba: 0x9b8617fdfbba mod 60 = 42
    expect(ratePhaseMs('Every', 60_000)).toBe(42_000)
    const every = { rule: 'Every', expression: 'rate(1 minute)' }
    expect(isoOf(nextScheduledTime(every, at('2026-11-30T10:00:30Z')))).toBe('2026-11-30T10:00:42.000Z')
    expect(isoOf(nextScheduledTime(every, at('2026-11-30T10:00:42Z')))).toBe('2026-11-30T10:01:42.000Z')
    // `printf %s Daily | sha256sum` starts b36c2611dcdf: mod 86400 = 3935 s = 01:05:35
    const daily = { rule: 'Daily', expression: 'rate(1 day)' }
    expect(isoOf(nextScheduledTime(daily, at('2026-11-30T00:00:00Z')))).toBe('2026-11-30T01:05:35.000Z')
  })

  it('fires a cron rule at second 0 of its minute', () => {
    const refresh = { rule: 'LakeRefresh', expression: 'cron(7 * * * ? *)' }
    expect(isoOf(nextScheduledTime(refresh, at('2026-11-30T10:30:00Z')))).toBe('2026-11-30T11:07:00.000Z')
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
            ScheduleExpression: 'cron(7 * * * ? *)',
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
        expression: 'cron(7 * * * ? *)',
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

  it('catches up a due schedule at start, then fires at the phase of its period, plus the delivery delay', async () => {
    vi.useFakeTimers({ now: at('2026-11-30T10:00:30Z') })
    const fired: Array<[string, string]> = []
    const state = memoryState({})
    const scheduler = startScheduler(
      [minute],
      async (_, event) => void fired.push([event.time, new Date().toISOString()]),
      { offsetMs: 2_000, state, log: () => {} },
    )
    await vi.advanceTimersByTimeAsync(95_000)
    await scheduler.stop()
    vi.useRealTimers()
    expect(fired).toEqual([
      ['2026-11-30T10:00:00Z', '2026-11-30T10:00:30.000Z'],
      ['2026-11-30T10:00:42Z', '2026-11-30T10:00:44.000Z'],
      ['2026-11-30T10:01:42Z', '2026-11-30T10:01:44.000Z'],
    ])
    expect(state.state.Every).toBe(at('2026-11-30T10:01:42Z'))
  })

  it('waits for the next firing when none was missed since the last one', async () => {
    vi.useFakeTimers({ now: at('2026-11-30T10:00:30Z') })
    const times: string[] = []
    const scheduler = startScheduler([minute], async (_, event) => void times.push(event.time), {
      state: memoryState({ Every: at('2026-11-30T10:00:00Z') }),
      log: () => {},
    })
    await vi.advanceTimersByTimeAsync(31_000)
    await scheduler.stop()
    vi.useRealTimers()
    expect(times).toEqual(['2026-11-30T10:00:42Z'])
  })

  it('fires a cron minute rule at second 0 of every minute', async () => {
    vi.useFakeTimers({ now: at('2026-11-30T10:00:30Z') })
    const times: string[] = []
    const poll = { ...minute, rule: 'Poll', expression: 'cron(* * * * ? *)' }
    const scheduler = startScheduler([poll], async (_, event) => void times.push(event.time), {
      state: memoryState({ Poll: at('2026-11-30T10:00:00Z') }),
      offsetMs: 2_000,
      log: () => {},
    })
    await vi.advanceTimersByTimeAsync(95_000)
    await scheduler.stop()
    vi.useRealTimers()
    expect(times).toEqual(['2026-11-30T10:01:00Z', '2026-11-30T10:02:00Z'])
  })

  it('compresses a schedule around its start with the same phase: 7 past the hour every 2 minutes is 14 s in', async () => {
    vi.useFakeTimers({ now: at('2026-11-30T10:00:00Z') })
    const times: string[] = []
    const refresh = {
      rule: 'LakeRefresh',
      expression: 'cron(7 * * * ? *)',
      periodMs: 3_600_000,
      target: { kind: 'stateMachine' as const, logicalId: 'LakeRefreshStateMachine' },
    }
    const scheduler = startScheduler([refresh], async (_, event) => void times.push(event.time), {
      speedup: () => 30,
      catchUp: () => false,
      log: () => {},
    })
    await vi.advanceTimersByTimeAsync(300_000)
    await scheduler.stop()
    vi.useRealTimers()
    expect(times).toEqual(['2026-11-30T10:00:14Z', '2026-11-30T10:02:14Z', '2026-11-30T10:04:14Z'])
  })
})
