/**
 * The local stand-in for `arn:aws:states:::emr-serverless:startJobRun.sync`: the same entry
 * point and the same EntryPointArguments, run by the venv's `spark-submit` in `local[*]` mode.
 *
 * What EMR takes from its application configuration and SparkSubmitParameters (the Iceberg
 * runtime, the `lake` package, the raw bucket, the contracts, the Glue catalog, the PII secret)
 * comes here from the local environment: the jars from `.local/dist/jars`, `PYTHONPATH=emr`, the
 * profile's raw dir, tests/fixtures/contracts, the JDBC (SQLite) catalog of the profile and the
 * profile's key file. `s3://` URIs (the entry point) are mapped to local directories by prefix.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createWriteStream, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { distPaths, projectRoot, sparkJarPaths } from '../services/paths.ts'

export interface LocalEmrOptions {
  /** `[s3 prefix, local path]`, longest prefix first wins. */
  s3: Array<[string, string]>
  /** The raw zone (the local raw bucket). */
  rawDir: string
  /** The profile's lake directory: `catalog.db` and `warehouse/` inside. */
  lakeDir: string
  /** File holding the PII HMAC key (the local counterpart of the Secrets Manager secret). */
  piiKeyFile: string
  /** Where each job run's driver output goes (`<JobRunId>.log`). */
  logDir: string
  /** Shuffle partitions for local runs (default 4). */
  shufflePartitions?: number
}

export interface StartJobRunParameters {
  ApplicationId: string
  ExecutionRoleArn?: string
  ClientToken: string
  Name?: string
  JobDriver: {
    SparkSubmit: { EntryPoint: string; EntryPointArguments?: string[]; SparkSubmitParameters?: string }
  }
}

/** The error a failed job run raises in the state machine (its name is what Retry/Catch match). */
export class EmrJobFailed extends Error {
  override name = 'EmrServerless.JobFailed'
}

/** Maps an `s3://` URI through the prefix table; anything else is returned unchanged. */
export function toLocalPath(uri: string, s3: Array<[string, string]>): string {
  if (!uri.startsWith('s3://')) return uri
  const match = [...s3].sort((a, b) => b[0].length - a[0].length).find(([prefix]) => uri.startsWith(prefix))
  if (!match) throw new EmrJobFailed(`no local directory for ${uri}`)
  const [prefix, dir] = match
  return join(dir, uri.slice(prefix.length))
}

export function sparkSubmitCommand(params: StartJobRunParameters, options: LocalEmrOptions) {
  const driver = params.JobDriver.SparkSubmit
  const entryPoint = toLocalPath(driver.EntryPoint, options.s3)
  const args = (driver.EntryPointArguments ?? []).map((arg) => toLocalPath(arg, options.s3))
  const bin = join(distPaths.venv, 'bin', 'spark-submit')
  const submitArgs = [
    '--master',
    'local[*]',
    '--jars',
    sparkJarPaths().join(','),
    '--conf',
    'spark.ui.enabled=false',
    '--driver-memory',
    '1g',
    entryPoint,
    ...args,
  ]
  const env = {
    ...process.env,
    PYTHONPATH: join(projectRoot, 'emr'),
    PYSPARK_PYTHON: distPaths.venvPython,
    PYSPARK_DRIVER_PYTHON: distPaths.venvPython,
    TZ: 'UTC',
    LAKE_CATALOG_IMPL: 'jdbc',
    LAKE_WAREHOUSE: join(options.lakeDir, 'warehouse'),
    LAKE_JDBC_URI: `jdbc:sqlite:${join(options.lakeDir, 'catalog.db')}`,
    LAKE_SPARK_MASTER: 'local[*]',
    LAKE_RAW_ROOT: options.rawDir,
    LAKE_CONTRACTS: join(projectRoot, 'tests', 'fixtures', 'contracts'),
    PII_KEY_FILE: options.piiKeyFile,
  }
  return { bin, args: submitArgs, env }
}

/**
 * A task handler for the local Step Functions runner. Resolves with the `.sync` output shape
 * once the job exits 0; rejects with {@link EmrJobFailed} otherwise (the log path in the cause).
 */
export function localEmr(options: LocalEmrOptions) {
  return (input: unknown) => {
    const params = input as StartJobRunParameters
    // `clientToken` is EMR's idempotency token: a second StartJobRun with the token of a job run
    // that is running or succeeded gets that job run, not a new one (two executions of one
    // scheduled firing, a console rerun started twice). A failed run's token is forgotten: the
    // definitions put `$$.State.RetryCount` in the token so that AWS runs a retry anew, and the
    // local runner reads RetryCount as 0 on every attempt.
    const known = jobRuns.get(params.ClientToken)
    if (known) return known
    const run = startJobRun(params, options)
    jobRuns.set(params.ClientToken, run)
    run.catch(() => jobRuns.delete(params.ClientToken))
    return run
  }
}

/** Job runs of this process by client token (one local EMR application per process). */
const jobRuns = new Map<string, Promise<unknown>>()

async function startJobRun(params: StartJobRunParameters, options: LocalEmrOptions) {
  const jobRunId = createHash('sha256').update(params.ClientToken).digest('hex').slice(0, 16)
  const { bin, args, env } = sparkSubmitCommand(params, options)
  mkdirSync(options.logDir, { recursive: true })
  const logPath = join(options.logDir, `${jobRunId}.log`)
  const log = createWriteStream(logPath, { flags: 'a' })
  log.write(`# ${new Date().toISOString()} ${params.Name ?? ''} ${bin} ${args.join(' ')}\n`)
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(bin, args, { env, cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.pipe(log, { end: false })
    child.stderr.pipe(log, { end: false })
    child.on('error', reject)
    child.on('close', (exit) => resolve(exit ?? 1))
  })
  await new Promise((resolve) => log.end(resolve))
  if (code !== 0) {
    throw new EmrJobFailed(
      `job run ${jobRunId} (${params.Name ?? driverName(params)}) exited ${code}; log: ${logPath}`,
    )
  }
  return {
    ApplicationId: params.ApplicationId,
    JobRunId: jobRunId,
    Arn: `arn:aws:emr-serverless:local:000000000000:/applications/${params.ApplicationId}/jobruns/${jobRunId}`,
    Name: params.Name,
    State: 'SUCCESS',
    StateDetails: '',
    ClientToken: params.ClientToken,
    LogPath: logPath,
  }
}

const driverName = (params: StartJobRunParameters) => params.JobDriver.SparkSubmit.EntryPoint.split('/').pop()
