import { existsSync, rmSync } from 'node:fs'
import { kafkaHealthy, opensearchHealthy } from './health.ts'
import { kafkaPid, kafkaProvisioned, provisionKafka, startKafka, stopKafka } from './kafka.ts'
import {
  opensearchPid,
  opensearchProvisioned,
  provisionOpensearch,
  startOpensearch,
  stopOpensearch,
} from './opensearch.ts'
import { display, distPaths, type Profile, portsFor, profilePaths, type ServicePorts } from './paths.ts'
import { defaultLog, type Log, seconds, withLock } from './process.ts'
import { provisionPython, pythonProvisioned } from './python.ts'

export {
  distPaths,
  isProfile,
  PROFILES,
  type Profile,
  portsFor,
  profilePaths,
  projectRoot,
  type ServicePorts,
  sparkJarPaths,
} from './paths.ts'
export type { Log } from './process.ts'

export interface ServiceEndpoints {
  /** Kafka bootstrap broker, "127.0.0.1:19092". */
  kafka: string
  /** OpenSearch base URL, "http://127.0.0.1:19200". */
  opensearch: string
}

export interface RunningServices extends ServiceEndpoints {
  /** True when this call started at least one service; false when all were already running. */
  startedHere: boolean
  /** Stops the services this call started (a no-op for those it found running). */
  stop(): Promise<void>
}

export interface ProvisionOptions {
  log?: Log
  /** Also build the Python venv and fetch the Spark jars (slow: pyspark is ~300 MB). */
  python?: boolean
}

export interface StartOptions {
  log?: Log
  /** Stop the profile's services and wipe its state (not the downloads nor the venv) first. */
  fresh?: boolean
  /** Overrides of the profile's default ports. */
  ports?: Partial<ServicePorts>
}

export interface ServiceStatus {
  endpoint: string
  healthy: boolean
  /** Pid of the process this profile started, when it is alive. */
  pid: number | undefined
  log: string
}

export interface ServicesStatus {
  profile: Profile
  provisioned: { kafka: boolean; opensearch: boolean; python: boolean }
  kafka: ServiceStatus
  opensearch: ServiceStatus
}

export function endpointsFor(profile: Profile, ports: Partial<ServicePorts> = {}): ServiceEndpoints {
  const resolved = portsFor(profile, ports)
  return { kafka: `127.0.0.1:${resolved.kafka}`, opensearch: `http://127.0.0.1:${resolved.opensearch}` }
}

/**
 * Downloads Kafka and OpenSearch into `.local/dist` (and, with `python`, builds the venv and
 * fetches the Spark jars). Idempotent and cheap once done; safe to call from parallel processes.
 */
export async function provision(opts: ProvisionOptions = {}): Promise<void> {
  const log = opts.log ?? defaultLog
  const needed =
    !kafkaProvisioned() || !opensearchProvisioned() || (opts.python === true && !pythonProvisioned())
  if (!needed) return
  await withLock(distPaths.provisionLock, 'provisioning', log, async () => {
    await provisionKafka(log)
    await provisionOpensearch(log)
    if (opts.python) await provisionPython(log)
  })
}

/**
 * Makes Kafka and OpenSearch of `profile` available and returns their endpoints. Services already
 * healthy on the profile's ports are reused (and left running by `stop()`); missing ones are
 * started detached, so they outlive this process, and awaited until healthy. A failure stops
 * whatever this call started and reports the log to read.
 */
export async function startServices(profile: Profile, opts: StartOptions = {}): Promise<RunningServices> {
  const log = opts.log ?? defaultLog
  const ports = portsFor(profile, opts.ports)
  const endpoints = endpointsFor(profile, opts.ports)
  await provision({ log })
  const started = Date.now()
  const result = await withLock(profilePaths(profile).lock, `profile ${profile}`, log, async () => {
    if (opts.fresh) await wipeProfile(profile, ports, log)
    const [kafka, opensearch] = await Promise.allSettled([
      startKafka(profile, ports, log),
      startOpensearch(profile, ports, log),
    ])
    if (kafka.status === 'rejected' || opensearch.status === 'rejected') {
      if (kafka.status === 'fulfilled' && kafka.value.startedHere) await stopKafka(profile, log)
      if (opensearch.status === 'fulfilled' && opensearch.value.startedHere)
        await stopOpensearch(profile, log)
      const reasons = [kafka, opensearch].flatMap((outcome) =>
        outcome.status === 'rejected' ? [outcome.reason] : [],
      )
      throw reasons.length === 1 ? reasons[0] : new AggregateError(reasons, reasons.map(String).join('\n'))
    }
    return { kafka: kafka.value.startedHere, opensearch: opensearch.value.startedHere }
  })
  if (result.kafka || result.opensearch)
    log(`profile ${profile}: services ready (${seconds(Date.now() - started)})`)
  return {
    ...endpoints,
    startedHere: result.kafka || result.opensearch,
    stop: async () => {
      await Promise.all([
        result.kafka ? stopKafka(profile, log) : undefined,
        result.opensearch ? stopOpensearch(profile, log) : undefined,
      ])
    },
  }
}

async function wipeProfile(profile: Profile, ports: ServicePorts, log: Log): Promise<void> {
  await Promise.all([stopKafka(profile, log), stopOpensearch(profile, log)])
  const endpoints = endpointsFor(profile, ports)
  // Services we did not start still answer: wiping the state under them would be a lie.
  if ((await kafkaHealthy('127.0.0.1', ports.kafka)) || (await opensearchHealthy(endpoints.opensearch))) {
    throw new Error(
      `profile ${profile}: --fresh asked for a clean state, but services not started by this profile still answer on ${endpoints.kafka} or ${endpoints.opensearch}; stop them first.`,
    )
  }
  const root = profilePaths(profile).root
  if (existsSync(root)) {
    rmSync(root, { recursive: true, force: true })
    log(`profile ${profile}: wiped ${display(root)}`)
  }
}

/** Stops the services that `profile` started (by their pid files); its data stays. */
export async function stopServices(profile: Profile, opts: { log?: Log } = {}): Promise<void> {
  const log = opts.log ?? defaultLog
  await withLock(profilePaths(profile).lock, `profile ${profile}`, log, async () => {
    const [kafka, opensearch] = await Promise.all([stopKafka(profile, log), stopOpensearch(profile, log)])
    if (kafka === undefined && opensearch === undefined) log(`profile ${profile}: nothing running`)
  })
}

/** What runs for `profile`, whether it answers, and what is provisioned. */
export async function servicesStatus(
  profile: Profile,
  opts: { ports?: Partial<ServicePorts> } = {},
): Promise<ServicesStatus> {
  const ports = portsFor(profile, opts.ports)
  const endpoints = endpointsFor(profile, opts.ports)
  const paths = profilePaths(profile)
  const [kafkaUp, opensearchUp] = await Promise.all([
    kafkaHealthy('127.0.0.1', ports.kafka),
    opensearchHealthy(endpoints.opensearch),
  ])
  return {
    profile,
    provisioned: {
      kafka: kafkaProvisioned(),
      opensearch: opensearchProvisioned(),
      python: pythonProvisioned(),
    },
    kafka: { endpoint: endpoints.kafka, healthy: kafkaUp, pid: kafkaPid(profile), log: paths.kafka.log },
    opensearch: {
      endpoint: endpoints.opensearch,
      healthy: opensearchUp,
      pid: opensearchPid(profile),
      log: paths.opensearch.log,
    },
  }
}
