/**
 * The packaged template's functions, on both stages: exactly the service and inline functions,
 * runtime, log groups and Errors alarms, the VPC, the schedules, the start order after the
 * topics, and the environment each function's config needs.
 */
import { describe, expect, it } from 'vitest'
import { asArray, getAttOf, props, resourcesOfType } from './helpers/template.ts'
import {
  EXPECTED,
  errorsAlarmFor,
  FUNCTION_ROLES,
  lambdaFunctions,
  logGroupOf,
  packagedStages,
  SERVICE_FUNCTIONS,
  STAGES,
} from './packaged-stages.ts'

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const expected = EXPECTED[stage]
  const template = () => service(stage).template

  describe('functions', () => {
    it('deploys exactly the service functions plus the inline custom-resource functions', () => {
      expect(
        lambdaFunctions(template())
          .map(([id]) => id)
          .sort(),
      ).toEqual(Object.keys(FUNCTION_ROLES).sort())
    })

    it('runs every function on nodejs22.x, arm64, with a log group kept for the stage retention', () => {
      for (const [id, fn] of lambdaFunctions(template())) {
        expect(fn.Properties?.Runtime, id).toBe('nodejs22.x')
        expect(fn.Properties?.Architectures, id).toEqual(['arm64'])
        const logGroup = logGroupOf(template(), id)
        expect(logGroup, `${id}: log group`).toBeDefined()
        expect(props(template(), logGroup ?? '').RetentionInDays, id).toBe(expected.logRetentionDays)
      }
    })

    it('has an Errors alarm for every function, notifying the alarm topic', () => {
      for (const [id] of lambdaFunctions(template())) {
        const alarm = errorsAlarmFor(template(), id)
        expect(alarm, `${id}: Errors alarm`).toBeDefined()
        expect(alarm?.[1].Properties?.AlarmActions, id).toEqual([{ Ref: 'AlarmTopic' }])
      }
    })

    it('runs the service functions in the private subnets, traced and tagged', () => {
      for (const id of SERVICE_FUNCTIONS) {
        const p = props(template(), id)
        expect(p.VpcConfig, id).toEqual({
          SecurityGroupIds: [{ 'Fn::GetAtt': ['LambdaSecurityGroup', 'GroupId'] }],
          SubnetIds: [{ Ref: 'PrivateSubnetA' }, { Ref: 'PrivateSubnetB' }],
        })
        expect(p.TracingConfig, id).toEqual({ Mode: 'Active' })
        expect(p.Tags, id).toEqual(
          expect.arrayContaining([
            { Key: 'project', Value: 'crypto-data-lake' },
            { Key: 'stage', Value: stage },
          ]),
        )
      }
    })

    it('schedules poll-bars and simulate-trades every minute, refresh-assets once a day, nothing else', () => {
      const scheduleOf = (functionId: string) => {
        const rules = resourcesOfType(template(), 'AWS::Events::Rule').filter(([, r]) =>
          asArray(r.Properties?.Targets as Array<{ Arn: unknown }>).some(
            (t) => getAttOf(t.Arn)?.[0] === functionId,
          ),
        )
        const schedules = resourcesOfType(template(), 'AWS::Scheduler::Schedule').filter(
          ([, r]) =>
            getAttOf((r.Properties?.Target as { Arn?: unknown } | undefined)?.Arn)?.[0] === functionId,
        )
        return [...rules, ...schedules].map(([, r]) => r.Properties?.ScheduleExpression)
      }
      expect(Object.fromEntries(lambdaFunctions(template()).map(([id]) => [id, scheduleOf(id)]))).toEqual({
        ...Object.fromEntries(Object.keys(FUNCTION_ROLES).map((id) => [id, []])),
        PollBarsLambdaFunction: ['cron(* * * * ? *)'],
        SimulateTradesLambdaFunction: ['cron(* * * * ? *)'],
        RefreshAssetsLambdaFunction: ['rate(1 day)'],
      })
    })

    it('starts the producers and the event sources only once the topics exist', () => {
      for (const id of [
        'PollBarsLambdaFunction',
        'BackfillBarsLambdaFunction',
        'SimulateTradesLambdaFunction',
        'RefreshAssetsLambdaFunction',
        ...resourcesOfType(template(), 'AWS::Lambda::EventSourceMapping').map(([mapping]) => mapping),
      ]) {
        expect(asArray(template().Resources[id]?.DependsOn), id).toContain('KafkaTopics')
      }
      expect(props(template(), 'KafkaTopics')).toMatchObject({
        ServiceToken: { 'Fn::GetAtt': ['CreateTopicsLambdaFunction', 'Arn'] },
        ClusterArn: { 'Fn::GetAtt': ['MskCluster', 'Arn'] },
      })
    })

    it('gives the other functions the environment their configs need, wired to this stack', () => {
      const envOf = (id: string) =>
        (props(template(), id).Environment as { Variables: Record<string, unknown> }).Variables
      const kafka = {
        KAFKA_BROKERS: { 'Fn::GetAtt': ['KafkaBootstrapBrokers', 'BootstrapBrokerStringSaslIam'] },
        KAFKA_AUTH: 'iam',
      }
      expect(envOf('SimulateTradesLambdaFunction')).toMatchObject({
        ...kafka,
        RAW_BUCKET: { Ref: 'RawBucket' },
        ALPACA_SECRET_ARN: { Ref: 'AlpacaSecret' },
        POPULATION_SEED: `crypto-data-lake-${stage}`,
      })
      expect(envOf('RefreshAssetsLambdaFunction')).toMatchObject({
        ...kafka,
        RAW_BUCKET: { Ref: 'RawBucket' },
        COINAPI_SECRET_ARN: { Ref: 'CoinApiSecret' },
      })
      expect(envOf('LandRawLambdaFunction')).toMatchObject({ RAW_BUCKET: { Ref: 'RawBucket' } })
      expect(envOf('ApplySearchConfigLambdaFunction')).toMatchObject({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        OPENSEARCH_URL: { 'Fn::Sub': 'https://${OpenSearchDomain.DomainEndpoint}' },
        OPENSEARCH_AUTH: 'sigv4',
        OPENSEARCH_REPLICAS: expected.openSearchReplicas,
      })
      expect(envOf('CreateTopicsLambdaFunction')).toMatchObject(kafka)
    })

    it('gives poll-bars the environment its config needs, wired to this stack', () => {
      const env = (
        props(template(), 'PollBarsLambdaFunction').Environment as { Variables: Record<string, unknown> }
      ).Variables
      expect(env).toMatchObject({
        KAFKA_BROKERS: { 'Fn::GetAtt': ['KafkaBootstrapBrokers', 'BootstrapBrokerStringSaslIam'] },
        KAFKA_AUTH: 'iam',
        STATE_BUCKET: { Ref: 'StateBucket' },
        RAW_BUCKET: { Ref: 'RawBucket' },
        ALPACA_SECRET_ARN: { Ref: 'AlpacaSecret' },
        POWERTOOLS_METRICS_NAMESPACE: 'CryptoLake',
      })
      expect(String(env.SYMBOLS ?? '')).toMatch(/^[A-Z0-9]+\/[A-Z]+(,[A-Z0-9]+\/[A-Z]+)*$/)
    })

    it('gives index-events the environment its config needs, wired to this stack', () => {
      const env = (
        props(template(), 'IndexEventsLambdaFunction').Environment as { Variables: Record<string, unknown> }
      ).Variables
      expect(env).toMatchObject({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        OPENSEARCH_URL: { 'Fn::Sub': 'https://${OpenSearchDomain.DomainEndpoint}' },
        OPENSEARCH_AUTH: 'sigv4',
        OPENSEARCH_REPLICAS: expected.openSearchReplicas,
        RAW_BUCKET: { Ref: 'RawBucket' },
        PII_SECRET_ARN: { Ref: 'PiiHmacSecret' },
        POWERTOOLS_METRICS_NAMESPACE: 'CryptoLake',
      })
    })
  })
})
