/**
 * `make status`: what runs locally and what it keeps. The services of each profile (up or down,
 * pid, endpoint, health), the ports the local runtime uses, and the size of the local state under
 * `.local/`. Gathering (sockets, pid files, directory sizes) is separate from rendering, which is
 * pure so it can be tested on a hand-written state.
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { tcpOpen } from '../services/health.ts'
import {
  distPaths,
  PROFILES,
  type Profile,
  portsFor,
  profilePaths,
  projectRoot,
  servicesStatus,
} from '../services/index.ts'
import { display } from '../services/paths.ts'
import { formatBytes, type Paint, renderTable } from './text.ts'

/** Ports of the local runtime that belong to no profile's services (local/cli.ts, local/run.ts). */
export const RUNTIME_PORTS = [
  { what: 'make run: dashboard page', port: 8_420 },
  { what: 'make run: CoinAPI simulator', port: 18_421 },
] as const

export interface ServiceRow {
  profile: Profile
  service: 'kafka' | 'opensearch'
  endpoint: string
  /** Answers its health check (Kafka: a metadata request; OpenSearch: yellow or green). */
  healthy: boolean
  /** The process this profile started, when alive. */
  pid: number | undefined
}

export interface PortRow {
  what: string
  port: number
  open: boolean
}

export interface StateRow {
  what: string
  path: string
  /** Undefined when the path does not exist. */
  bytes: number | undefined
}

export interface LocalStatus {
  services: ServiceRow[]
  ports: PortRow[]
  state: StateRow[]
}

/**
 * One word for a service: `up` (ours, healthy), `up, not ours` (something else answers on the
 * port: the runtime reuses it), `starting` (our process lives but does not answer yet, or hangs),
 * `down`.
 */
export function serviceState(row: Pick<ServiceRow, 'healthy' | 'pid'>): string {
  if (row.healthy) return row.pid === undefined ? 'up, not ours' : 'up'
  return row.pid === undefined ? 'down' : 'starting or hung'
}

export function renderStatus(status: LocalStatus, paint: Paint): string {
  const colourOf = (state: string) =>
    state === 'up' ? paint('green', state) : state === 'down' ? paint('grey', state) : paint('yellow', state)
  const services = renderTable(
    ['profile', 'service', 'state', 'pid', 'endpoint'],
    status.services.map((row) => [
      row.profile,
      row.service,
      colourOf(serviceState(row)),
      row.pid === undefined ? '-' : String(row.pid),
      row.endpoint,
    ]),
  )
  const ports = renderTable(
    ['port', 'in use', 'what'],
    status.ports.map((row) => [String(row.port), row.open ? 'yes' : paint('grey', 'no'), row.what]),
  )
  const state = renderTable(
    ['size', 'what', 'path'],
    status.state.map((row) => [
      row.bytes === undefined ? paint('grey', 'absent') : formatBytes(row.bytes),
      row.what,
      row.path,
    ]),
  )
  return [
    paint('bold', 'Services'),
    services,
    '',
    paint('bold', 'Ports'),
    ports,
    '',
    paint('bold', 'Local state (.local/)'),
    state,
  ].join('\n')
}

/** Bytes under a path, symlinks not followed (as `du` counts them); undefined when absent. */
export function sizeOf(path: string): number | undefined {
  if (!existsSync(path)) return undefined
  const stat = lstatSync(path)
  if (!stat.isDirectory()) return stat.size
  let total = 0
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    total += sizeOf(join(path, entry.name)) ?? 0
  }
  return total
}

/** What each profile keeps, in the order a person looks for it. */
export function stateOf(profile: Profile): Array<{ what: string; path: string }> {
  const root = profilePaths(profile).root
  return [
    { what: `${profile}: Kafka data`, path: profilePaths(profile).kafka.data },
    { what: `${profile}: OpenSearch data`, path: profilePaths(profile).opensearch.data },
    { what: `${profile}: raw zone (raw bucket)`, path: join(root, 'buckets', 'raw', 'raw') },
    { what: `${profile}: quarantine`, path: join(root, 'buckets', 'raw', 'quarantine') },
    { what: `${profile}: lake (Iceberg warehouse + catalog)`, path: join(root, 'lake') },
    { what: `${profile}: watermarks (state bucket)`, path: join(root, 'buckets', 'state') },
    { what: `${profile}: dead letters (on-failure)`, path: join(root, 'buckets', 'on-failure') },
    { what: `${profile}: scheduler state`, path: join(root, 'scheduler.json') },
    { what: `${profile}: logs`, path: join(root, 'logs') },
  ]
}

const SHARED_STATE = [
  { what: 'packaged service (make run)', path: join(projectRoot, '.local', 'package') },
  { what: 'downloads: Kafka, OpenSearch, jars', path: distPaths.root },
  { what: 'Python venv (pyspark)', path: distPaths.venv },
  { what: 'tools (cfn-lint, checkov, cfn-guard)', path: join(projectRoot, '.local', 'tools') },
]

export async function gatherStatus(): Promise<LocalStatus> {
  const services = (
    await Promise.all(
      PROFILES.map(async (profile): Promise<ServiceRow[]> => {
        const status = await servicesStatus(profile)
        return (['kafka', 'opensearch'] as const).map((service) => ({
          profile,
          service,
          endpoint: status[service].endpoint,
          healthy: status[service].healthy,
          pid: status[service].pid,
        }))
      }),
    )
  ).flat()
  const portList = [
    ...PROFILES.flatMap((profile) => {
      const ports = portsFor(profile)
      return [
        { what: `${profile}: Kafka broker`, port: ports.kafka },
        { what: `${profile}: Kafka controller`, port: ports.kafkaController },
        { what: `${profile}: OpenSearch HTTP`, port: ports.opensearch },
        { what: `${profile}: OpenSearch transport`, port: ports.opensearchTransport },
      ]
    }),
    ...RUNTIME_PORTS,
  ]
  const ports = await Promise.all(
    portList.map(async (entry) => ({ ...entry, open: await tcpOpen('127.0.0.1', entry.port, 500) })),
  )
  // A profile never started has one line, not nine absent ones.
  const entries = PROFILES.flatMap((profile) =>
    existsSync(profilePaths(profile).root)
      ? stateOf(profile)
      : [{ what: `${profile}: nothing yet`, path: profilePaths(profile).root }],
  )
  const state = [...entries, ...SHARED_STATE].map((entry) => ({
    what: entry.what,
    path: display(entry.path),
    bytes: sizeOf(entry.path),
  }))
  return { services, ports, state }
}
