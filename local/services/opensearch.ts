import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { opensearchHealthy } from './health.ts'
import {
  display,
  distPaths,
  OPENSEARCH_VERSION,
  type Profile,
  profilePaths,
  type ServicePorts,
} from './paths.ts'
import {
  type Log,
  runCommand,
  runOrThrow,
  type StartResult,
  seconds,
  serviceProcess,
  spawnDetached,
  startService,
} from './process.ts'
import { findServiceJava, mvn, userIds } from './toolchain.ts'

const HOST = '127.0.0.1'
const START_TIMEOUT_MS = 180_000
const MARKER_FILE = '.provisioned'
const RUN_AS_USER = 'opensearch'
const ARTIFACT = `org.opensearch.distribution.integ-test-zip:opensearch:${OPENSEARCH_VERSION}:zip`

export function opensearchProvisioned(): boolean {
  return existsSync(join(distPaths.opensearch, MARKER_FILE))
}

/**
 * Fetches the OpenSearch distribution zip through Maven (cached in ~/.m2) and unpacks it into
 * `.local/dist/opensearch-<version>` unless already there. The integ-test zip is the minimal
 * distribution: no bundled JDK, no plugins, which is all a local node needs.
 */
export async function provisionOpensearch(log: Log): Promise<void> {
  if (opensearchProvisioned()) return
  const started = Date.now()
  log(`opensearch: downloading ${OPENSEARCH_VERSION} from Maven Central (first run only)...`)
  const java = await findServiceJava('OpenSearch')
  const staging = `${distPaths.opensearch}.partial`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { recursive: true })
  await mvn(
    `opensearch: downloading ${OPENSEARCH_VERSION}`,
    ['dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${staging}`],
    java,
  )
  const zip = join(staging, `opensearch-${OPENSEARCH_VERSION}.zip`)
  const unzip = await runCommand('unzip', ['-v']).catch(() => undefined)
  if (unzip === undefined || unzip.code !== 0) {
    throw new Error(
      'opensearch: `unzip` is needed to unpack the distribution. Install it: `apt-get install unzip`.',
    )
  }
  await runOrThrow('opensearch: unpacking', 'unzip', ['-q', '-o', zip, '-d', staging])
  const unpacked = join(staging, `opensearch-${OPENSEARCH_VERSION}`)
  if (!existsSync(join(unpacked, 'bin', 'opensearch'))) {
    throw new Error(`opensearch: ${zip} does not contain opensearch-${OPENSEARCH_VERSION}/bin/opensearch`)
  }
  writeFileSync(join(unpacked, MARKER_FILE), `${ARTIFACT}\n`)
  rmSync(distPaths.opensearch, { recursive: true, force: true })
  renameSync(unpacked, distPaths.opensearch)
  rmSync(staging, { recursive: true, force: true })
  log(`opensearch: unpacked into ${display(distPaths.opensearch)} (${seconds(Date.now() - started)})`)
}

function opensearchYml(profile: Profile, ports: ServicePorts): string {
  const paths = profilePaths(profile)
  return [
    '# Written by local/services/opensearch.ts on every start; edit that file instead.',
    `cluster.name: crypto-lake-${profile}`,
    `node.name: ${profile}-node-1`,
    'discovery.type: single-node',
    `network.host: ${HOST}`,
    `http.port: ${ports.opensearch}`,
    `transport.port: ${ports.opensearchTransport}`,
    `path.data: ${JSON.stringify(paths.opensearch.data)}`,
    `path.logs: ${JSON.stringify(paths.opensearch.logs)}`,
    // A full developer disk must not flip every index to read-only in the middle of a run.
    'cluster.routing.allocation.disk.threshold_enabled: false',
    '',
  ].join('\n')
}

/**
 * The distribution's jvm.options with its relative paths (gc log, heap dumps, error files) made
 * absolute into the profile: the start script runs from the distribution directory, which is
 * shared and not writable by the `opensearch` user. The heap comes from OPENSEARCH_JAVA_OPTS.
 */
function jvmOptions(profile: Profile): string {
  const paths = profilePaths(profile)
  const source = readFileSync(join(distPaths.opensearch, 'config', 'jvm.options'), 'utf8')
  return source
    .split('\n')
    .filter((line) => !/^-Xm[sx]/.test(line))
    .map((line) =>
      line
        .replace('file=logs/gc.log', `file=${paths.opensearch.logs}/gc.log`)
        .replace('-Xloggc:logs/gc.log', `-Xloggc:${paths.opensearch.logs}/gc.log`)
        .replace('-XX:HeapDumpPath=data', `-XX:HeapDumpPath=${paths.opensearch.data}`)
        .replace('-XX:ErrorFile=logs/', `-XX:ErrorFile=${paths.opensearch.logs}/`),
    )
    .join('\n')
}

/** Writes the profile's config dir: the distribution's files, then our opensearch.yml and jvm.options. */
function writeConfig(profile: Profile, ports: ServicePorts): void {
  const paths = profilePaths(profile)
  for (const dir of [paths.opensearch.config, paths.opensearch.data, paths.opensearch.logs]) {
    mkdirSync(dir, { recursive: true })
  }
  // Keep what OpenSearch wrote itself (its keystore); refresh the rest from the distribution.
  cpSync(join(distPaths.opensearch, 'config'), paths.opensearch.config, { recursive: true, force: true })
  writeFileSync(join(paths.opensearch.config, 'opensearch.yml'), opensearchYml(profile, ports))
  writeFileSync(join(paths.opensearch.config, 'jvm.options'), jvmOptions(profile))
}

/**
 * OpenSearch refuses to run as root. As root we run it as a dedicated system user (created once)
 * owning only the profile's config, data and logs; otherwise as the current user.
 */
async function runAsPrefix(profile: Profile, log: Log): Promise<string[]> {
  if (process.getuid?.() !== 0) return []
  if ((await userIds(RUN_AS_USER)) === undefined) {
    await runOrThrow(`opensearch: creating system user ${RUN_AS_USER}`, 'useradd', [
      '--system',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      RUN_AS_USER,
    ]).catch((error: unknown) => {
      throw new Error(
        `${(error as Error).message}\nOpenSearch cannot run as root; create a user named ${RUN_AS_USER} (\`apt-get install passwd\` provides useradd).`,
      )
    })
    log(`opensearch: created system user ${RUN_AS_USER} (OpenSearch refuses to run as root)`)
  }
  const paths = profilePaths(profile)
  await runOrThrow('opensearch: handing its directories to the opensearch user', 'chown', [
    '-R',
    `${RUN_AS_USER}:${RUN_AS_USER}`,
    paths.opensearch.config,
    paths.opensearch.data,
    paths.opensearch.logs,
  ])
  return ['setpriv', `--reuid=${RUN_AS_USER}`, `--regid=${RUN_AS_USER}`, '--init-groups']
}

/**
 * Makes sure an OpenSearch node answers on the profile's port: reuses a healthy one, else starts
 * ours detached and waits for cluster health yellow. The caller holds the profile lock.
 */
export function startOpensearch(profile: Profile, ports: ServicePorts, log: Log): Promise<StartResult> {
  const paths = profilePaths(profile)
  const url = `http://${HOST}:${ports.opensearch}`
  return startService(
    {
      name: 'opensearch',
      profile,
      host: HOST,
      endpoint: url,
      healthy: () => opensearchHealthy(url),
      ports: [ports.opensearch, ports.opensearchTransport],
      owner: 'the OpenSearch node',
      pidFile: paths.opensearch.pid,
      marker: paths.opensearch.config,
      logFile: paths.opensearch.log,
      otherLogs: paths.opensearch.logs,
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: 1_000,
      prepare: async () => {
        const java = await findServiceJava('OpenSearch')
        writeConfig(profile, ports)
        const prefix = await runAsPrefix(profile, log)
        return { java, prefix }
      },
      spawn: ({ java, prefix }) => {
        const script = join(distPaths.opensearch, 'bin', 'opensearch')
        const [command = script, ...args] = [...prefix, script]
        return spawnDetached({
          name: 'opensearch',
          command,
          args,
          cwd: distPaths.opensearch,
          env: {
            ...process.env,
            OPENSEARCH_PATH_CONF: paths.opensearch.config,
            OPENSEARCH_JAVA_HOME: java.home,
            OPENSEARCH_JAVA_OPTS: '-Xms512m -Xmx512m',
          },
          logFile: paths.opensearch.log,
          pidFile: paths.opensearch.pid,
        })
      },
      stop: () => stopOpensearch(profile, () => undefined),
    },
    log,
  )
}

const opensearchProcess = (profile: Profile) => {
  const paths = profilePaths(profile).opensearch
  return serviceProcess('opensearch', paths.pid, paths.config)
}

/** Stops the profile's node if we started one (clean shutdown first, so its data stays usable). */
export const stopOpensearch = (profile: Profile, log: Log) => opensearchProcess(profile).stop(log)

export const opensearchPid = (profile: Profile) => opensearchProcess(profile).pid()
