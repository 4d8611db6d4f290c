import { describe, expect, it } from 'vitest'
import { defaultEventPlan, needsServices, resolveFunctionName } from '../../local/ops/invoke.ts'
import { functionSpec, invokeEnvironment } from '../../local/runtime/environment.ts'
import type { CfnTemplate } from '../../local/runtime/template.ts'

/** The shape `serverless package` gives a scheduled producer, an MSK consumer and a custom resource. */
const TEMPLATE: CfnTemplate = {
  Resources: {
    PollBarsLambdaFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Timeout: 60,
        Environment: {
          Variables: {
            KAFKA_BROKERS: { 'Fn::GetAtt': ['KafkaBootstrapBrokers', 'BootstrapBrokerStringSaslIam'] },
            KAFKA_AUTH: 'iam',
            SYMBOLS: 'BTC/USD,LTC/USD',
            POLL_AT_SECOND: '3',
            STATE_BUCKET: { Ref: 'StateBucket' },
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      },
    },
    PollBarsEventsRuleSchedule1: {
      Type: 'AWS::Events::Rule',
      Properties: {
        ScheduleExpression: 'cron(* * * * ? *)',
        State: 'ENABLED',
        Targets: [{ Arn: { 'Fn::GetAtt': ['PollBarsLambdaFunction', 'Arn'] }, Id: 'pollBarsSchedule' }],
      },
    },
    IndexEventsLambdaFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Environment: {
          Variables: { OPENSEARCH_URL: { 'Fn::GetAtt': ['OpenSearchDomain', 'DomainEndpoint'] } },
        },
      },
    },
    IndexEventsEventSourceMappingBars: {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: {
        FunctionName: { 'Fn::GetAtt': ['IndexEventsLambdaFunction', 'Arn'] },
        Topics: ['crypto.bars'],
      },
    },
    IndexEventsEventSourceMappingTrades: {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: {
        FunctionName: { 'Fn::GetAtt': ['IndexEventsLambdaFunction', 'Arn'] },
        Topics: ['crypto.trades'],
      },
    },
    LakeWindowLambdaFunction: { Type: 'AWS::Lambda::Function', Properties: {} },
    LakeRefreshStateMachine: {
      Type: 'AWS::StepFunctions::StateMachine',
      Properties: {
        DefinitionString: {
          'Fn::Sub': [
            // biome-ignore lint/suspicious/noTemplateCurlyInString: a Fn::Sub placeholder, not JavaScript's.
            '{"States":{"ResolveWindow":{"Resource":"${fn}"}}}',
            { fn: { 'Fn::GetAtt': ['LakeWindowLambdaFunction', 'Arn'] } },
          ],
        },
      },
    },
    SimulateTradesLambdaFunction: { Type: 'AWS::Lambda::Function', Properties: {} },
    CreateTopicsLambdaFunction: { Type: 'AWS::Lambda::Function', Properties: {} },
    KafkaTopics: {
      Type: 'Custom::KafkaTopics',
      Properties: { ServiceToken: { 'Fn::GetAtt': ['CreateTopicsLambdaFunction', 'Arn'] } },
    },
  },
}

describe('make invoke', () => {
  it('finds a function by any spelling of its key', () => {
    expect(resolveFunctionName(TEMPLATE, 'pollBars')).toBe('pollBars')
    expect(resolveFunctionName(TEMPLATE, 'poll-bars')).toBe('pollBars')
    expect(resolveFunctionName(TEMPLATE, 'PollBars')).toBe('pollBars')
    expect(resolveFunctionName(TEMPLATE, 'nope')).toBeUndefined()
  })

  it('keeps the packaged literals, puts the local stand-ins over them, and names the references left out', () => {
    const spec = functionSpec(TEMPLATE, 'pollBars')
    expect(spec.timeoutSeconds).toBe(60)
    const { env, unresolved } = invokeEnvironment(spec.environment, {
      KAFKA_BROKERS: '127.0.0.1:19092',
      KAFKA_AUTH: 'none',
      STATE_DIR: '/x/state',
    })
    expect(env).toEqual({
      SYMBOLS: 'BTC/USD,LTC/USD',
      POLL_AT_SECOND: '3',
      KAFKA_BROKERS: '127.0.0.1:19092',
      KAFKA_AUTH: 'none',
      STATE_DIR: '/x/state',
    })
    expect(unresolved).toEqual(['STATE_BUCKET'])
  })

  it('sends each function what its trigger would', () => {
    expect(defaultEventPlan(TEMPLATE, 'pollBars')).toEqual({
      kind: 'scheduled',
      rule: 'PollBarsEventsRuleSchedule1',
      input: undefined,
    })
    expect(defaultEventPlan(TEMPLATE, 'indexEvents')).toEqual({
      kind: 'msk',
      topics: ['crypto.bars', 'crypto.trades'],
    })
    expect(defaultEventPlan(TEMPLATE, 'simulateTrades')).toEqual({ kind: 'empty' })
    expect(defaultEventPlan(TEMPLATE, 'lakeWindow')).toEqual({
      kind: 'needs-event',
      reason:
        "lakeWindow is a task of the state machine LakeRefreshStateMachine, which builds its event from the state's Parameters: give it one with EVENT=<file.json>",
    })
    expect(defaultEventPlan(TEMPLATE, 'createTopics')).toEqual({
      kind: 'needs-event',
      reason:
        'createTopics serves the CloudFormation custom resource KafkaTopics: give it a request with EVENT=<file.json>',
    })
  })

  it('starts the services only for functions that talk to Kafka or OpenSearch', () => {
    expect(needsServices(functionSpec(TEMPLATE, 'pollBars'))).toBe(true)
    expect(needsServices(functionSpec(TEMPLATE, 'indexEvents'))).toBe(true)
    expect(needsServices(functionSpec(TEMPLATE, 'lakeWindow'))).toBe(false)
  })
})
