/**
 * backfill-bars as deployed: the state machine with its own role, least-privilege IAM for it and
 * for the function, every Task retried and caught, the ASL valid, the function wired.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { type PackagedService, packaged } from './helpers/package-service.ts'
import { allStates, definitionOf, validateAsl } from './helpers/state-machines.ts'
import { asArray, type CfnTemplate, getAttOf, policyStatements, props, refOf } from './helpers/template.ts'

const STAGES = ['dev', 'prod'] as const
const MACHINE = 'BackfillBarsStateMachine'
const FUNCTION = 'BackfillBarsLambdaFunction'

const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
]

describe.each(STAGES)('backfill-bars, packaged for %s', (stage) => {
  let service: PackagedService
  beforeAll(async () => {
    service = await packaged(stage)
  })
  const template = (): CfnTemplate => service.template
  const definition = () => definitionOf(template(), MACHINE)
  const statementsOf = (role: string) =>
    policyStatements(template())
      .filter((s) => s.where.startsWith(`${role}/`))
      .map((s) => ({ sid: s.where.split('#')[1], ...s.statement }))

  it('deploys the state machine on demand only, under a role of its own', () => {
    const p = props(template(), MACHINE)
    expect(p.StateMachineName).toBe(`crypto-data-lake-${stage}-backfill-bars`)
    expect(getAttOf(p.RoleArn)).toEqual(['BackfillBarsStateMachineRole', 'Arn'])
    const schedules = Object.values(template().Resources).filter(
      (r) =>
        r.Type === 'AWS::Events::Rule' &&
        asArray(r.Properties?.Targets as Array<{ Arn: unknown }>).some((t) => refOf(t.Arn) === MACHINE),
    )
    expect(schedules).toEqual([])
  })

  it('passes asl-validator', () => {
    const result = validateAsl(definition())
    expect(result.errorsText()).toBe('')
    expect(result.isValid).toBe(true)
  })

  it('plans, loads the chunks at most 4 at a time, waits for the landing, then refreshes the lake one window at a time', () => {
    const d = definition()
    expect(d.StartAt).toBe('Plan')
    const states = new Map(allStates(d))
    for (const name of ['Plan', 'Chunk', 'AwaitLanded'])
      expect(states.get(name)?.Resource, name).toBe(
        `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION}`,
      )
    expect(states.get('Plan')?.Parameters).toEqual({
      action: 'plan',
      'input.$': '$',
      'now.$': '$$.Execution.StartTime',
    })
    expect(states.get('Chunks')).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.chunks',
      MaxConcurrency: 4,
      ItemSelector: { action: 'chunk', 'chunk.$': '$$.Map.Item.Value' },
      ResultPath: null,
      Next: 'RefreshWanted',
    })
    expect(states.get('AwaitLanded')?.Parameters).toEqual({ action: 'landed', 'chunks.$': '$.plan.chunks' })
    expect(states.get('RefreshLake')).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.refreshWindows',
      MaxConcurrency: 1,
    })
    const refresh = states.get('RefreshWindow')
    expect(refresh?.Resource).toBe('arn:aws:states:::states:startExecution.sync:2')
    expect((refresh?.Parameters as { StateMachineArn?: string } | undefined)?.StateMachineArn).toBe(
      'stand-in-LakeRefreshStateMachine',
    )
  })

  it('retries every Task with backoff, and catches every failure into the notifier', () => {
    const states = allStates(definition())
    for (const [name, state] of states.filter(([, s]) => s.Type === 'Task')) {
      const retry = asArray(state.Retry as Array<{ ErrorEquals: string[]; BackoffRate: number }>)
      expect(retry.length, name).toBeGreaterThan(0)
      for (const r of retry) expect(r.BackoffRate, name).toBeGreaterThan(1)
      if (name !== 'NotifyFailure')
        expect(asArray(state.Catch as unknown[]).length, `${name}: Catch`).toBeGreaterThan(0)
    }
    const byName = new Map(states)
    for (const name of ['Plan', 'AwaitLanded']) {
      const errors = asArray(byName.get(name)?.Retry as Array<{ ErrorEquals: string[] }>).flatMap(
        (r) => r.ErrorEquals,
      )
      expect(errors, name).toEqual(expect.arrayContaining(LAMBDA_SERVICE_ERRORS))
    }
    // Not landed yet is the only retried error of AwaitLanded besides Lambda's own.
    expect(
      asArray(byName.get('AwaitLanded')?.Retry as Array<{ ErrorEquals: string[] }>)[0]?.ErrorEquals,
    ).toEqual(['BarsNotLandedYet'])
    for (const name of ['Plan', 'Chunks', 'AwaitLanded', 'RefreshLake'])
      expect(
        asArray(byName.get(name)?.Catch as Array<{ Next: string }>).map((c) => c.Next),
        name,
      ).toEqual(['NotifyFailure'])
    expect(byName.get('NotifyFailure')).toMatchObject({
      Resource: 'arn:aws:states:::sns:publish',
      Next: 'Failed',
    })
    expect(byName.get('Failed')?.Type).toBe('Fail')
  })

  it('gives the state machine role exactly: invoke backfill-bars, run lake-refresh, notify', () => {
    const statements = statementsOf('BackfillBarsStateMachineRole')
    expect(Object.fromEntries(statements.map((s) => [s.sid, asArray(s.Action).sort()]))).toEqual({
      InvokeBackfillBars: ['lambda:InvokeFunction'],
      StartLakeRefresh: ['states:StartExecution'],
      FollowLakeRefresh: ['states:DescribeExecution', 'states:StopExecution'],
      SyncExecutionEvents: ['events:DescribeRule', 'events:PutRule', 'events:PutTargets'],
      NotifyFailures: ['sns:Publish'],
      EncryptedTopic: ['kms:Decrypt', 'kms:GenerateDataKey*'],
    })
    const resourceOf = (sid: string) => statements.find((s) => s.sid === sid)?.Resource
    expect(resourceOf('InvokeBackfillBars')).toEqual([
      { 'Fn::GetAtt': [FUNCTION, 'Arn'] },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
      { 'Fn::Sub': '${BackfillBarsLambdaFunction.Arn}:*' },
    ])
    expect(resourceOf('StartLakeRefresh')).toEqual({ Ref: 'LakeRefreshStateMachine' })
    expect(JSON.stringify(resourceOf('FollowLakeRefresh'))).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
      ':execution:${LakeRefreshStateMachine.Name}:*',
    )
    expect(JSON.stringify(resourceOf('SyncExecutionEvents'))).toContain(
      'rule/StepFunctionsGetEventsForStepFunctionsExecutionRule',
    )
  })

  it("lets the function keep its own progress and list only the bars' landing markers, never the live watermark", () => {
    expect(getAttOf(props(template(), FUNCTION).Role)).toEqual(['BackfillBarsRole', 'Arn'])
    const statements = statementsOf('BackfillBarsRole')
    const s3 = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')))
    expect(
      Object.fromEntries(
        s3.map((s) => [s.sid, [asArray(s.Action).sort(), JSON.stringify(s.Resource), s.Condition ?? null]]),
      ),
    ).toEqual({
      ChunkProgress: [
        ['s3:GetObject', 's3:PutObject'],
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        JSON.stringify({ 'Fn::Sub': '${StateBucket.Arn}/state/backfill-bars/*' }),
        null,
      ],
      ChunkProgressList: [
        ['s3:ListBucket'],
        JSON.stringify({ 'Fn::GetAtt': ['StateBucket', 'Arn'] }),
        { StringLike: { 's3:prefix': 'state/backfill-bars/*' } },
      ],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
      Quarantine: [['s3:PutObject'], JSON.stringify({ 'Fn::Sub': '${RawBucket.Arn}/quarantine/*' }), null],
      ListBarLandingMarkers: [
        ['s3:ListBucket'],
        JSON.stringify({ 'Fn::GetAtt': ['RawBucket', 'Arn'] }),
        { StringLike: { 's3:prefix': 'raw/_lake/landed/crypto.bars/*' } },
      ],
    })
  })

  it('wires the function: its Task timeout covers the function timeout, its environment reaches Kafka, Alpaca and both buckets', () => {
    const p = props(template(), FUNCTION)
    const chunk = new Map(allStates(definition())).get('Chunk')
    expect(Number(p.Timeout)).toBeLessThan(Number(chunk?.TimeoutSeconds))
    expect((p.Environment as { Variables: Record<string, unknown> }).Variables).toMatchObject({
      KAFKA_BROKERS: { 'Fn::GetAtt': ['KafkaBootstrapBrokers', 'BootstrapBrokerStringSaslIam'] },
      KAFKA_AUTH: 'iam',
      STATE_BUCKET: { Ref: 'StateBucket' },
      RAW_BUCKET: { Ref: 'RawBucket' },
      ALPACA_SECRET_ARN: { Ref: 'AlpacaSecret' },
    })
    expect(asArray(template().Resources[FUNCTION]?.DependsOn)).toContain('KafkaTopics')
  })
})
