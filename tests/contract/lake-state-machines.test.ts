/**
 * The packaged template's state machines, on both stages: valid ASL, Retry and Catch on every
 * Task, alarms, schedules that never coincide, and the lake state each role may touch.
 */
import { describe, expect, it } from 'vitest'
import { allStates, definitionOf, validateAsl } from './helpers/state-machines.ts'
import { asArray, getAttOf, props, resourcesOfType } from './helpers/template.ts'
import { packagedStages, STAGES } from './packaged-stages.ts'

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const template = () => service(stage).template

  describe('state machines', () => {
    const machines = () => resourcesOfType(template(), 'AWS::StepFunctions::StateMachine')

    it('deploys lake-refresh and lake-maintenance with the explicit role of resources/lake.yml', () => {
      expect(
        machines()
          .map(([, r]) => r.Properties?.StateMachineName)
          .sort(),
      ).toEqual([
        `crypto-data-lake-${stage}-backfill-bars`,
        `crypto-data-lake-${stage}-lake-maintenance`,
        `crypto-data-lake-${stage}-lake-refresh`,
      ])
      // backfill-bars has a role of its own (tests/contract/backfill.test.ts).
      for (const [id, r] of machines().filter(([id]) => id !== 'BackfillBarsStateMachine'))
        expect(getAttOf(r.Properties?.RoleArn), id).toEqual(['LakeStateMachineRole', 'Arn'])
    })

    it('passes asl-validator for every definition', () => {
      for (const [id] of machines()) {
        const result = validateAsl(definitionOf(template(), id))
        expect(result.errorsText(), id).toBe('')
        expect(result.isValid, id).toBe(true)
      }
    })

    // The one exception to Catch: the failure notifier, which every Catch leads to and which leads
    // only to a Fail state - a Catch there could only go to that same Fail state.
    it('gives every Task state a Retry with backoff, and a Catch unless it is the failure notifier', () => {
      const missing: string[] = []
      for (const [id] of machines()) {
        const states = allStates(definitionOf(template(), id))
        const byName = new Map(states)
        const catchTargets = new Set(
          states.flatMap(([, s]) =>
            asArray(s.Catch as Array<{ Next: string }> | undefined).map((c) => c.Next),
          ),
        )
        for (const [name, state] of states) {
          if (state.Type !== 'Task') continue
          const retry = asArray(state.Retry as Array<{ BackoffRate?: number }> | undefined)
          if (retry.length === 0 || !retry.every((r) => (r.BackoffRate ?? 2) > 1))
            missing.push(`${id}.${name}: Retry with backoff`)
          const notifier =
            catchTargets.has(name) &&
            state.Resource === 'arn:aws:states:::sns:publish' &&
            byName.get(String(state.Next))?.Type === 'Fail'
          if (!notifier && asArray(state.Catch as unknown[] | undefined).length === 0)
            missing.push(`${id}.${name}: Catch`)
        }
        expect(catchTargets.size, `${id}: failures are caught somewhere`).toBeGreaterThan(0)
      }
      expect(missing).toEqual([])
    })

    it('alarms on failed and timed-out executions of every state machine', () => {
      for (const [id, machine] of machines()) {
        const arn = `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${String(machine.Properties?.StateMachineName)}`
        for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
          const alarm = resourcesOfType(template(), 'AWS::CloudWatch::Alarm').find(([, r]) => {
            const p = r.Properties ?? {}
            return (
              p.Namespace === 'AWS/States' &&
              p.MetricName === metric &&
              asArray(p.Dimensions as Array<{ Name: string; Value: unknown }>).some(
                (d) =>
                  d.Name === 'StateMachineArn' &&
                  JSON.stringify(d.Value) === JSON.stringify({ 'Fn::Sub': arn }),
              )
            )
          })
          expect(alarm, `${id}: ${metric}`).toBeDefined()
        }
      }
    })

    it('notifies no single EMR job run: a Retry may heal it, only a finally failed execution notifies', () => {
      const emrRules = resourcesOfType(template(), 'AWS::Events::Rule').filter(([, r]) =>
        JSON.stringify(r.Properties?.EventPattern ?? {}).includes('aws.emr-serverless'),
      )
      expect(emrRules.map(([id]) => id)).toEqual([])
    })

    const scheduleOfMachine = (machineName: string) => {
      const [id] = machines().find(([, r]) => r.Properties?.StateMachineName === machineName) ?? []
      return resourcesOfType(template(), 'AWS::Events::Rule')
        .filter(([, r]) =>
          asArray(r.Properties?.Targets as Array<{ Arn: unknown; Input?: string }>).some(
            (t) => JSON.stringify(t.Arn) === JSON.stringify({ Ref: id }),
          ),
        )
        .map(([, r]) => ({
          expression: r.Properties?.ScheduleExpression,
          input: asArray(r.Properties?.Targets as Array<{ Input?: string }>)[0]?.Input,
        }))
    }

    it('schedules lake-refresh hourly and lake-maintenance daily with cron at different minutes, never together', () => {
      const refresh = scheduleOfMachine(`crypto-data-lake-${stage}-lake-refresh`)
      const maintenance = scheduleOfMachine(`crypto-data-lake-${stage}-lake-maintenance`)
      expect(refresh).toEqual([{ expression: 'cron(7 * * * ? *)', input: '{}' }])
      expect(maintenance).toEqual([{ expression: 'cron(37 3 * * ? *)', input: '{}' }])
      // cron fires at second 0 of its minute: disjoint minutes of the hour never coincide, whereas
      // two rate rules of one deploy fire at the same second (their creation).
      const minuteOf = (expression: unknown) => String(expression).replace(/^cron\((\S+) .*$/, '$1')
      expect(minuteOf(refresh[0]?.expression)).not.toBe(minuteOf(maintenance[0]?.expression))
    })

    it('lets lake-window read only the lake state of the raw bucket, and the state machine write only the checkpoint', () => {
      const window = props(template(), 'LakeWindowRole')
      const statements = (
        window.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, unknown>> } }>
      ).flatMap((policy) => policy.PolicyDocument.Statement)
      const s3 = statements.filter((st) => asArray(st.Action as string[]).some((a) => a.startsWith('s3:')))
      expect(s3).toEqual([
        {
          Sid: 'ListLandingMarkers',
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Resource: { 'Fn::GetAtt': ['RawBucket', 'Arn'] },
          Condition: { StringLike: { 's3:prefix': 'raw/_lake/*' } },
        },
        {
          Sid: 'ReadLakeState',
          Effect: 'Allow',
          Action: 's3:GetObject',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JS
          Resource: { 'Fn::Sub': '${RawBucket.Arn}/raw/_lake/*' },
        },
      ])
      const machine = props(template(), 'LakeStateMachineRole')
      const machineS3 = (
        machine.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, unknown>> } }>
      )
        .flatMap((policy) => policy.PolicyDocument.Statement)
        .filter((st) => asArray(st.Action as string[]).some((a) => a.startsWith('s3:')))
      expect(machineS3).toEqual([
        {
          Sid: 'WriteRefreshCheckpoint',
          Effect: 'Allow',
          Action: 's3:PutObject',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JS
          Resource: { 'Fn::Sub': '${RawBucket.Arn}/raw/_lake/refresh-checkpoint.json' },
        },
      ])
    })
  })
})
