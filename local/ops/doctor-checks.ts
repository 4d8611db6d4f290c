/**
 * The verdicts of `make doctor`: the facts the probes gathered (local/ops/doctor.ts) turned into
 * OK/WARN/FAIL findings, each with its fix. Pure, so every verdict is tested on hand-written facts.
 */
import { PROFILES, type Profile } from '../services/index.ts'
import { formatBytes } from './text.ts'

export type Level = 'OK' | 'WARN' | 'FAIL'

export interface Finding {
  check: string
  level: Level
  detail: string
  /** What to do about a WARN or FAIL. */
  fix?: string
}

/** What the probes found: either the thing, or why not. */
export type Found<T> = { found: T } | { problem: string }

export interface PortFact {
  profile: Profile
  what: string
  port: number
  inUse: boolean
  /** In use by the process this profile started (its pid file names a live process). */
  ours: boolean
}

export interface DoctorFacts {
  nodeVersion: string
  /** package.json `engines.node`, e.g. ">=22.22.0". */
  nodeRequired: string
  npmInstalled: boolean
  java: Found<{ major: number; home: string }>
  maven: Found<string>
  sparkJars: boolean
  python: Found<{ version: string; bin: string }>
  venv: boolean
  downloads: { kafka: boolean; opensearch: boolean }
  diskFreeBytes: number
  ports: PortFact[]
  chromium: string | undefined
  cfnLint: { wanted: string | undefined; installed: boolean }
  /** The security scans of make test (scripts/security-scan.sh): installed, and cargo to compile cfn-guard. */
  securityScan: { checkov: boolean; cfnGuard: boolean; cargo: string | undefined }
  awsCli: string | undefined
}

const GiB = 1024 ** 3
/** Kafka, OpenSearch, pyspark and the jars take about 2 GiB; the services' data grows from there. */
export const DISK_FAIL_BYTES = 2 * GiB
export const DISK_WARN_BYTES = 8 * GiB

/** "22.23.3" satisfies ">=22.22.0"; only the `>=` form package.json uses is understood. */
export function satisfiesMinimum(version: string, required: string): boolean {
  const minimum = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(required.trim())
  const actual = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim())
  if (!minimum || !actual) return false
  for (let part = 1; part <= 3; part++) {
    const difference = Number(actual[part]) - Number(minimum[part])
    if (difference !== 0) return difference > 0
  }
  return true
}

/** A finding; without a fix when there is none. */
function finding(check: string, level: Level, detail: string, fix?: string): Finding {
  return fix === undefined ? { check, level, detail } : { check, level, detail, fix }
}

type Check = (facts: DoctorFacts, add: (...args: Parameters<typeof finding>) => void) => void

/** Node and the npm dependencies. */
const runtimeFindings: Check = (facts, add) => {
  if (satisfiesMinimum(facts.nodeVersion, facts.nodeRequired)) add('node', 'OK', `Node ${facts.nodeVersion}`)
  else
    add(
      'node',
      'FAIL',
      `Node ${facts.nodeVersion}, the project needs ${facts.nodeRequired}`,
      'run through make (node_modules/.bin, with Node 22 from npm, goes first on PATH) after `make setup`',
    )
  if (facts.npmInstalled) add('npm dependencies', 'OK', 'node_modules installed (npm ci)')
  else
    add('npm dependencies', 'FAIL', 'node_modules is missing or older than package-lock.json', 'make setup')
}

/** Java, Maven (for the Spark jars) and Python with the project's venv. */
const toolchainFindings: Check = (facts, add) => {
  if ('found' in facts.java)
    add('java', 'OK', `Java ${facts.java.found.major} at ${facts.java.found.home} (Kafka, OpenSearch, Spark)`)
  else
    add(
      'java',
      'FAIL',
      facts.java.problem,
      'apt-get install openjdk-17-jre-headless, or JAVA_HOME=<a Java 17 to 23>',
    )

  if ('found' in facts.maven) add('maven', 'OK', facts.maven.found)
  else if (facts.sparkJars)
    add(
      'maven',
      'OK',
      `not installed; not needed while the Spark jars are in .local/dist/jars (${facts.maven.problem})`,
    )
  else
    add(
      'maven',
      'FAIL',
      `${facts.maven.problem}; it fetches the Iceberg and SQLite jars from Maven Central`,
      'apt-get install maven, then make setup',
    )

  if ('found' in facts.python)
    add('python', 'OK', `Python ${facts.python.found.version} at ${facts.python.found.bin}`)
  else add('python', 'FAIL', facts.python.problem, 'apt-get install python3 python3-venv (3.11 or newer)')
  if (facts.venv)
    add('python venv', 'OK', '.local/venv up to date (pyspark, pytest, moto) with the Spark jars')
  else
    add(
      'python venv',
      'WARN',
      '.local/venv missing, stale or without the Spark jars',
      'make setup (pyspark is ~300 MB, first run only)',
    )
}

/** The services' downloads and the disk space under .local/. */
const storageFindings: Check = (facts, add) => {
  const missing = (['kafka', 'opensearch'] as const).filter((name) => !facts.downloads[name])
  if (missing.length === 0) add('downloads', 'OK', 'Kafka and OpenSearch in .local/dist')
  else
    add(
      'downloads',
      'WARN',
      `not downloaded yet: ${missing.join(', ')}`,
      'make setup (or any make target that needs them)',
    )

  const free = formatBytes(facts.diskFreeBytes)
  if (facts.diskFreeBytes < DISK_FAIL_BYTES)
    add(
      'disk',
      'FAIL',
      `${free} free where .local/ lives`,
      'free some space, or make clean-local (deletes all local state)',
    )
  else if (facts.diskFreeBytes < DISK_WARN_BYTES)
    add(
      'disk',
      'WARN',
      `${free} free where .local/ lives: enough to start, little for data`,
      'free some space',
    )
  else add('disk', 'OK', `${free} free`)
}

/** The ports of each profile: free, held by its own services, or taken by something else. */
const portFindings: Check = (facts, add) => {
  for (const profile of PROFILES) {
    const ports = facts.ports.filter((port) => port.profile === profile)
    const foreign = ports.filter((port) => port.inUse && !port.ours)
    const ours = ports.filter((port) => port.inUse && port.ours)
    if (foreign.length > 0)
      add(
        `ports (${profile})`,
        'WARN',
        `taken by a process this profile did not start: ${foreign.map((port) => `${port.port} (${port.what})`).join(', ')}`,
        `find it with \`ss -ltnp 'sport = :${foreign[0]?.port}'\`; a healthy Kafka/OpenSearch there is reused, anything else makes the start fail`,
      )
    else
      add(
        `ports (${profile})`,
        'OK',
        ours.length > 0
          ? `${ours.map((port) => port.port).join(', ')} held by this profile's services${ours.length < ports.length ? '; the rest free' : ''}`
          : `${ports.map((port) => port.port).join(', ')} free`,
      )
  }
}

/** The browser of the dashboard test and the cfn-lint of the contract tests. */
const testToolFindings: Check = (facts, add) => {
  if (facts.chromium) add('browser', 'OK', `Chromium at ${facts.chromium}`)
  else
    add(
      'browser',
      'WARN',
      'no system Chromium: the dashboard browser test (make integration) needs it',
      'make browser (apt-get install chromium)',
    )

  if (facts.cfnLint.installed)
    add('cfn-lint', 'OK', `cfn-lint${facts.cfnLint.wanted ? ` ${facts.cfnLint.wanted}` : ''} in .local/tools`)
  else
    add(
      'cfn-lint',
      'WARN',
      `cfn-lint${facts.cfnLint.wanted ? ` ${facts.cfnLint.wanted}` : ''} not installed yet (the contract tests lint the packaged templates)`,
      'make setup (scripts/cfn-lint.sh --install-only)',
    )
}

/** The security scanners of make test and the AWS CLI of make deploy. */
const scanAndDeployFindings: Check = (facts, add) => {
  const scan = facts.securityScan
  if (scan.checkov && scan.cfnGuard) add('security scans', 'OK', 'checkov and cfn-guard in .local/tools')
  else if (scan.cfnGuard || scan.cargo)
    add(
      'security scans',
      'WARN',
      `not installed yet: ${[scan.checkov ? '' : 'checkov', scan.cfnGuard ? '' : 'cfn-guard'].filter(Boolean).join(', ')} (make test scans the packaged templates)`,
      'make setup (scripts/security-scan.sh --install-only; cfn-guard compiles for about 5 min)',
    )
  else
    add(
      'security scans',
      'FAIL',
      'cfn-guard is not installed and there is no `cargo` to compile it: make test cannot scan the templates',
      'install Rust (https://rustup.rs), then make setup',
    )

  if (facts.awsCli) add('aws cli', 'OK', facts.awsCli)
  else
    add(
      'aws cli',
      'WARN',
      'no `aws` on PATH: only make deploy needs it (the lake code upload after each deploy)',
      'install AWS CLI v2 before deploying',
    )
}

/** The checks in the order `make doctor` prints them. */
const CHECKS = [
  runtimeFindings,
  toolchainFindings,
  storageFindings,
  portFindings,
  testToolFindings,
  scanAndDeployFindings,
]

export function evaluate(facts: DoctorFacts): Finding[] {
  const findings: Finding[] = []
  for (const check of CHECKS) check(facts, (...args) => findings.push(finding(...args)))
  return findings
}

export function exitCodeOf(findings: readonly Finding[]): number {
  return findings.some((finding) => finding.level === 'FAIL') ? 1 : 0
}
