/**
 * Functions as the integration tests load them: from the dev package made once for the run
 * (packaged-global-setup.ts), in the environment the packaged template gives each, with the
 * test's stand-ins on top. That is the path `make run` takes (local/runtime/environment.ts), so a
 * variable a function.yml adds reaches the tests as it reaches the deployed function.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { inject } from 'vitest'
import {
  functionSpec,
  loadPackagedFunction,
  localFunctionEnvironment,
  localStandIns,
} from '../../local/runtime/environment.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { type CfnTemplate, readTemplate } from '../../local/runtime/template.ts'
import { projectRoot } from '../../local/services/index.ts'
import { readZip } from './zip.ts'

const run = promisify(execFile)

let template: CfnTemplate | undefined

/** Cold-starts `name` with `standIns` over its packaged environment. */
export function loadTestFunction(name: string, standIns: Record<string, string>): Promise<LocalFunction> {
  template ??= readTemplate(inject('packagedDevDir'))
  return loadPackagedFunction(template, name, standIns, projectRoot)
}

/**
 * `make run`'s stand-ins for a test: the test profile's services, the test's buckets (a fresh
 * directory for one not given), a fixed PII key.
 */
export function testStandIns(
  services: { kafka: string; opensearch: string },
  buckets: { raw?: string; state?: string } = {},
): Record<string, string> {
  const bucket = (given: string | undefined, name: string) =>
    given ?? mkdtempSync(join(tmpdir(), `test-${name}-`))
  return localStandIns(
    services,
    { rawBucket: bucket(buckets.raw, 'raw'), stateBucket: bucket(buckets.state, 'state') },
    'b'.repeat(64),
  )
}

/** The marker before an invocation's result on the bundle process's stdout (after its logs). */
const RESULT_MARKER = '@@invocation-result@@'

/**
 * Runs one invocation in a fresh Node process, as the handler sits in the entry module it
 * exports from, and prints the result (or the error) after {@link RESULT_MARKER}.
 */
const INVOKE_SCRIPT = `
const [file, exportName, eventJson, timeoutMs] = process.argv.slice(1)
const started = Date.now()
const context = {
  functionName: 'bundle', functionVersion: '$LATEST', awsRequestId: crypto.randomUUID(),
  invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:bundle', memoryLimitInMB: '512',
  logGroupName: '/aws/lambda/bundle', logStreamName: 'local', callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => Number(timeoutMs) - (Date.now() - started),
}
const module = await import(file)
let outcome
try {
  outcome = { result: await module[exportName](JSON.parse(eventJson), context) }
} catch (error) {
  outcome = { error: String(error?.stack ?? error) }
}
process.stdout.write('\\n${RESULT_MARKER}' + JSON.stringify(outcome ?? {}) + '\\n')
process.exit(0)
`

/**
 * The function as deployed: its packaged zip (the esbuild bundle, with the modules the build
 * stubs out) unpacked inside the project, so the AWS SDK resolves from node_modules as the
 * runtime provides it; each invocation a cold start in a process of its own, in the packaged
 * environment with `standIns` on top.
 */
export async function loadTestBundle(
  name: string,
  standIns: Record<string, string>,
): Promise<{ invoke(event: unknown): Promise<unknown> }> {
  const dir = inject('packagedDevDir')
  template ??= readTemplate(dir)
  const spec = functionSpec(template, name)
  const properties = template.Resources[spec.logicalId]?.Properties as {
    Handler: string
    Code: { S3Key: string }
  }
  const root = join(projectRoot, '.local', 'test', 'bundles', name)
  rmSync(root, { recursive: true, force: true })
  for (const [entry, data] of readZip(readFileSync(join(dir, basename(properties.Code.S3Key))))) {
    mkdirSync(dirname(join(root, entry)), { recursive: true })
    writeFileSync(join(root, entry), data)
  }
  const dot = properties.Handler.lastIndexOf('.')
  const file = pathToFileURL(join(root, `${properties.Handler.slice(0, dot)}.mjs`)).href
  const env = {
    PATH: process.env.PATH,
    AWS_REGION: 'local',
    ...localFunctionEnvironment(template, name, standIns),
  }
  return {
    async invoke(event) {
      const args = [
        file,
        properties.Handler.slice(dot + 1),
        JSON.stringify(event),
        String(spec.timeoutSeconds * 1000),
      ]
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', INVOKE_SCRIPT, ...args], {
        env,
        timeout: spec.timeoutSeconds * 1000,
        maxBuffer: 16 * 1024 * 1024,
      })
      const outcome = JSON.parse(stdout.slice(stdout.lastIndexOf(RESULT_MARKER) + RESULT_MARKER.length)) as {
        result?: unknown
        error?: string
      }
      if (outcome.error !== undefined) throw new Error(`${name} bundle: ${outcome.error}`)
      return outcome.result
    },
  }
}
