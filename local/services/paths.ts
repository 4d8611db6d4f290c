import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The independent local environments: `run` for `make run`, `test` for the test suites, `chaos`
 * for `make chaos` (which kills and hangs its services, so never those of the other two).
 */
export type Profile = 'run' | 'test' | 'chaos'

export const PROFILES: readonly Profile[] = ['run', 'test', 'chaos']

export const KAFKA_VERSION = '4.1.1'
export const OPENSEARCH_VERSION = '2.19.6'

/** The Maven artifacts of the Spark side, matching EMR Serverless emr-7.12.0 (Spark 3.5.6, Iceberg 1.10.0). */
export const SPARK_JARS = [
  {
    artifact: 'org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0',
    file: 'iceberg-spark-runtime-3.5_2.12-1.10.0.jar',
  },
  { artifact: 'org.xerial:sqlite-jdbc:3.51.1.0', file: 'sqlite-jdbc-3.51.1.0.jar' },
] as const

export interface ServicePorts {
  kafka: number
  kafkaController: number
  opensearch: number
  opensearchTransport: number
}

const DEFAULT_PORTS: Record<Profile, ServicePorts> = {
  run: { kafka: 19092, kafkaController: 19093, opensearch: 19200, opensearchTransport: 19300 },
  test: { kafka: 29092, kafkaController: 29093, opensearch: 29200, opensearchTransport: 29300 },
  chaos: { kafka: 39092, kafkaController: 39093, opensearch: 39200, opensearchTransport: 39300 },
}

export function portsFor(profile: Profile, overrides: Partial<ServicePorts> = {}): ServicePorts {
  return { ...DEFAULT_PORTS[profile], ...overrides }
}

export function isProfile(value: string): value is Profile {
  return (PROFILES as readonly string[]).includes(value)
}

/** The project root, found from this module's own location (local/services/paths.ts). */
export const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)))

const localDir = join(projectRoot, '.local')
const distDir = join(localDir, 'dist')

/** Downloads and installations, shared by every profile and never wiped by `fresh`. */
export const distPaths = {
  root: distDir,
  kafka: join(distDir, `kafka-${KAFKA_VERSION}`),
  opensearch: join(distDir, `opensearch-${OPENSEARCH_VERSION}`),
  jars: join(distDir, 'jars'),
  venv: join(localDir, 'venv'),
  venvPython: join(localDir, 'venv', 'bin', 'python'),
  requirements: join(projectRoot, 'emr', 'requirements.txt'),
  provisionLock: join(localDir, 'locks', 'provision.lock'),
}

/** Absolute paths of the Spark jars once provisioned (for `spark.jars`). */
export function sparkJarPaths(): string[] {
  return SPARK_JARS.map((jar) => join(distPaths.jars, jar.file))
}

export interface ProfilePaths {
  root: string
  lock: string
  kafka: {
    dir: string
    data: string
    properties: string
    log4j: string
    log: string
    pid: string
  }
  opensearch: {
    dir: string
    config: string
    data: string
    logs: string
    log: string
    pid: string
  }
}

/** Per-profile state: data survives restarts; only `fresh` wipes it. */
export function profilePaths(profile: Profile): ProfilePaths {
  const root = join(localDir, profile)
  const kafka = join(root, 'kafka')
  const opensearch = join(root, 'opensearch')
  return {
    root,
    // Outside the profile dir so that wiping the profile cannot remove a lock another process holds.
    lock: join(localDir, 'locks', `${profile}.lock`),
    kafka: {
      dir: kafka,
      data: join(kafka, 'data'),
      properties: join(kafka, 'server.properties'),
      log4j: join(kafka, 'log4j2.yaml'),
      log: join(kafka, 'kafka.log'),
      pid: join(kafka, 'kafka.pid'),
    },
    opensearch: {
      dir: opensearch,
      config: join(opensearch, 'config'),
      data: join(opensearch, 'data'),
      logs: join(opensearch, 'logs'),
      log: join(opensearch, 'opensearch.log'),
      pid: join(opensearch, 'opensearch.pid'),
    },
  }
}

/** A path as shown to people: relative to the project root when inside it. */
export function display(path: string): string {
  const rel = relative(projectRoot, path)
  return rel.startsWith('..') ? path : rel
}
