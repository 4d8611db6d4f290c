import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { projectRoot } from '../../local/services/paths.ts'
import {
  LOCAL_REFERENCES,
  loadDefinition,
  readDefinition,
  resolveReferences,
} from '../../local/step-functions.ts'

const require = createRequire(import.meta.url)
const aslValidator = require('asl-validator') as (
  definition: unknown,
  options?: unknown,
) => { isValid: boolean; errors: Array<{ message: string }> }

const dir = join(projectRoot, 'state-machines')
const files = readdirSync(dir).filter((file) => file.endsWith('.asl.yml'))

type State = {
  Type: string
  Resource?: string
  Retry?: Array<{ ErrorEquals: string[]; BackoffRate?: number }>
  Catch?: Array<{ Next: string }>
  Parameters?: Record<string, unknown>
}

describe('state machine definitions', () => {
  it('are the two the lake needs', () => {
    expect(files.sort()).toEqual(['lake-maintenance.asl.yml', 'lake-refresh.asl.yml'])
  })

  for (const file of files) {
    describe(file, () => {
      const definition = loadDefinition(join(dir, file), LOCAL_REFERENCES) as unknown as {
        States: Record<string, State>
      }

      it('passes asl-validator', () => {
        const result = aslValidator(definition)
        expect(result.errors).toEqual([])
        expect(result.isValid).toBe(true)
      })

      it('gives every Task a Retry with backoff and a Catch to a notify state (SNS tasks excepted)', () => {
        for (const [name, state] of Object.entries(definition.States)) {
          if (state.Type !== 'Task') continue
          expect(state.Retry?.length, `${name} Retry`).toBeGreaterThan(0)
          for (const retry of state.Retry ?? [])
            expect(retry.BackoffRate, `${name} BackoffRate`).toBeGreaterThan(1)
          if (state.Resource === 'arn:aws:states:::sns:publish') continue
          expect(
            state.Catch?.map((c) => c.Next),
            `${name} Catch`,
          ).toEqual(['NotifyFailure'])
        }
        expect(definition.States.NotifyFailure?.Resource).toBe('arn:aws:states:::sns:publish')
      })

      it('derives every EMR ClientToken from the unit of work, never States.UUID', () => {
        const emrTasks = Object.values(definition.States).filter(
          (state) => state.Resource === 'arn:aws:states:::emr-serverless:startJobRun.sync',
        )
        expect(emrTasks.length).toBeGreaterThan(0)
        for (const state of emrTasks) {
          const token = String(state.Parameters?.['ClientToken.$'])
          expect(token).toMatch(/^States\.Format\(/)
          expect(token).not.toContain('UUID')
          expect(token).toContain('$$.State.RetryCount')
        }
      })
    })
  }

  it('keeps CloudFormation references in the deployed form and resolves them locally', () => {
    const raw = readDefinition(join(dir, 'lake-refresh.asl.yml')) as { States: Record<string, State> }
    expect(raw.States.ResolveWindow?.Resource).toEqual({ 'Fn::GetAtt': ['LakeWindowLambdaFunction', 'Arn'] })
    expect(raw.States.NotifyFailure?.Parameters?.TopicArn).toEqual({ Ref: 'AlarmTopic' })
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder, not JS
    expect(resolveReferences({ 'Fn::Sub': 's3://${LakeCodeBucket}/emr/x.py' }, LOCAL_REFERENCES)).toBe(
      's3://local-code/emr/x.py',
    )
    expect(() => resolveReferences({ Ref: 'Nope' }, LOCAL_REFERENCES)).toThrow('Nope')
  })
})
