/**
 * Each local function's environment, from the packaged template: the literal values of its
 * `Environment.Variables` (what its function.yml and the provider section set), with the
 * CloudFormation references replaced by the local stand-ins (the profile's Kafka, OpenSearch,
 * buckets and PII key, the bundled market simulators); a variable the developer sets wins over
 * its packaged value, as README "Configuration" promises. `make run`, `make invoke` and
 * `make backfill` load their functions through {@link loadPackagedFunction}, so a variable added
 * to a function.yml reaches the function locally as it does on AWS, and no shared list can drift.
 */
import { alpacaUpstream, coinApiUpstream } from '../simulators/upstream.ts'
import { functionLogicalId } from './cfn.ts'
import { type LocalFunction, loadFunction } from './lambda.ts'
import type { LocalPaths } from './paths.ts'
import { type CfnTemplate, functionTimeouts } from './template.ts'

/**
 * The local stand-ins for the AWS references of the functions' environments: the profile's (or a
 * test's) services and buckets, its PII key. Put over each packaged environment below.
 */
export function localStandIns(
  services: { kafka: string; opensearch: string },
  buckets: Pick<LocalPaths, 'rawBucket' | 'stateBucket'>,
  piiKey: string,
): Record<string, string> {
  return {
    KAFKA_BROKERS: services.kafka,
    KAFKA_AUTH: 'none',
    OPENSEARCH_URL: services.opensearch,
    OPENSEARCH_AUTH: 'none',
    OPENSEARCH_REPLICAS: '0',
    RAW_DIR: buckets.rawBucket,
    STATE_DIR: buckets.stateBucket,
    PII_HMAC_KEY: piiKey,
    POWERTOOLS_DEV: '',
  }
}

/** Keys of the packaged environment that mean nothing inside this process. */
const PROCESS_ONLY_KEYS = new Set(['NODE_OPTIONS'])

export interface FunctionSpec {
  name: string
  logicalId: string
  /** The packaged Environment.Variables, intrinsics and all. */
  environment: Record<string, unknown>
  timeoutSeconds: number
}

export function functionSpec(template: CfnTemplate, name: string): FunctionSpec {
  const logicalId = functionLogicalId(name)
  const resource = template.Resources[logicalId]
  if (!resource) throw new Error(`no function ${name} (${logicalId}) in the packaged template`)
  const environment =
    (resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}
  return { name, logicalId, environment, timeoutSeconds: functionTimeouts(template)[name] ?? 6 }
}

/**
 * The environment the function gets: its packaged literals, then the local stand-ins on top.
 * A CloudFormation reference with no stand-in is left out and named in `unresolved` (the local
 * function reads its local equivalent instead: RAW_DIR for RAW_BUCKET, and so on).
 */
export function invokeEnvironment(
  packaged: Record<string, unknown>,
  local: Record<string, string>,
): { env: Record<string, string>; unresolved: string[] } {
  const env: Record<string, string> = {}
  const unresolved: string[] = []
  for (const [key, value] of Object.entries(packaged)) {
    if (PROCESS_ONLY_KEYS.has(key) || key in local) continue
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      env[key] = String(value)
    else unresolved.push(key)
  }
  return { env: { ...env, ...local }, unresolved: unresolved.sort() }
}

/**
 * What the function finds in its environment locally: its packaged literals, unless this process's
 * environment sets the same variable (the developer's configuration of a local run, README
 * "Configuration": `SYMBOLS=... make run`), and the local stand-ins on top of both.
 */
export function localFunctionEnvironment(
  template: CfnTemplate,
  name: string,
  standIns: Record<string, string>,
): Record<string, string> {
  const { env } = invokeEnvironment(functionSpec(template, name).environment, standIns)
  const local: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    const given = process.env[key]
    local[key] = key in standIns || given === undefined ? value : given
  }
  return local
}

/**
 * Runs `load` with `env` on top of this process's environment, then puts the environment back.
 * A function parses its configuration at cold start (its module's import), so its own variables
 * are needed exactly then; loads are awaited one at a time, as the environments would mix.
 */
export async function withEnvironment<T>(env: Record<string, string>, load: () => Promise<T>): Promise<T> {
  const saved = { ...process.env }
  Object.assign(process.env, env)
  try {
    return await load()
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
    Object.assign(process.env, saved)
  }
}

/** Imports the function's handler (its cold start) in the environment the packaged template gives it. */
export async function loadPackagedFunction(
  template: CfnTemplate,
  name: string,
  standIns: Record<string, string>,
  root: string,
): Promise<LocalFunction> {
  const env = localFunctionEnvironment(template, name, standIns)
  return withEnvironment(env, () => loadFunction(root, name, functionSpec(template, name).timeoutSeconds))
}

/**
 * The market APIs as the local functions reach them (local/simulators/upstream.ts), for the
 * packaged variables `declared` says some function has: Alpaca for ALPACA_DATA_URL, CoinAPI for
 * COINAPI_URL (with a key the simulator accepts unless COINAPI_KEY names the real one).
 */
export async function upstreamStandIns(
  declared: (key: string) => boolean,
  cleanups: Array<() => Promise<unknown> | unknown>,
  log: (line: string) => void,
): Promise<Record<string, string>> {
  const standIns: Record<string, string> = {}
  if (declared('ALPACA_DATA_URL')) standIns.ALPACA_DATA_URL = await alpacaUpstream(cleanups, log)
  if (declared('COINAPI_URL')) {
    standIns.COINAPI_URL = await coinApiUpstream(cleanups, log)
    standIns.COINAPI_KEY = process.env.COINAPI_KEY || 'local-simulator-key'
  }
  return standIns
}
