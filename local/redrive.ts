/**
 * Redrive: replays the batches an event source dead-lettered (the on-failure destination) into
 * the function that failed them, once the cause is fixed. Safe to run again and again: the sinks
 * are idempotent (OpenSearch by `_id` and bar revision, the raw zone by Kafka offset), and each
 * batch replayed in full gets a `redriven/` marker, so the next run skips it. A batch the
 * function still fails keeps no marker and is tried again next time.
 *
 * It reads both dead-letter formats (local/dead-letter.ts), whichever destination it is pointed
 * at: the local event source's and the invocation record Lambda writes to an S3 on-failure
 * destination. Any other object is reported as failed, with why.
 *
 *   tsx local/redrive.ts [--profile run|test] [--stage dev] [--dry-run] [--report redrive.json]
 *   tsx local/redrive.ts --aws --bucket <dead-letter bucket> [--stage dev] [--region us-east-1] [--dry-run]
 *   make redrive ARGS="--dry-run"
 *
 * With `--quarantine [--topic crypto.bars] [--reason schema_violation]` it replays the
 * quarantine instead (local/replay-quarantine.ts): read from the raw zone (`--bucket <raw
 * bucket>` on AWS), the same functions invoked the same way.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { LambdaClient } from '@aws-sdk/client-lambda'
import type { KafkaBatchResponse, MskEvent } from '../functions/shared/msk.ts'
import type { ObjectStore } from '../functions/shared/ports.ts'
import { type DeadLetteredBatch, parseDeadLetter } from './dead-letter.ts'
import { progressLog } from './progress-log.ts'
import { replayQuarantine } from './replay-quarantine.ts'
import type { CfnTemplate } from './runtime/cfn.ts'
import { toMskEvent } from './runtime/delivery.ts'

export const REDRIVEN_PREFIX = 'redriven/'

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

type Log = (line: string) => void
type CliValues = {
  aws: boolean
  quarantine: boolean
  topic?: string
  reason?: string
  bucket?: string
  region?: string
  profile?: string
  'dry-run': boolean
  report?: string
  stage: string
}

/** Where redrive reads and replays: the dead-letter store, the invoke port, what to stop after. */
interface Wiring {
  store: ObjectStore
  invoke: RedrivePorts['invoke']
  stop: () => Promise<void>
}

const noInvoke: RedrivePorts['invoke'] = async () => {
  throw new Error('no function is invoked in a dry run')
}

/** The deployed stage: its dead-letter bucket, its functions invoked through the Lambda API. */
async function awsWiring(
  values: CliValues,
  service: string,
  functionPrefix: string,
  log: Log,
): Promise<Wiring> {
  if (values.profile !== undefined)
    throw new Error('--profile is the local mode; --aws reads the deployed stage')
  const output = values.quarantine ? 'RawBucketName' : 'DeadLetterBucketName'
  if (!values.bucket)
    throw new Error(
      `--aws needs --bucket: the stack's ${output} output (aws cloudformation describe-stacks --stack-name ${service}-${values.stage} --query "Stacks[0].Outputs[?OutputKey=='${output}'].OutputValue" --output text)`,
    )
  const clientConfig = values.region ? { region: values.region } : {}
  const { S3Client } = await import('@aws-sdk/client-s3')
  const { s3ObjectStore } = await import('../functions/shared/adapters/object-store.ts')
  const store = s3ObjectStore(values.bucket, new S3Client(clientConfig))
  let invoke = noInvoke
  if (!values['dry-run']) {
    const { LambdaClient } = await import('@aws-sdk/client-lambda')
    invoke = lambdaInvoke(new LambdaClient(clientConfig), functionPrefix)
  }
  log(`reading s3://${values.bucket}; replaying into the deployed ${functionPrefix}* functions`)
  return { store, invoke, stop: async () => {} }
}

/** A local profile: its on-failure directory (or raw zone), its services started, the packaged functions in process. */
async function localWiring(values: CliValues, log: Log): Promise<Wiring> {
  const { isProfile, projectRoot, startServices } = await import('./services/index.ts')
  const profile = values.profile ?? 'run'
  if (!isProfile(profile)) throw new Error(`--profile: expected run or test, got ${profile}`)
  const { fileObjectStore } = await import('../functions/shared/adapters/object-store.ts')
  const { localPaths } = await import('./run.ts')
  const { localStandIns } = await import('./runtime/environment.ts')
  const paths = localPaths(profile)
  const store = fileObjectStore(values.quarantine ? paths.rawBucket : paths.onFailure)
  if (values['dry-run']) return { store, invoke: noInvoke, stop: async () => {} }
  if (!existsSync(paths.piiKey))
    throw new Error(`no PII key at ${paths.piiKey}: nothing was ever run on this profile`)
  const services = await startServices(profile, { log })
  const { packageService } = await import('./runtime/template.ts')
  const template = await packageService(projectRoot, join(paths.packageDir, values.stage), values.stage, log)
  // Each function cold-starts in the environment its packaged template gives it, as in make run.
  const standIns = localStandIns(services, paths, readFileSync(paths.piiKey, 'utf8').trim())
  return {
    store,
    invoke: await localInvoke(projectRoot, template, standIns),
    stop: () => services.stop(),
  }
}

/** Invokes a packaged function in this process, each loaded once, on its first dead letter. */
async function localInvoke(
  projectRoot: string,
  template: CfnTemplate,
  standIns: Record<string, string>,
): Promise<RedrivePorts['invoke']> {
  const { loadPackagedFunction } = await import('./runtime/environment.ts')
  const loaded = new Map<string, Awaited<ReturnType<typeof loadPackagedFunction>>>()
  return async (name, event) => {
    let fn = loaded.get(name)
    if (!fn) {
      fn = await loadPackagedFunction(template, name, standIns, projectRoot)
      loaded.set(name, fn)
    }
    return fn.invoke(event)
  }
}

async function deadLetterRedrive(ports: RedrivePorts, dryRun: boolean, functionPrefix: string) {
  const report = await redrive(ports, { dryRun, functionPrefix })
  ports.log(
    `${report.batches} dead-lettered batches (${report.records} records)${dryRun ? ' would be replayed' : `: ${report.replayed} replayed`}, ${report.failed.length} failed, ${report.already_redriven} replayed before`,
  )
  return report
}

async function quarantineReplay(ports: RedrivePorts, values: CliValues, dryRun: boolean) {
  const report = await replayQuarantine(ports, { dryRun, topic: values.topic, reason: values.reason })
  const skipped = Object.entries(report.not_replayable).map(([stage, n]) => `${n} from ${stage}`)
  ports.log(
    `${report.found} quarantined records: ${report.replayed} ${dryRun ? 'would be delivered again' : `delivered again, ${report.accepted} taken, ${report.still_rejected.length} rejected again`}, ${report.failed.length} failed, ${report.already_replayed} taken before${skipped.length > 0 ? `; not replayable (rejected before Kafka): ${skipped.join(', ')}` : ''}`,
  )
  for (const { key, reason, detail } of report.still_rejected)
    ports.log(`still rejected: ${key}: ${reason}: ${detail}`)
  return report
}

async function main(argv: string[]): Promise<number> {
  const { Command } = await import('commander')
  const { parseProfile } = await import('./profile-option.ts')
  const values = new Command()
    .name('redrive')
    .description(
      'Replay dead-lettered batches into the function that failed them, once the cause is fixed; ' +
        'with --quarantine, the quarantined consumer records instead. Idempotent: what was taken is marked.',
    )
    .option('--quarantine', 'replay the quarantine (raw zone) instead of the dead letters', false)
    .option(
      '--topic <topic>',
      'with --quarantine: only this topic (crypto.bars, crypto.trades, crypto.assets)',
    )
    .option('--reason <reason>', 'with --quarantine: only records quarantined for this reason')
    .option('--dry-run', 'count what would be replayed, invoke nothing', false)
    .option('--report <file>', 'write the report as JSON')
    .option('--aws', 'the deployed stage: read --bucket on S3, invoke the deployed functions', false)
    .option('--bucket <name>', 'with --aws: the dead-letter bucket (the raw bucket with --quarantine)')
    .option('--region <region>', 'with --aws: the AWS region (default: the usual chain)')
    .option('--stage <stage>', 'the stage whose functions are invoked', 'dev')
    .option('--profile <profile>', 'local: run (make run), test or chaos (default: run)', parseProfile)
    .showHelpAfterError()
    .parse(argv, { from: 'user' })
    .opts<CliValues & { dryRun: boolean }>()
  values['dry-run'] = values.dryRun
  const { projectRoot } = await import('./services/index.ts')
  const service = /^service:\s*(\S+)\s*$/m.exec(
    readFileSync(join(projectRoot, 'serverless.yml'), 'utf8'),
  )?.[1]
  if (!service) throw new Error('serverless.yml names no service')
  const functionPrefix = `${service}-${values.stage}-`
  const dryRun = values['dry-run'] === true
  const log = progressLog('redrive')
  const { store, invoke, stop } = values.aws
    ? await awsWiring(values, service, functionPrefix, log)
    : await localWiring(values, log)
  try {
    const report = values.quarantine
      ? await quarantineReplay({ store, invoke, log }, values, dryRun)
      : await deadLetterRedrive({ store, invoke, log }, dryRun, functionPrefix)
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
