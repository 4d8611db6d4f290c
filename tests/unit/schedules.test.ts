import { describe, expect, it } from 'vitest'
import { parseRate, scheduledEvent, schedulesFromTemplate } from '../../local/schedules.ts'

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
