/**
 * Redrive: replays the batches an event source dead-lettered (the on-failure destination) into
 * the function that failed them, once the cause is fixed. Safe to run again and again: the sinks
 * are idempotent (OpenSearch by `_id` and bar revision, the raw zone by Kafka offset), and each
 * batch replayed in full gets a `redriven/` marker, so the next run skips it. A batch the
 * function still fails keeps no marker and is tried again next time.
 *
 *   tsx local/redrive.ts [--profile run|test] [--dry-run] [--report redrive.json]
 *   make redrive ARGS="--dry-run"
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { KafkaBatchResponse, MskEvent, MskRecord } from '../functions/shared/msk.ts'
import type { ObjectStore } from '../functions/shared/object-store.ts'
import { toMskEvent } from './event-source/delivery.ts'

export const REDRIVEN_PREFIX = 'redriven/'

/** One dead-lettered batch as the local event source writes it: `<function>/<topic>-<partition>-<offset>.json`. */
interface FailedBatch {
  reason: string
  records: MskRecord[]
}

export interface RedriveReport {
  dry_run: boolean
  /** Dead-lettered batches found (without a `redriven/` marker). */
  batches: number
  records: number
  /** Batches the function took in full this time (now marked). */
  replayed: number
  /** Batches the function still failed (left for the next run), with why. */
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

const isBatch = (value: unknown): value is FailedBatch =>
  typeof value === 'object' &&
  value !== null &&
  Array.isArray((value as FailedBatch).records) &&
  typeof (value as FailedBatch).reason === 'string'

/**
 * Replays every dead-lettered batch not replayed yet (`dryRun`: only counts them). A batch counts
 * as replayed when the function neither throws nor reports a batch item failure.
 */
export async function redrive(ports: RedrivePorts, options: { dryRun: boolean }): Promise<RedriveReport> {
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
    if (key.startsWith(REDRIVEN_PREFIX) || !key.endsWith('.json')) continue
    if (redriven.has(key)) {
      report.already_redriven++
      continue
    }
    const functionName = key.slice(0, key.indexOf('/'))
    const body = await ports.store.get(key)
    const batch: unknown = body === undefined ? undefined : JSON.parse(new TextDecoder().decode(body))
    if (!functionName || !isBatch(batch)) {
      report.failed.push({ key, error: 'not a dead-lettered batch of the local event source' })
      continue
    }
    const stats = report.by_function[functionName] ?? { batches: 0, records: 0, replayed: 0 }
    report.by_function[functionName] = stats
    report.batches++
    report.records += batch.records.length
    stats.batches++
    stats.records += batch.records.length
    if (options.dryRun) {
      ports.log(`${key}: would replay ${batch.records.length} records into ${functionName} (${batch.reason})`)
      continue
    }
    const error = await replay(ports, functionName, batch.records)
    if (error !== undefined) {
      report.failed.push({ key, error })
      ports.log(`${key}: still failing in ${functionName}: ${error}`)
      continue
    }
    await ports.store.put(
      `${REDRIVEN_PREFIX}${key}`,
      `${JSON.stringify({ redriven_at: now().toISOString(), records: batch.records.length })}\n`,
      'application/json',
    )
    report.replayed++
    stats.replayed++
    ports.log(`${key}: ${batch.records.length} records replayed into ${functionName}`)
  }
  return report
}

/** Undefined when the function took every record; otherwise why not. */
async function replay(
  ports: RedrivePorts,
  functionName: string,
  records: MskRecord[],
): Promise<string | undefined> {
  const event = toMskEvent(records, {
    eventSourceArn: 'arn:aws:kafka:local:000000000000:cluster/local/redrive',
    bootstrapServers: 'redrive',
  })
  try {
    const response = (await ports.invoke(functionName, event)) as KafkaBatchResponse | undefined | null
    const failures = response?.batchItemFailures ?? []
    return failures.length === 0 ? undefined : `${failures.length} batch item failures`
  } catch (error) {
    return (error as Error).message
  }
}

async function main(argv: string[]): Promise<number> {
  const { parseArgs } = await import('node:util')
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string', default: 'run' },
      'dry-run': { type: 'boolean', default: false },
      report: { type: 'string' },
      stage: { type: 'string', default: 'dev' },
    },
  })
  const { isProfile, projectRoot, startServices } = await import('./services/index.ts')
  const profile = values.profile as string
  if (!isProfile(profile)) throw new Error(`--profile: expected run or test, got ${profile}`)
  const log = (line: string) =>
    process.stderr.write(`[redrive ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
  const { fileObjectStore } = await import('../functions/shared/object-store.ts')
  const { localFunctionEnv, localPaths } = await import('./run.ts')
  const paths = localPaths(profile)
  const store = fileObjectStore(paths.onFailure)
  const dryRun = values['dry-run'] === true
  let stop = async () => {}
  let invoke: RedrivePorts['invoke'] = async () => {
    throw new Error('no function is invoked in a dry run')
  }
  if (!dryRun) {
    if (!existsSync(paths.piiKey))
      throw new Error(`no PII key at ${paths.piiKey}: nothing was ever run on this profile`)
    const services = await startServices(profile, { log })
    stop = () => services.stop()
    // The functions read their configuration at cold start, as in make run (local/run.ts).
    Object.assign(process.env, localFunctionEnv(services, paths, readFileSync(paths.piiKey, 'utf8').trim()))
    const { functionTimeouts, packageService } = await import('./template.ts')
    const { loadFunction } = await import('./lambda.ts')
    const template = await packageService(
      projectRoot,
      join(paths.packageDir, values.stage as string),
      values.stage as string,
      log,
    )
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
  try {
    const report = await redrive({ store, invoke, log }, { dryRun })
    log(
      `${report.batches} dead-lettered batches (${report.records} records)${dryRun ? ' would be replayed' : `: ${report.replayed} replayed, ${report.failed.length} still failing`}, ${report.already_redriven} replayed before`,
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
