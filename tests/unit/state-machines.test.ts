import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EmrJobFailed } from '../../local/lake/emr.ts'
import {
  type Handler,
  LOCAL_REFERENCES,
  loadDefinition,
  localLake,
  readDefinition,
  resolveReferences,
  runStateMachine,
} from '../../local/lake/step-functions.ts'
import { projectRoot } from '../../local/services/paths.ts'

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
  it('are the two the lake needs and the backfill', () => {
    expect(files.sort()).toEqual([
      'backfill-bars.asl.yml',
      'lake-maintenance.asl.yml',
      'lake-refresh.asl.yml',
    ])
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

      // The lake machines run EMR jobs; backfill-bars runs them only through lake-refresh.
      if (file.startsWith('lake-'))
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

/**
 * The control flow of the real definitions, run by aws-local-stepfunctions with stand-ins for
 * lake-window and EMR (the SNS and S3 tasks are the local ones, into a temp dir).
 */
describe('lake-refresh control flow', () => {
  const lakeIn = () => {
    const root = mkdtempSync(join(tmpdir(), 'sfn-'))
    return localLake('test', {
      rawDir: join(root, 'raw'),
      lakeDir: join(root, 'lake'),
      notificationsLog: join(root, 'notifications.log'),
      logDir: join(root, 'logs'),
    })
  }
  const notifications = (lake: ReturnType<typeof localLake>) =>
    existsSync(lake.notificationsLog)
      ? readFileSync(lake.notificationsLog, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line))
      : []
  const checkpointOf = (lake: ReturnType<typeof localLake>) => {
    const path = join(lake.rawDir, 'raw', '_lake', 'refresh-checkpoint.json')
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined
  }
  const planned = {
    start: '2026-11-29T14:00:00Z',
    end: '2026-11-30T11:00:00Z',
    quality: { start: '2026-11-29T14:00:00Z', end: '2026-11-30T10:04:00Z' },
    token: 'lake-20261129T1400Z-20261130T1100Z-p1007',
    skip: false,
    checkpoint: { listed_at: '2026-11-30T10:07:03.500Z', judged_until: '2026-11-30T10:04:00Z', seen: {} },
    partitions: 3,
    outside: 0,
  }
  /** An EMR stand-in that fails its first `failures` attempts and records its job arguments. */
  const emr = (failures: number, calls: string[][]): Handler => {
    let attempts = 0
    return async (input) => {
      const params = input as { JobDriver: { SparkSubmit: { EntryPointArguments: string[] } } }
      calls.push(params.JobDriver.SparkSubmit.EntryPointArguments)
      if (++attempts <= failures) throw new EmrJobFailed(`attempt ${attempts} failed`)
      return { JobRunId: `run-${attempts}`, State: 'SUCCESS' }
    }
  }

  it('ends before any EMR job when nothing landed since the last success, and writes no checkpoint', async () => {
    const lake = lakeIn()
    const calls: string[][] = []
    const result = await runStateMachine('lake-refresh', {}, lake, {
      handlers: {
        ResolveWindow: async () => ({ ...planned, skip: true, checkpoint: undefined, token: '' }),
        Refresh: emr(0, calls),
        Quality: emr(0, calls),
      },
    })
    expect(result.status).toBe('SUCCEEDED')
    expect(result.states).toEqual(['ResolveWindow', 'AnythingNew', 'NothingNew'])
    expect(calls).toEqual([])
    expect(checkpointOf(lake)).toBeUndefined()
  })

  it('refreshes the planned window, judges the quality window, then writes the checkpoint', async () => {
    const lake = lakeIn()
    const calls: string[][] = []
    const result = await runStateMachine('lake-refresh', {}, lake, {
      handlers: { ResolveWindow: async () => planned, Refresh: emr(0, calls), Quality: emr(0, calls) },
    })
    expect(result.error).toBeUndefined()
    expect(result.states).toEqual([
      'ResolveWindow',
      'AnythingNew',
      'Refresh',
      'Quality',
      'Scheduled',
      'WriteCheckpoint',
      'Succeeded',
    ])
    expect(calls).toEqual([
      ['--window-start', '2026-11-29T14:00:00Z', '--window-end', '2026-11-30T11:00:00Z'],
      [
        '--window-start',
        '2026-11-29T14:00:00Z',
        '--window-end',
        '2026-11-30T10:04:00Z',
        '--run-id',
        'lake-20261129T1400Z-20261130T1100Z-p1007',
      ],
    ])
    expect(checkpointOf(lake)).toBe(
      '{"listed_at":"2026-11-30T10:07:03.500Z","judged_until":"2026-11-30T10:04:00Z","seen":{}}',
    )
    expect(notifications(lake)).toEqual([])
  })

  it('heals a failed EMR attempt with its Retry and notifies nobody', async () => {
    const lake = lakeIn()
    const calls: string[][] = []
    const result = await runStateMachine('lake-refresh', {}, lake, {
      handlers: { ResolveWindow: async () => planned, Refresh: emr(1, calls), Quality: emr(0, calls) },
    })
    expect(result.status).toBe('SUCCEEDED')
    expect(result.states).toContain('Refresh:retry')
    expect(notifications(lake)).toEqual([])
    expect(checkpointOf(lake)).toBe(
      '{"listed_at":"2026-11-30T10:07:03.500Z","judged_until":"2026-11-30T10:04:00Z","seen":{}}',
    )
  })

  it('notifies once, when the retries are spent, and leaves the checkpoint where it was', async () => {
    const lake = lakeIn()
    const calls: string[][] = []
    const result = await runStateMachine('lake-refresh', {}, lake, {
      handlers: { ResolveWindow: async () => planned, Refresh: emr(3, calls), Quality: emr(0, calls) },
    })
    expect(result.status).toBe('FAILED')
    expect(result.states).toEqual([
      'ResolveWindow',
      'AnythingNew',
      'Refresh',
      'Refresh:retry',
      'Refresh:retry',
      'NotifyFailure',
      'Failed',
    ])
    expect(calls).toHaveLength(3)
    const sent = notifications(lake)
    expect(sent).toHaveLength(1)
    expect(sent[0].subject).toBe('lake-refresh failed')
    expect(JSON.parse(sent[0].message).error.Error).toBe('EmrServerless.JobFailed')
    expect(checkpointOf(lake)).toBeUndefined()
  })

  it('writes no checkpoint for a given window (a rerun is not progress of the schedule)', async () => {
    const lake = lakeIn()
    const calls: string[][] = []
    const window = { start: '2026-11-30T09:00:00Z', end: '2026-11-30T10:00:00Z' }
    const result = await runStateMachine('lake-refresh', { window }, lake, {
      handlers: {
        ResolveWindow: async () => ({ ...window, quality: window, token: 'lake-x', skip: false }),
        Refresh: emr(0, calls),
        Quality: emr(0, calls),
      },
    })
    expect(result.states).toEqual([
      'ResolveWindow',
      'AnythingNew',
      'Refresh',
      'Quality',
      'Scheduled',
      'Succeeded',
    ])
    expect(checkpointOf(lake)).toBeUndefined()
  })
})

describe('lake-maintenance control flow', () => {
  it('notifies only when the last attempt fails', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sfn-'))
    const lake = localLake('test', { rawDir: join(root, 'raw'), notificationsLog: join(root, 'n.log') })
    let attempts = 0
    const flaky: Handler = async () => {
      if (++attempts === 1) throw new EmrJobFailed('CommitFailedException')
      return { JobRunId: 'run', State: 'SUCCESS' }
    }
    const healed = await runStateMachine('lake-maintenance', {}, lake, { handlers: { Maintain: flaky } })
    expect(healed.states).toEqual(['Maintain', 'Maintain:retry', 'Succeeded'])
    expect(existsSync(lake.notificationsLog)).toBe(false)
    const failing: Handler = async () => {
      throw new EmrJobFailed('still failing')
    }
    const failed = await runStateMachine('lake-maintenance', {}, lake, { handlers: { Maintain: failing } })
    expect(failed.states).toEqual(['Maintain', 'Maintain:retry', 'Maintain:retry', 'NotifyFailure', 'Failed'])
    expect(readFileSync(lake.notificationsLog, 'utf8').trim().split('\n')).toHaveLength(1)
  })
})
