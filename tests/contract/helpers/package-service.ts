/**
 * Packages the service the way a deploy would (`serverless package --stage <stage>`) into a
 * temporary directory and loads what a deploy would upload: the CloudFormation template and the
 * function artifacts, with the repository's one packager (local/runtime/template.ts), which passes
 * no AWS credentials: packaging must not need any.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { inject } from 'vitest'
import { type CfnTemplate, readTemplate, serverlessPackage } from '../../../local/runtime/template.ts'

const run = promisify(execFile)

export const projectRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)))

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
  try {
    await serverlessPackage(projectRoot, stage, dir, { timeoutMs: 170_000 })
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  return loadPackage(stage, dir, () => rm(dir, { recursive: true, force: true }))
}

async function loadPackage(
  stage: string,
  dir: string,
  dispose: () => Promise<void>,
): Promise<PackagedService> {
  return { stage, dir, template: readTemplate(dir), files: (await readdir(dir)).sort(), dispose }
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
