/**
 * The packaged service as the local runtime sees it: `serverless package` writes the same
 * CloudFormation template that `serverless deploy` would send, and the runtime takes its
 * schedules, function timeouts and event source mappings from there.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { type Schedule, schedulesFromTemplate } from './schedules.ts'

export interface CfnTemplate {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>
}

export interface EventSourceMappingSpec {
  functionName: string
  topics: string[]
  batchSize: number
  batchWindowMs: number
  maximumRetryAttempts: number
  bisectBatchOnFunctionError: boolean
  consumerGroupId: string | undefined
}

const TEMPLATE_FILE = 'cloudformation-template-update-stack.json'

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
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      join(root, 'node_modules', '.bin', 'serverless'),
      ['package', '--stage', stage, '--package', dir],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`serverless package failed:\n${output}`)),
    )
  })
  log(`packaged in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return readTemplate(dir)
}

export function readTemplate(dir: string): CfnTemplate {
  return JSON.parse(readFileSync(join(dir, TEMPLATE_FILE), 'utf8')) as CfnTemplate
}

const functionOf = (logicalId: string) => {
  const name = /^(.+)LambdaFunction$/.exec(logicalId)?.[1] ?? logicalId
  return name.charAt(0).toLowerCase() + name.slice(1)
}

/** Lambda timeouts in seconds, by function name. */
export function functionTimeouts(template: CfnTemplate): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type === 'AWS::Lambda::Function' && id.endsWith('LambdaFunction')) {
      out[functionOf(id)] = Number(resource.Properties?.Timeout ?? 6)
    }
  }
  return out
}

function refTarget(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const ref = (value as { Ref?: string }).Ref
  const getAtt = (value as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']
  return ref ?? getAtt?.[0]
}

export function eventSourceMappings(template: CfnTemplate): EventSourceMappingSpec[] {
  const specs: EventSourceMappingSpec[] = []
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::EventSourceMapping') continue
    const props = resource.Properties ?? {}
    const target = refTarget(props.FunctionName)
    if (!target || !Array.isArray(props.Topics)) continue
    const kafkaConfig = props.AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId?: string } | undefined
    specs.push({
      functionName: functionOf(target),
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
