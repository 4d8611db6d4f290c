/**
 * `make doctor`: is this machine ready for `make run` and `make test`? Probing (commands, files,
 * sockets, the disk) gathers plain facts; `evaluate` (local/ops/doctor-checks.ts) turns them into
 * OK/WARN/FAIL findings, each with the fix. FAIL means a make target will not work; WARN means
 * something optional or self-healing (`make setup` fixes it).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { join } from 'node:path'
import { tcpOpen } from '../services/health.ts'
import { PROFILES, portsFor, projectRoot, servicesStatus, sparkJarPaths } from '../services/index.ts'
import { kafkaProvisioned } from '../services/kafka.ts'
import { opensearchProvisioned } from '../services/opensearch.ts'
import { runCommand } from '../services/process.ts'
import { pythonProvisioned } from '../services/python.ts'
import { findChromium, findPython, findServiceJava } from '../services/toolchain.ts'
import type { DoctorFacts, Finding, Found, PortFact } from './doctor-checks.ts'
import { type Paint, renderTable, stripAnsi } from './text.ts'

export function renderFindings(findings: readonly Finding[], paint: Paint): string {
  const colour = { OK: 'green', WARN: 'yellow', FAIL: 'red' } as const
  const table = renderTable(
    ['', 'check', 'detail'],
    findings.map((finding) => [paint(colour[finding.level], finding.level), finding.check, finding.detail]),
  )
  const fixes = findings
    .filter((finding) => finding.fix !== undefined)
    .map((finding) => `  ${paint(colour[finding.level], finding.level)} ${finding.check}: ${finding.fix}`)
  const counts = (['OK', 'WARN', 'FAIL'] as const)
    .map((level) => `${findings.filter((finding) => finding.level === level).length} ${level}`)
    .join(', ')
  return [table, ...(fixes.length > 0 ? ['', 'To fix:', ...fixes] : []), '', counts].join('\n')
}

async function found<T>(probe: () => Promise<T>): Promise<Found<T>> {
  try {
    return { found: await probe() }
  } catch (error) {
    return { problem: (error as Error).message.split('\n')[0] ?? String(error) }
  }
}

async function firstLine(command: string, args: string[]): Promise<string | undefined> {
  try {
    const result = await runCommand(command, args)
    return result.code === 0 ? stripAnsi(result.output).trim().split('\n')[0] : undefined
  } catch {
    return undefined
  }
}

async function securityScanFacts(): Promise<DoctorFacts['securityScan']> {
  const script = readFileSync(join(projectRoot, 'scripts', 'security-scan.sh'), 'utf8')
  const tools = join(projectRoot, '.local', 'tools')
  const checkov = /^CHECKOV_VERSION=([\w.]+)/m.exec(script)?.[1]
  const cfnGuard = /^CFN_GUARD_VERSION=([\w.]+)/m.exec(script)?.[1]
  return {
    checkov: checkov !== undefined && existsSync(join(tools, `checkov-${checkov}`, '.installed')),
    cfnGuard: cfnGuard !== undefined && existsSync(join(tools, `cfn-guard-${cfnGuard}`, 'bin', 'cfn-guard')),
    cargo: await firstLine('cargo', ['--version']),
  }
}

function cfnLintFacts(): DoctorFacts['cfnLint'] {
  const script = readFileSync(join(projectRoot, 'scripts', 'cfn-lint.sh'), 'utf8')
  const wanted = /^CFN_LINT_VERSION=([\w.]+)/m.exec(script)?.[1]
  const venv = join(projectRoot, '.local', 'tools', 'cfn-lint')
  const installed =
    wanted !== undefined
      ? existsSync(join(venv, `.installed-${wanted}`))
      : existsSync(venv) && readdirSync(venv).some((name) => name.startsWith('.installed-'))
  return { wanted, installed }
}

/** As the Makefile decides: the npm ci stamp exists and is newer than package.json and its lock. */
function npmUpToDate(): boolean {
  const stamp = join(projectRoot, 'node_modules', '.installed')
  if (!existsSync(stamp)) return false
  const installed = statSync(stamp).mtimeMs
  return ['package.json', 'package-lock.json'].every(
    (file) => statSync(join(projectRoot, file)).mtimeMs <= installed,
  )
}

async function portFacts(): Promise<PortFact[]> {
  const perProfile = await Promise.all(
    PROFILES.map(async (profile) => {
      const ports = portsFor(profile)
      const status = await servicesStatus(profile)
      const kafkaOurs = status.kafka.pid !== undefined
      const opensearchOurs = status.opensearch.pid !== undefined
      const list = [
        { what: 'Kafka broker', port: ports.kafka, ours: kafkaOurs },
        { what: 'Kafka controller', port: ports.kafkaController, ours: kafkaOurs },
        { what: 'OpenSearch HTTP', port: ports.opensearch, ours: opensearchOurs },
        { what: 'OpenSearch transport', port: ports.opensearchTransport, ours: opensearchOurs },
      ]
      return Promise.all(
        list.map(async (entry) => {
          const inUse = await tcpOpen('127.0.0.1', entry.port, 500)
          return { profile, what: entry.what, port: entry.port, inUse, ours: inUse && entry.ours }
        }),
      )
    }),
  )
  return perProfile.flat()
}

export async function gatherFacts(): Promise<DoctorFacts> {
  const packageJson = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    engines?: { node?: string }
  }
  const disk = await statfs(
    existsSync(join(projectRoot, '.local')) ? join(projectRoot, '.local') : projectRoot,
  )
  const [java, maven, python, ports, awsCli, securityScan] = await Promise.all([
    found(async () => {
      const java = await findServiceJava('Kafka and OpenSearch')
      return { major: java.major, home: java.home }
    }),
    found(async () => {
      const line = await firstLine('mvn', ['-v'])
      if (line === undefined) throw new Error('`mvn` is not on PATH')
      return line
    }),
    found(findPython),
    portFacts(),
    firstLine('aws', ['--version']),
    securityScanFacts(),
  ])
  return {
    nodeVersion: process.versions.node,
    nodeRequired: packageJson.engines?.node ?? '>=22.0.0',
    npmInstalled: npmUpToDate(),
    java,
    maven,
    sparkJars: sparkJarPaths().every((path) => existsSync(path)),
    python,
    venv: pythonProvisioned(),
    downloads: { kafka: kafkaProvisioned(), opensearch: opensearchProvisioned() },
    diskFreeBytes: disk.bavail * disk.bsize,
    ports,
    chromium: findChromium(),
    cfnLint: cfnLintFacts(),
    securityScan,
    awsCli,
  }
}
