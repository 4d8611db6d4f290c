/**
 * Packages the service the way a deploy would (`serverless package --stage <stage>`) into a
 * temporary directory and loads what a deploy would upload: the CloudFormation template and the
 * function artifacts. No AWS credentials are passed: packaging must not need any.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { inject } from 'vitest'
import type { CfnTemplate } from './template.ts'

const run = promisify(execFile)

export const projectRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)))
const serverlessBin = join(projectRoot, 'node_modules', 'osls', 'bin', 'serverless.js')

/** Credentials and profiles that must not reach the packaging process. */
const AWS_CREDENTIAL_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
]

export interface PackagedService {
  stage: string
  dir: string
  template: CfnTemplate
  /** Files in the package directory (zips, templates, state). */
  files: string[]
  dispose(): Promise<void>
}

export async function packageService(stage: string): Promise<PackagedService> {
  const dir = await mkdtemp(join(tmpdir(), `crypto-lake-package-${stage}-`))
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' }
  for (const name of AWS_CREDENTIAL_ENV) delete env[name]
  try {
    await run(process.execPath, [serverlessBin, 'package', '--stage', stage, '--package', dir], {
      cwd: projectRoot,
      env,
      timeout: 170_000,
      maxBuffer: 16 * 1024 * 1024,
    })
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    throw new Error(`serverless package --stage ${stage} failed:\n${stdout}\n${stderr}`)
  }
  return loadPackage(stage, dir, () => rm(dir, { recursive: true, force: true }))
}

async function loadPackage(
  stage: string,
  dir: string,
  dispose: () => Promise<void>,
): Promise<PackagedService> {
  const template = JSON.parse(
    await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as CfnTemplate
  return { stage, dir, template, files: (await readdir(dir)).sort(), dispose }
}

const loaded = new Map<string, Promise<PackagedService>>()

/**
 * The package of a stage made once for the whole contract run (package-global-setup.ts), loaded
 * once per test file's worker. Read-only: the run's setup removes it at the end.
 */
export function packaged(stage: 'dev' | 'prod'): Promise<PackagedService> {
  let found = loaded.get(stage)
  if (!found) {
    found = loadPackage(stage, inject('packagedDirs')[stage], async () => {})
    loaded.set(stage, found)
  }
  return found
}

/** Runs scripts/cfn-lint.sh (which installs cfn-lint on first use) over a template. */
export async function cfnLint(templatePath: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(
      'bash',
      [join(projectRoot, 'scripts', 'cfn-lint.sh'), templatePath],
      {
        cwd: projectRoot,
        timeout: 170_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    )
    return { code: 0, output: `${stdout}${stderr}` }
  } catch (error) {
    const { code, stdout = '', stderr = '' } = error as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof code === 'number' ? code : 1, output: `${stdout}${stderr}` }
  }
}
