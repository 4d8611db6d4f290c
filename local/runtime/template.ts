/**
 * The packaged service as the local runtime sees it: `serverless package` writes the same
 * CloudFormation template that `serverless deploy` would send, and the runtime takes its
 * schedules, function timeouts, environments and event source mappings from there. The one
 * packager of the repository: `make run`, `make invoke`, `make backfill`, `make deploy`,
 * `make cost` and the contract tests all package through {@link serverlessPackage}.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type CfnTemplate, functionKeyOf, referencedResource, resourcesOfType } from './cfn.ts'
import { type Schedule, schedulesFromTemplate } from './schedules.ts'

export type { CfnTemplate } from './cfn.ts'

export interface EventSourceMappingSpec {
  functionName: string
  topics: string[]
  batchSize: number
  batchWindowMs: number
  maximumRetryAttempts: number
  bisectBatchOnFunctionError: boolean
  consumerGroupId: string | undefined
}

export const TEMPLATE_FILE = 'cloudformation-template-update-stack.json'

/** Credentials and profiles that must not reach the packaging process: packaging needs none. */
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

/** The serverless command line that packages `stage` into `dir` (a deploy then sends that directory). */
export function packageArgs(stage: string, dir: string): string[] {
  return ['package', '--stage', stage, '--package', dir]
}

/**
 * `serverless package --stage <stage> --package <dir>` in the service at `root`, without AWS
 * credentials and non-interactive (CI), returning the template it wrote. Fails with the
 * framework's output.
 */
export async function serverlessPackage(
  root: string,
  stage: string,
  dir: string,
  options: { timeoutMs?: number } = {},
): Promise<CfnTemplate> {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' }
  for (const name of AWS_CREDENTIAL_ENV) delete env[name]
  const serverless = join(root, 'node_modules', 'osls', 'bin', 'serverless.js')
  try {
    await promisify(execFile)(process.execPath, [serverless, ...packageArgs(stage, dir)], {
      cwd: root,
      env,
      timeout: options.timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    })
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    throw new Error(`serverless package --stage ${stage} failed:\n${stdout}\n${stderr}`)
  }
  return readTemplate(dir)
}

async function newestMtime(paths: string[]): Promise<number> {
  let newest = 0
  for (const path of paths) {
    if (!existsSync(path)) continue
    const stat = statSync(path)
    if (stat.isDirectory()) {
      for (const entry of await readdir(path, { recursive: true })) {
        const full = join(path, entry)
        if (!full.includes('node_modules')) newest = Math.max(newest, statSync(full).mtimeMs)
      }
    } else newest = Math.max(newest, stat.mtimeMs)
  }
  return newest
}

/** Packages the service for `stage` into `dir` unless the package there is newer than the sources. */
export async function packageService(root: string, dir: string, stage: string, log: (line: string) => void) {
  const template = join(dir, TEMPLATE_FILE)
  const sources = ['serverless.yml', 'functions', 'resources', 'state-machines', 'package-lock.json'].map(
    (p) => join(root, p),
  )
  if (existsSync(template) && statSync(template).mtimeMs > (await newestMtime(sources))) {
    log(`using the packaged service in ${dir} (up to date)`)
    return readTemplate(dir)
  }
  log(`packaging the service (serverless package --stage ${stage})...`)
  const started = Date.now()
  const packaged = await serverlessPackage(root, stage, dir)
  log(`packaged in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return packaged
}

export function readTemplate(dir: string): CfnTemplate {
  return JSON.parse(readFileSync(join(dir, TEMPLATE_FILE), 'utf8')) as CfnTemplate
}

/** Lambda timeouts in seconds, by function name. */
export function functionTimeouts(template: CfnTemplate): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [id, resource] of resourcesOfType(template, 'AWS::Lambda::Function')) {
    const name = functionKeyOf(id)
    if (name) out[name] = Number(resource.Properties?.Timeout ?? 6)
  }
  return out
}

export function eventSourceMappings(template: CfnTemplate): EventSourceMappingSpec[] {
  const specs: EventSourceMappingSpec[] = []
  for (const [, resource] of resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')) {
    const props = resource.Properties ?? {}
    const target = referencedResource(props.FunctionName)
    if (!target || !Array.isArray(props.Topics)) continue
    const kafkaConfig = props.AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId?: string } | undefined
    specs.push({
      functionName: functionKeyOf(target) ?? target,
      topics: props.Topics as string[],
      batchSize: Number(props.BatchSize ?? 100),
      batchWindowMs: Number(props.MaximumBatchingWindowInSeconds ?? 0) * 1000,
      maximumRetryAttempts: Number(props.MaximumRetryAttempts ?? 3),
      bisectBatchOnFunctionError: Boolean(props.BisectBatchOnFunctionError ?? false),
      consumerGroupId:
        typeof kafkaConfig?.ConsumerGroupId === 'string' ? kafkaConfig.ConsumerGroupId : undefined,
    })
  }
  return specs
}

export function schedules(template: CfnTemplate): Schedule[] {
  return schedulesFromTemplate(template)
}
