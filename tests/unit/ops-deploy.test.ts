import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { credentialSource, nextSteps, planDeploy, stagesOf } from '../../local/ops/deploy.ts'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..')

const nothing = () => false

describe('deploy plan', () => {
  it('reads the stages from serverless.yml params, default excluded', () => {
    expect(stagesOf('params:\n  default:\n    a: 1\n  dev:\n    a: 2\n  prod:\n    a: 3\n')).toEqual([
      'dev',
      'prod',
    ])
  })

  it('finds credentials where the SDK looks, without calling AWS', () => {
    expect(credentialSource({ HOME: '/nowhere' }, nothing)).toBeUndefined()
    expect(credentialSource({ AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's' }, nothing)).toBe(
      'environment (AWS_ACCESS_KEY_ID)',
    )
    // A key id without its secret is no credential.
    expect(credentialSource({ AWS_ACCESS_KEY_ID: 'AKIA', HOME: '/nowhere' }, nothing)).toBeUndefined()
    expect(
      credentialSource({ HOME: '/home/me', AWS_PROFILE: 'lake' }, (path) => path === '/home/me/.aws/config'),
    ).toBe('shared files, profile lake')
    expect(credentialSource({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/creds' }, nothing)).toBe(
      'container credentials',
    )
  })

  it('refuses with every reason at once', () => {
    expect(
      planDeploy({ stage: 'qa', stages: ['dev', 'prod'], credentials: undefined, awsCli: false }),
    ).toEqual({
      ok: false,
      problems: [
        'unknown stage "qa": serverless.yml has params for dev, prod',
        'no AWS credentials: set AWS_PROFILE (aws configure sso / aws configure) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
        'no `aws` CLI on PATH: every deploy ends by uploading the Spark job code with it (install AWS CLI v2)',
      ],
    })
    const noStage = planDeploy({ stage: undefined, stages: ['dev', 'prod'], credentials: 'x', awsCli: true })
    expect(noStage).toEqual({ ok: false, problems: ['name the stage: make deploy STAGE=<dev|prod>'] })
  })

  it('packages, lints and deploys that same package', () => {
    const plan = planDeploy({
      stage: 'prod',
      stages: ['dev', 'prod'],
      credentials: 'environment',
      awsCli: true,
    })
    expect(plan.ok).toBe(true)
    if (!plan.ok) return
    expect(plan.steps.map((step) => [step.command, ...step.args].join(' '))).toEqual([
      'node_modules/.bin/serverless package --stage prod --package .local/package/prod-deploy',
      'bash scripts/cfn-lint.sh .local/package/prod-deploy/cloudformation-template-update-stack.json',
      'node_modules/.bin/serverless deploy --stage prod --package .local/package/prod-deploy',
    ])
    expect(nextSteps('prod').join('\n')).toContain('crypto-data-lake-prod')
  })
})

// Each case starts the CLI through tsx: a process, not an in-memory call.
describe('make deploy without credentials', { timeout: 60_000 }, () => {
  it('refuses before running anything and exits 2', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ops-deploy-home-'))
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, NO_COLOR: '1' }
    const outcome = await run(
      join(root, 'node_modules', '.bin', 'tsx'),
      ['local/ops/cli.ts', 'deploy', '--stage', 'dev'],
      {
        cwd: root,
        env,
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    )
    expect(outcome.code).toBe(2)
    expect(outcome.stderr).toContain('[deploy] refused: no AWS credentials')
    expect(outcome.stderr).not.toContain('package the dev stage')
  })

  it('answers --help instead of acting', async () => {
    const { stdout } = await run(
      join(root, 'node_modules', '.bin', 'tsx'),
      ['local/ops/cli.ts', 'deploy', '--help'],
      {
        cwd: root,
      },
    )
    expect(stdout).toContain('Usage: ops deploy [options]')
    expect(stdout).toContain('--dry-run')
  })
})
