/**
 * Runs the state machines of `state-machines/*.asl.yml` locally with `aws-local-stepfunctions`:
 * the same definitions, with their CloudFormation references replaced by local stand-ins and
 * their service integrations by local handlers:
 *   - `arn:aws:states:::emr-serverless:startJobRun.sync` -> local spark-submit (local/lake/emr.ts)
 *   - `arn:aws:states:::sns:publish`                    -> a line in `.local/<profile>/notifications.log`
 *   - `arn:aws:states:::aws-sdk:s3:putObject`           -> a file in the bucket's local directory
 *   - a Lambda function ARN                             -> the function's real handler (local/runtime/lambda.ts)
 *   - `arn:aws:states:::states:startExecution.sync:2`  -> the named definition, run here to its end
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type RunOptions, StateMachine } from 'aws-local-stepfunctions'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { getAttOf, parseCfnYaml, refOf, substitute } from '../runtime/cfn.ts'
import { handlerPath, type LocalFunction, loadFunction } from '../runtime/lambda.ts'
import { localPaths } from '../runtime/paths.ts'
import { type Profile, projectRoot } from '../services/paths.ts'
import { type LocalEmrOptions, localEmr } from './emr.ts'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Values of the CloudFormation references a definition uses: `Ref` by name, `GetAtt` by `Name.Attr`. */
export type LocalReferences = Record<string, string>

function lookup(name: string, refs: LocalReferences): string {
  const value = refs[name]
  if (value === undefined) throw new Error(`no local value for the CloudFormation reference ${name}`)
  return value
}

/** Replaces `Ref`, `Fn::GetAtt` and `Fn::Sub` (string form) with their local values. */
export function resolveReferences(node: unknown, refs: LocalReferences): Json {
  if (Array.isArray(node)) return node.map((item) => resolveReferences(item, refs))
  if (node !== null && typeof node === 'object') {
    const object = node as Record<string, unknown>
    const keys = Object.keys(object)
    if (keys.length === 1) {
      const ref = refOf(object)
      if (ref !== undefined) return lookup(ref, refs)
      const getAtt = getAttOf(object)
      if (getAtt) return lookup(getAtt.join('.'), refs)
      if (keys[0] === 'Fn::Sub') return substitute(String(object['Fn::Sub']), (name) => lookup(name, refs))
    }
    return Object.fromEntries(
      Object.entries(object).map(([key, value]) => [key, resolveReferences(value, refs)]),
    )
  }
  return node as Json
}

/** Reads a definition as serverless-step-functions would see it, with CloudFormation tags kept as objects. */
export function readDefinition(path: string): unknown {
  return parseCfnYaml(readFileSync(path, 'utf8'))
}

export function loadDefinition(path: string, refs: LocalReferences) {
  return resolveReferences(readDefinition(path), refs) as {
    States: Record<string, { Type: string; Resource?: string }>
  }
}

export interface LocalLake {
  /** Directory the code bucket maps to (the repository root; contracts from tests/fixtures). */
  root: string
  rawDir: string
  lakeDir: string
  piiKeyFile: string
  notificationsLog: string
  logDir: string
  /**
   * Loads a Task's Lambda function; `make run` gives each the environment of the packaged template
   * (local/runtime/environment.ts). Without it, the function's timeout comes from its function.yml
   * and its environment from this process's, with RAW_DIR set to this lake's raw bucket.
   */
  loadFunction?: (name: string) => Promise<LocalFunction>
}

/** The local lake of a profile: everything under `.local/<profile>/` (local/runtime/paths.ts). */
export function localLake(profile: Profile, overrides: Partial<LocalLake> = {}): LocalLake {
  const paths = localPaths(profile)
  return {
    root: projectRoot,
    rawDir: paths.rawBucket,
    lakeDir: paths.lake,
    piiKeyFile: paths.piiKey,
    notificationsLog: paths.notificationsLog,
    logDir: paths.emrLogs,
    ...overrides,
  }
}

/** Local bucket names and ARNs for the references in the definitions. */
export const LOCAL_REFERENCES: LocalReferences = {
  'LakeWindowLambdaFunction.Arn': 'arn:aws:lambda:us-east-1:000000000000:function:lakeWindow',
  'LakeSparkApplication.ApplicationId': 'local-lake',
  'LakeJobRole.Arn': 'arn:aws:iam::000000000000:role/local-lake-job',
  LakeCodeBucket: 'local-code',
  RawBucket: 'local-raw',
  LakeBucket: 'local-lake',
  PiiHmacSecret: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:local-pii',
  AlarmTopic: 'arn:aws:sns:us-east-1:000000000000:local-alarms',
  'BackfillBarsLambdaFunction.Arn': 'arn:aws:lambda:us-east-1:000000000000:function:backfillBars',
  // A state machine's Ref is its ARN; the name after `stateMachine:` is its definition's file.
  LakeRefreshStateMachine: 'arn:aws:states:us-east-1:000000000000:stateMachine:lake-refresh',
}

/** A function's `timeout` from its functions/<name>/function.yml (the packaged value), 30 s when it has none. */
function functionTimeoutSeconds(name: string): number {
  const path = join(dirname(handlerPath(projectRoot, name)), 'function.yml')
  const declared = (readDefinition(path) as Record<string, { timeout?: unknown }>)[name]?.timeout
  return typeof declared === 'number' ? declared : 30
}

export function emrOptions(lake: LocalLake): LocalEmrOptions {
  return {
    s3: [
      ['s3://local-code/', `${lake.root}/`],
      ['s3://local-raw/', `${lake.rawDir}/`],
    ],
    rawDir: lake.rawDir,
    lakeDir: lake.lakeDir,
    piiKeyFile: lake.piiKeyFile,
    logDir: lake.logDir,
  }
}

export interface Notification {
  at: string
  topicArn: string
  subject?: string
  message: string
}

function publishLocally(path: string) {
  return (input: unknown) => {
    const { TopicArn, Subject, Message } = input as { TopicArn: string; Subject?: string; Message: string }
    const line: Notification = {
      at: new Date().toISOString(),
      topicArn: TopicArn,
      subject: Subject,
      message: Message,
    }
    mkdirSync(dirname(path), { recursive: true })
    appendFileSync(path, `${JSON.stringify(line)}\n`)
    return { MessageId: `local-${Date.now()}` }
  }
}

export type Handler = (input: unknown) => Promise<unknown> | unknown

interface LocalState {
  Type: string
  Resource?: string
  ItemProcessor?: { States: Record<string, LocalState> }
  Iterator?: { States: Record<string, LocalState> }
}

/** Every Task state with a Resource, those inside Map processors included, by name. */
function tasksOf(definition: {
  States: Record<string, LocalState>
}): Array<[string, LocalState & { Resource: string }]> {
  const found: Array<[string, LocalState & { Resource: string }]> = []
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type === 'Task' && state.Resource)
      found.push([name, state as LocalState & { Resource: string }])
    const nested = state.ItemProcessor ?? state.Iterator
    if (nested) found.push(...tasksOf(nested))
  }
  return found
}

/**
 * `startExecution.sync:2`: the child definition (the name after `stateMachine:` in its ARN) run
 * here to its end, answering as Step Functions does: the execution's description, its output
 * parsed; a failed child fails the Task with the child's error.
 */
function startExecutionLocally(lake: LocalLake): Handler {
  return async (input) => {
    const { StateMachineArn, Input } = input as { StateMachineArn: string; Input?: Json }
    const name = StateMachineArn.split(':').pop() ?? ''
    const result = await runStateMachine(name, Input ?? {}, lake)
    if (result.status === 'FAILED')
      throw Object.assign(new Error(result.error?.message ?? `${name} failed`), { name: 'States.TaskFailed' })
    return { StateMachineArn, Status: 'SUCCEEDED', Output: result.output ?? null }
  }
}

/** `s3:putObject` into the local directory of the bucket it names (the raw bucket only). */
function putObjectLocally(buckets: Record<string, string>): Handler {
  return async (input) => {
    const { Bucket, Key, Body } = input as { Bucket: string; Key: string; Body: string }
    const dir = buckets[Bucket]
    if (!dir)
      throw Object.assign(new Error(`no local directory for bucket ${Bucket}`), { name: 'S3.NoSuchBucket' })
    await fileObjectStore(dir).put(Key, Body)
    return { ETag: `"local-${Date.now()}"` }
  }
}

/**
 * The functions read their configuration once, at import: lake-window lists the raw bucket that
 * RAW_DIR names. Set it to the lake's raw dir unless it is set already, and refuse another one
 * (the module would keep reading the first).
 */
function useRawDir(rawDir: string) {
  if (process.env.RAW_BUCKET) return
  if (process.env.RAW_DIR === undefined) process.env.RAW_DIR = rawDir
  else if (process.env.RAW_DIR !== rawDir)
    throw new Error(`RAW_DIR is ${process.env.RAW_DIR}, this lake's raw bucket is ${rawDir}: one per process`)
}

/** A Task's function without a packaged template: see {@link LocalLake.loadFunction}. */
function loadFromSources(lake: LocalLake) {
  return (name: string) => {
    useRawDir(lake.rawDir)
    return loadFunction(projectRoot, name, functionTimeoutSeconds(name))
  }
}

/** The local handler of every Task state, chosen by its Resource. */
export async function localHandlers(
  definition: { States: Record<string, LocalState> },
  lake: LocalLake,
  given: Record<string, Handler> = {},
): Promise<Record<string, Handler>> {
  const handlers: Record<string, Handler> = {}
  const emr = localEmr(emrOptions(lake))
  const sns = publishLocally(lake.notificationsLog)
  for (const [name, state] of tasksOf(definition)) {
    if (given[name]) continue
    if (state.Resource === 'arn:aws:states:::emr-serverless:startJobRun.sync') handlers[name] = emr
    else if (state.Resource === 'arn:aws:states:::sns:publish') handlers[name] = sns
    else if (state.Resource === 'arn:aws:states:::aws-sdk:s3:putObject')
      handlers[name] = putObjectLocally({ [LOCAL_REFERENCES.RawBucket ?? '']: lake.rawDir })
    else if (state.Resource === 'arn:aws:states:::states:startExecution.sync:2')
      handlers[name] = startExecutionLocally(lake)
    else if (state.Resource.startsWith('arn:aws:lambda:')) {
      const fn = await (lake.loadFunction ?? loadFromSources(lake))(state.Resource.split(':').pop() ?? '')
      handlers[name] = (input) => fn.invoke(input)
    } else throw new Error(`state ${name}: no local handler for ${state.Resource}`)
  }
  return handlers
}

export interface RunResult {
  status: 'SUCCEEDED' | 'FAILED'
  output?: unknown
  error?: { name: string; message: string }
  /** Names of the states entered, in order; a retry adds `<state>:retry`. */
  states: string[]
}

/**
 * Runs `state-machines/<name>.asl.yml` with `input`; retry waits are shortened to
 * `retryDelayMs` (the definitions wait minutes). `$$.State.RetryCount` is not tracked by the
 * local runner: it reads 0 on every attempt (the local EMR forgets the client token of a failed
 * job run, so the retry runs anew as on AWS).
 */
export async function runStateMachine(
  name: string,
  input: Json,
  lake: LocalLake,
  options: {
    retryDelayMs?: number
    /** Stand-ins for some Task states, by state name (tests of the definition's control flow). */
    handlers?: Record<string, Handler>
    /** Told every Task's output as it succeeds, by state name (progress of a long execution). */
    onTaskOutput?: (state: string, output: unknown) => void
    /** Aborts the execution (`make backfill` stopped halfway, in tests). */
    signal?: AbortSignal
  } = {},
): Promise<RunResult> {
  const definition = loadDefinition(join(projectRoot, 'state-machines', `${name}.asl.yml`), LOCAL_REFERENCES)
  const given = { ...(await localHandlers(definition, lake, options.handlers)), ...options.handlers }
  const { onTaskOutput, signal } = options
  // As after StopExecution on AWS: a Task in flight runs to its end, no Task starts any more
  // (the local runtime's abort alone would let a Map go on with its next items).
  const handlers = Object.fromEntries(
    Object.entries(given).map(([state, handler]): [string, Handler] => [
      state,
      async (input) => {
        if (signal?.aborted) throw Object.assign(new Error('execution stopped'), { name: 'States.Aborted' })
        const output = await handler(input)
        onTaskOutput?.(state, output)
        return output
      },
    ]),
  )
  const retryable = Object.entries(definition.States)
    .filter(([, state]) => 'Retry' in (state as object))
    .map(([state]) => state)
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: false } })
  const runOptions: RunOptions = {
    overrides: {
      taskResourceLocalHandlers: handlers as never,
      retryIntervalOverrides: Object.fromEntries(
        retryable.map((state) => [state, options.retryDelayMs ?? 0]),
      ),
    },
    context: { State: { RetryCount: 0 } },
  }
  const execution = machine.run(input, runOptions)
  if (signal?.aborted) execution.abort()
  signal?.addEventListener('abort', () => execution.abort(), { once: true })
  const states: string[] = []
  const collect = (async () => {
    for await (const event of execution.eventLogs) {
      // A retry stays inside its state (no new StateEntered): it is listed as `<state>:retry`.
      if (event.type === 'StateEntered') states.push((event as { state: { name: string } }).state.name)
      if (event.type === 'StateRetried')
        states.push(`${(event as { state: { name: string } }).state.name}:retry`)
    }
  })()
  try {
    const output = await execution.result
    await collect
    return { status: 'SUCCEEDED', output, states }
  } catch (error) {
    await collect.catch(() => undefined)
    const e = error as Error & { cause?: { name?: string; message?: string } }
    return {
      status: 'FAILED',
      error: { name: e.cause?.name ?? e.name, message: e.cause?.message ?? e.message },
      states,
    }
  }
}
