/**
 * Redrive: replays the batches an event source dead-lettered (the on-failure destination) into
 * the function that failed them, once the cause is fixed. Safe to run again and again: the sinks
 * are idempotent (OpenSearch by `_id` and bar revision, the raw zone by Kafka offset), and each
 * batch replayed in full gets a `redriven/` marker, so the next run skips it. A batch the
 * function still fails keeps no marker and is tried again next time.
 *
 * It reads both dead-letter formats, whichever destination it is pointed at: the local event
 * source's `<function>/<topic>-<partition>-<offset>.json` (`{reason, records}`, local/run.ts) and
 * the invocation record Lambda writes to an S3 on-failure destination for a Kafka event source
 * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html; a sample, modeled on that
 * page, in tests/fixtures/aws-on-failure/). Any other object is reported as failed, with why.
 *
 *   tsx local/redrive.ts [--profile run|test] [--stage dev] [--dry-run] [--report redrive.json]
 *   tsx local/redrive.ts --aws --bucket <dead-letter bucket> [--stage dev] [--region us-east-1] [--dry-run]
 *   make redrive ARGS="--dry-run"
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { LambdaClient } from '@aws-sdk/client-lambda'
import { z } from 'zod'
import type { KafkaBatchResponse, MskEvent, MskRecord } from '../functions/shared/msk.ts'
import type { ObjectStore } from '../functions/shared/ports.ts'
import { toMskEvent } from './runtime/delivery.ts'

export const REDRIVEN_PREFIX = 'redriven/'

/** A record exactly as Lambda delivers it; fields this schema does not name are kept, not dropped. */
const MskRecordSchema = z.looseObject({
  topic: z.string().min(1),
  partition: z.int().nonnegative(),
  offset: z.int().nonnegative(),
  timestamp: z.number(),
  timestampType: z.enum(['CREATE_TIME', 'LOG_APPEND_TIME']),
  key: z.string().optional(),
  value: z.string().nullable(),
  headers: z.array(z.record(z.string(), z.array(z.int()))),
})

const MskEventSchema = z.looseObject({
  eventSource: z.literal('aws:kafka'),
  eventSourceArn: z.string().min(1),
  bootstrapServers: z.string(),
  records: z.record(z.string(), z.array(MskRecordSchema)),
})

/** What the local event source writes to `<function>/<topic>-<partition>-<offset>.json` (local/run.ts). */
const LocalFailedBatchSchema = z.object({
  reason: z.string(),
  records: z.array(MskRecordSchema),
})

/** The documented form of `payload` is an escaped JSON string: parsed here, then checked. */
const jsonText = (value: unknown, ctx: z.core.$RefinementCtx) => {
  if (typeof value !== 'string') return value
  try {
    return JSON.parse(value) as unknown
  } catch {
    ctx.addIssue({ code: 'custom', message: 'a string that is not JSON' })
    return z.NEVER
  }
}

/**
 * Lambda's invocation record for a Kafka batch it gave up on, as written to an S3 on-failure
 * destination (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html, "S3
 * destination example invocation record"). Only what a replay needs is required; the other
 * documented fields are optional, so a change in them cannot block a redrive. The documented
 * `payload` is the whole original event "as an escaped JSON string"; an already parsed object
 * (the form a Kafka-topic destination carries) is read too.
 */
export const KafkaOnFailureRecordSchema = z.object({
  version: z.string().optional(),
  timestamp: z.string().optional(),
  requestContext: z.object({
    requestId: z.string().optional(),
    /** `arn:aws:lambda:<region>:<account>:function:<name>`, possibly with a `:<qualifier>`. */
    functionArn: z.string().regex(/:function:[^:]+(:[^:]+)?$/, 'expected a Lambda function ARN'),
    /** `RetryAttemptsExhausted` or `MaximumPayloadSizeExceeded`, as documented. */
    condition: z.string(),
    approximateInvokeCount: z.int().optional(),
  }),
  /** Null for `MaximumPayloadSizeExceeded`: the function was never invoked. */
  responseContext: z
    .object({
      statusCode: z.int().optional(),
      executedVersion: z.string().optional(),
      functionError: z.string().optional(),
    })
    .nullish(),
  KafkaBatchInfo: z.object({
    batchSize: z.int().optional(),
    eventSourceArn: z.string().optional(),
    bootstrapServers: z.string().optional(),
    payloadSize: z.int().optional(),
    /** Keyed `<topic>-<partition>`; offsets are strings. */
    recordsInfo: z
      .record(
        z.string(),
        z.object({
          firstRecordOffset: z.string(),
          lastRecordOffset: z.string(),
          firstRecordTimestamp: z.string(),
          lastRecordTimestamp: z.string(),
        }),
      )
      .optional(),
  }),
  payload: z.preprocess(jsonText, MskEventSchema),
})

/** One dead-lettered batch, whichever destination wrote it. */
export interface DeadLetteredBatch {
  /** The function's key in serverless.yml (`indexEvents`), as the local runtime and the report name it. */
  functionName: string
  records: MskRecord[]
  reason: string
  /** The event source the records came from, when the dead letter names it (Lambda's does). */
  source?: { eventSourceArn: string; bootstrapServers: string }
}

/** The event source a replay of a local dead letter claims (the local format does not record one). */
const LOCAL_SOURCE = {
  eventSourceArn: 'arn:aws:kafka:local:000000000000:cluster/local/redrive',
  bootstrapServers: 'redrive',
}

export interface RedriveReport {
  dry_run: boolean
  /** Dead-lettered batches found (without a `redriven/` marker). */
  batches: number
  records: number
  /** Batches the function took in full this time (now marked). */
  replayed: number
  /** Batches the function still failed (left for the next run), and objects that are no dead letter, with why. */
  failed: Array<{ key: string; error: string }>
  /** Batches already replayed by an earlier run. */
  already_redriven: number
  by_function: Record<string, { batches: number; records: number; replayed: number }>
}

export interface RedrivePorts {
  /** The on-failure destination. */
  store: ObjectStore
  /** Invokes the function of that name with an MSK event, as the event source would. */
  invoke(functionName: string, event: MskEvent): Promise<KafkaBatchResponse | undefined | null | unknown>
  log(line: string): void
  now?: () => Date
}

export interface RedriveOptions {
  dryRun: boolean
  /**
   * What the deployed functions' names start with (`crypto-data-lake-dev-`: serverless names
   * them `<service>-<stage>-<key>`). Lambda's invocation record names the deployed function;
   * without the prefix it counts as another stage's or service's and is not replayed. Unset:
   * the deployed name is taken as it is.
   */
  functionPrefix?: string
}

const issuesOf = (error: z.ZodError) =>
  error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')

/**
 * The dead-lettered batch in one object of the on-failure destination, or why it is none. The
 * local format names its function in the key (`<function>/...`); Lambda's record names it in
 * `requestContext.functionArn`, and its records are the original event's, all partitions in one.
 */
export function parseDeadLetter(
  key: string,
  body: Uint8Array,
  functionPrefix = '',
): { batch: DeadLetteredBatch } | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(body))
  } catch (error) {
    return { error: `not JSON (${(error as Error).message})` }
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    ('requestContext' in value || 'KafkaBatchInfo' in value)
  ) {
    const parsed = KafkaOnFailureRecordSchema.safeParse(value)
    if (!parsed.success)
      return { error: `not a Kafka on-failure invocation record of Lambda: ${issuesOf(parsed.error)}` }
    const { requestContext, responseContext, payload } = parsed.data
    // The regex of the schema guarantees the match: `<name>` after `:function:`, no qualifier.
    const deployed = /:function:([^:]+)/.exec(requestContext.functionArn)?.[1] ?? ''
    if (!deployed.startsWith(functionPrefix))
      return { error: `function ${deployed} is not one of ${functionPrefix}*: another stage's or service's` }
    const records: MskRecord[] = Object.values(payload.records).flat()
    if (records.length === 0) return { error: 'the invocation record carries no records' }
    const invocations = requestContext.approximateInvokeCount
    const functionError = responseContext?.functionError
    return {
      batch: {
        functionName: deployed.slice(functionPrefix.length),
        records,
        reason: [
          requestContext.condition,
          invocations === undefined ? '' : ` after ${invocations} invocations`,
          functionError ? `, ${functionError} function error` : '',
        ].join(''),
        source: { eventSourceArn: payload.eventSourceArn, bootstrapServers: payload.bootstrapServers },
      },
    }
  }
  const local = LocalFailedBatchSchema.safeParse(value)
  if (!local.success)
    return {
      error: `neither a dead letter of the local event source ({reason, records}) nor Lambda's Kafka invocation record: ${issuesOf(local.error)}`,
    }
  const functionName = key.includes('/') ? key.slice(0, key.indexOf('/')) : ''
  if (!functionName) return { error: 'a local dead letter outside a <function>/ folder' }
  if (local.data.records.length === 0) return { error: 'the dead letter carries no records' }
  return { batch: { functionName, records: local.data.records, reason: local.data.reason } }
}

/**
 * Replays every dead-lettered batch not replayed yet (`dryRun`: only counts them). A batch counts
 * as replayed when the function neither throws nor reports a batch item failure.
 */
export async function redrive(ports: RedrivePorts, options: RedriveOptions): Promise<RedriveReport> {
  const now = ports.now ?? (() => new Date())
  const report: RedriveReport = {
    dry_run: options.dryRun,
    batches: 0,
    records: 0,
    replayed: 0,
    failed: [],
    already_redriven: 0,
    by_function: {},
  }
  const keys = await ports.store.list('')
  const redriven = new Set(
    keys.filter((key) => key.startsWith(REDRIVEN_PREFIX)).map((key) => key.slice(REDRIVEN_PREFIX.length)),
  )
  for (const key of keys) {
    if (key.startsWith(REDRIVEN_PREFIX)) continue
    if (redriven.has(key)) {
      report.already_redriven++
      continue
    }
    const body = await ports.store.get(key)
    const parsed =
      body === undefined
        ? { error: 'gone between the listing and the read' }
        : parseDeadLetter(key, body, options.functionPrefix)
    if ('error' in parsed) {
      report.failed.push({ key, error: parsed.error })
      ports.log(`${key}: ${parsed.error}`)
      continue
    }
    const { batch } = parsed
    const stats = report.by_function[batch.functionName] ?? { batches: 0, records: 0, replayed: 0 }
    report.by_function[batch.functionName] = stats
    report.batches++
    report.records += batch.records.length
    stats.batches++
    stats.records += batch.records.length
    if (options.dryRun) {
      ports.log(
        `${key}: would replay ${batch.records.length} records into ${batch.functionName} (${batch.reason})`,
      )
      continue
    }
    const error = await replay(ports, batch)
    if (error !== undefined) {
      report.failed.push({ key, error })
      ports.log(`${key}: still failing in ${batch.functionName}: ${error}`)
      continue
    }
    await ports.store.put(
      `${REDRIVEN_PREFIX}${key}`,
      `${JSON.stringify({ redriven_at: now().toISOString(), records: batch.records.length })}\n`,
      'application/json',
    )
    report.replayed++
    stats.replayed++
    ports.log(`${key}: ${batch.records.length} records replayed into ${batch.functionName}`)
  }
  return report
}

/** Undefined when the function took every record; otherwise why not. */
async function replay(ports: RedrivePorts, batch: DeadLetteredBatch): Promise<string | undefined> {
  const event = toMskEvent(batch.records, batch.source ?? LOCAL_SOURCE)
  try {
    const response = (await ports.invoke(batch.functionName, event)) as KafkaBatchResponse | undefined | null
    const failures = response?.batchItemFailures ?? []
    return failures.length === 0 ? undefined : `${failures.length} batch item failures`
  } catch (error) {
    return (error as Error).message
  }
}

/**
 * The invoke port on AWS: the deployed function (`<functionPrefix><key>`), invoked as its event
 * source mapping invokes it, synchronously with the MSK event. A `FunctionError` (the handler
 * threw, or the invocation timed out) is a failure, as it is for the mapping; otherwise the
 * response is the function's batch response. The SDK is loaded here, not by the module, so the
 * core stays free of it.
 */
export function lambdaInvoke(client: LambdaClient, functionPrefix: string): RedrivePorts['invoke'] {
  return async (functionName, event) => {
    const { InvokeCommand } = await import('@aws-sdk/client-lambda')
    const deployed = `${functionPrefix}${functionName}`
    const out = await client.send(
      new InvokeCommand({
        FunctionName: deployed,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(event)),
      }),
    )
    const text = out.Payload === undefined ? '' : new TextDecoder().decode(out.Payload)
    if (out.FunctionError)
      throw new Error(`${deployed}: ${out.FunctionError} error: ${functionErrorOf(text)}`)
    return text === '' ? undefined : (JSON.parse(text) as unknown)
  }
}

/** `{errorType, errorMessage}` as the Node.js runtime reports a thrown error; anything else as it came. */
function functionErrorOf(text: string): string {
  try {
    const { errorType, errorMessage } = JSON.parse(text) as { errorType?: unknown; errorMessage?: unknown }
    if (typeof errorMessage === 'string')
      return typeof errorType === 'string' ? `${errorType}: ${errorMessage}` : errorMessage
  } catch {
    // Not JSON: reported as it is below.
  }
  return text.slice(0, 500)
}

async function main(argv: string[]): Promise<number> {
  const { parseArgs } = await import('node:util')
  const { values } = parseArgs({
    args: argv,
    options: {
      aws: { type: 'boolean', default: false },
      bucket: { type: 'string' },
      region: { type: 'string' },
      profile: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      report: { type: 'string' },
      stage: { type: 'string', default: 'dev' },
    },
  })
  const { isProfile, projectRoot, startServices } = await import('./services/index.ts')
  const stage = values.stage as string
  const service = /^service:\s*(\S+)\s*$/m.exec(
    readFileSync(join(projectRoot, 'serverless.yml'), 'utf8'),
  )?.[1]
  if (!service) throw new Error('serverless.yml names no service')
  const functionPrefix = `${service}-${stage}-`
  const dryRun = values['dry-run'] === true
  const log = (line: string) =>
    process.stderr.write(`[redrive ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
  let store: ObjectStore
  let stop = async () => {}
  let invoke: RedrivePorts['invoke'] = async () => {
    throw new Error('no function is invoked in a dry run')
  }
  if (values.aws) {
    if (values.profile !== undefined)
      throw new Error('--profile is the local mode; --aws reads the deployed stage')
    if (!values.bucket)
      throw new Error(
        `--aws needs --bucket: the stack's DeadLetterBucketName output (aws cloudformation describe-stacks --stack-name ${service}-${stage} --query "Stacks[0].Outputs[?OutputKey=='DeadLetterBucketName'].OutputValue" --output text)`,
      )
    const clientConfig = values.region ? { region: values.region } : {}
    const { S3Client } = await import('@aws-sdk/client-s3')
    const { s3ObjectStore } = await import('../functions/shared/adapters/object-store.ts')
    store = s3ObjectStore(values.bucket, new S3Client(clientConfig))
    if (!dryRun) {
      const { LambdaClient } = await import('@aws-sdk/client-lambda')
      invoke = lambdaInvoke(new LambdaClient(clientConfig), functionPrefix)
    }
    log(`reading s3://${values.bucket}; replaying into the deployed ${functionPrefix}* functions`)
  } else {
    const profile = values.profile ?? 'run'
    if (!isProfile(profile)) throw new Error(`--profile: expected run or test, got ${profile}`)
    const { fileObjectStore } = await import('../functions/shared/adapters/object-store.ts')
    const { localFunctionEnv, localPaths } = await import('./run.ts')
    const paths = localPaths(profile)
    store = fileObjectStore(paths.onFailure)
    if (!dryRun) {
      if (!existsSync(paths.piiKey))
        throw new Error(`no PII key at ${paths.piiKey}: nothing was ever run on this profile`)
      const services = await startServices(profile, { log })
      stop = () => services.stop()
      // The functions read their configuration at cold start, as in make run (local/run.ts).
      Object.assign(process.env, localFunctionEnv(services, paths, readFileSync(paths.piiKey, 'utf8').trim()))
      const { functionTimeouts, packageService } = await import('./runtime/template.ts')
      const { loadFunction } = await import('./runtime/lambda.ts')
      const template = await packageService(projectRoot, join(paths.packageDir, stage), stage, log)
      const timeouts = functionTimeouts(template)
      const loaded = new Map<string, Awaited<ReturnType<typeof loadFunction>>>()
      invoke = async (name, event) => {
        let fn = loaded.get(name)
        if (!fn) {
          const timeout = timeouts[name]
          if (timeout === undefined) throw new Error(`no function ${name} in the packaged template`)
          fn = await loadFunction(projectRoot, name, timeout)
          loaded.set(name, fn)
        }
        return fn.invoke(event)
      }
    }
  }
  try {
    const report = await redrive({ store, invoke, log }, { dryRun, functionPrefix })
    log(
      `${report.batches} dead-lettered batches (${report.records} records)${dryRun ? ' would be replayed' : `: ${report.replayed} replayed`}, ${report.failed.length} failed, ${report.already_redriven} replayed before`,
    )
    if (values.report) writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`)
    return report.failed.length === 0 ? 0 : 1
  } finally {
    await stop()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`[redrive] ${error.message}\n`)
      process.exit(1)
    },
  )
}
