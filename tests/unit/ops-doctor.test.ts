import { describe, expect, it } from 'vitest'
import { renderFindings } from '../../local/ops/doctor.ts'
import {
  type DoctorFacts,
  evaluate,
  exitCodeOf,
  type PortFact,
  satisfiesMinimum,
} from '../../local/ops/doctor-checks.ts'
import { paintWith } from '../../local/ops/text.ts'

const GiB = 1024 ** 3

function freePorts(): PortFact[] {
  return (['run', 'test', 'chaos'] as const).flatMap((profile, index) =>
    [9_092, 9_093, 9_200, 9_300].map((port) => ({
      profile,
      what: 'port',
      port: (index + 1) * 10_000 + port,
      inUse: false,
      ours: false,
    })),
  )
}

/** A machine on which everything is in place. */
function healthy(): DoctorFacts {
  return {
    nodeVersion: '22.23.3',
    nodeRequired: '>=22.22.0',
    npmInstalled: true,
    java: { found: { major: 17, home: '/usr/lib/jvm/java-17' } },
    maven: { found: 'Apache Maven 3.8.7' },
    sparkJars: true,
    python: { found: { version: '3.11.7', bin: '/usr/bin/python3' } },
    venv: true,
    downloads: { kafka: true, opensearch: true },
    diskFreeBytes: 50 * GiB,
    ports: freePorts(),
    chromium: '/usr/bin/chromium',
    cfnLint: { wanted: '1.58.0', installed: true },
    securityScan: { checkov: true, cfnGuard: true, cargo: 'cargo 1.95.0' },
    awsCli: 'aws-cli/2.22.0',
  }
}

const levelOf = (facts: DoctorFacts, check: string) =>
  evaluate(facts).find((finding) => finding.check === check)?.level

describe('doctor', () => {
  it('finds nothing wrong on a ready machine and exits 0', () => {
    const findings = evaluate(healthy())
    expect(findings.map((finding) => finding.level).filter((level) => level !== 'OK')).toEqual([])
    expect(exitCodeOf(findings)).toBe(0)
  })

  it('fails on a Node older than package.json engines, a missing Java or Python, a full disk', () => {
    expect(levelOf({ ...healthy(), nodeVersion: '20.20.2' }, 'node')).toBe('FAIL')
    expect(levelOf({ ...healthy(), java: { problem: 'no `java` found' } }, 'java')).toBe('FAIL')
    expect(levelOf({ ...healthy(), python: { problem: 'python3 is 3.9.2' } }, 'python')).toBe('FAIL')
    expect(levelOf({ ...healthy(), diskFreeBytes: 1 * GiB }, 'disk')).toBe('FAIL')
    expect(exitCodeOf(evaluate({ ...healthy(), java: { problem: 'no `java` found' } }))).toBe(1)
  })

  it('fails the security scans only when cfn-guard is missing and there is no cargo to compile it', () => {
    const none = { checkov: false, cfnGuard: false, cargo: undefined }
    expect(levelOf({ ...healthy(), securityScan: none }, 'security scans')).toBe('FAIL')
    expect(levelOf({ ...healthy(), securityScan: { ...none, cfnGuard: true } }, 'security scans')).toBe(
      'WARN',
    )
  })

  it('needs Maven only while the Spark jars are still to be fetched', () => {
    const noMaven = { ...healthy(), maven: { problem: '`mvn` is not on PATH' } }
    expect(levelOf(noMaven, 'maven')).toBe('OK')
    expect(levelOf({ ...noMaven, sparkJars: false }, 'maven')).toBe('FAIL')
  })

  it('warns, not fails, for what make setup or make browser installs', () => {
    const facts = {
      ...healthy(),
      venv: false,
      downloads: { kafka: false, opensearch: true },
      chromium: undefined,
      cfnLint: { wanted: '1.58.0', installed: false },
      securityScan: { checkov: false, cfnGuard: false, cargo: 'cargo 1.95.0' },
      awsCli: undefined,
      diskFreeBytes: 5 * GiB,
    }
    const findings = evaluate(facts)
    expect(findings.filter((finding) => finding.level === 'WARN').map((finding) => finding.check)).toEqual([
      'python venv',
      'downloads',
      'disk',
      'browser',
      'cfn-lint',
      'security scans',
      'aws cli',
    ])
    expect(exitCodeOf(findings)).toBe(0)
    expect(findings.find((finding) => finding.check === 'downloads')?.detail).toBe(
      'not downloaded yet: kafka',
    )
  })

  it('tells ports held by our own services from ports taken by someone else', () => {
    const ports = freePorts().map((port) =>
      port.port === 29_092
        ? { ...port, inUse: true, ours: true }
        : port.port === 19_200
          ? { ...port, inUse: true }
          : port,
    )
    const findings = evaluate({ ...healthy(), ports })
    const run = findings.find((finding) => finding.check === 'ports (run)')
    const test = findings.find((finding) => finding.check === 'ports (test)')
    expect(run?.level).toBe('WARN')
    expect(run?.detail).toBe('taken by a process this profile did not start: 19200 (port)')
    expect(run?.fix).toContain("ss -ltnp 'sport = :19200'")
    expect(test).toEqual({
      check: 'ports (test)',
      level: 'OK',
      detail: "29092 held by this profile's services; the rest free",
    })
  })

  it('says nothing of free ports when the profile holds them all', () => {
    const ports = freePorts().map((port) =>
      port.profile === 'run' ? { ...port, inUse: true, ours: true } : port,
    )
    expect(evaluate({ ...healthy(), ports }).find((finding) => finding.check === 'ports (run)')?.detail).toBe(
      "19092, 19093, 19200, 19300 held by this profile's services",
    )
  })

  it('gives every WARN and FAIL its fix, and counts them', () => {
    const findings = evaluate({ ...healthy(), chromium: undefined, nodeVersion: '18.0.0' })
    expect(findings.filter((finding) => finding.level !== 'OK').every((finding) => finding.fix)).toBe(true)
    const text = renderFindings(findings, paintWith(false))
    expect(text).toContain('  WARN browser: make browser (apt-get install chromium)')
    expect(text.split('\n').at(-1)).toBe('13 OK, 1 WARN, 1 FAIL')
  })

  it('compares versions against a >= range part by part', () => {
    expect(satisfiesMinimum('22.22.0', '>=22.22.0')).toBe(true)
    expect(satisfiesMinimum('v22.23.3', '>=22.22.0')).toBe(true)
    expect(satisfiesMinimum('23.0.0', '>=22.22.0')).toBe(true)
    expect(satisfiesMinimum('22.9.0', '>=22.22.0')).toBe(false)
    expect(satisfiesMinimum('22.23.3', '^22')).toBe(false)
  })
})
