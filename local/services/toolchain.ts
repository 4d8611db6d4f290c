import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createLogUpdate } from 'log-update'
import { runCommand, runOrThrow, tail } from './process.ts'

export interface Java {
  /** JAVA_HOME of this runtime. */
  home: string
  /** Path of its `java` executable. */
  bin: string
  /** Feature version: 17, 21, ... */
  major: number
}

const JAVA_INSTALL_HINT =
  'Install a Java 17 runtime, e.g. `apt-get install openjdk-17-jre-headless`, or point JAVA_HOME at one.'

async function probeJava(bin: string): Promise<Java | undefined> {
  try {
    const { code, output } = await runCommand(bin, ['-XshowSettings:properties', '-version'])
    if (code !== 0) return undefined
    const home = /^\s*java\.home = (.+)$/m.exec(output)?.[1]?.trim()
    const spec = /^\s*java\.specification\.version = (.+)$/m.exec(output)?.[1]?.trim()
    if (home === undefined || spec === undefined) return undefined
    // Java 8 reports "1.8"; from 9 on the feature version alone.
    const major = spec.startsWith('1.') ? Number(spec.slice(2)) : Number(spec)
    return Number.isFinite(major) ? { home, bin, major } : undefined
  } catch {
    return undefined
  }
}

/**
 * Finds a Java runtime whose feature version lies in [min, max]: JAVA_HOME first, then `java` on
 * PATH, then the JVMs installed under /usr/lib/jvm. Several components need a bounded range:
 * OpenSearch 2.x relies on the Security Manager, which Java 24 removed.
 */
export async function findJava(range: { min: number; max: number; for: string }): Promise<Java> {
  const candidates: string[] = []
  const javaHome = process.env.JAVA_HOME
  if (javaHome) candidates.push(join(javaHome, 'bin', 'java'))
  candidates.push('java')
  const jvmRoot = '/usr/lib/jvm'
  if (existsSync(jvmRoot)) {
    for (const entry of readdirSync(jvmRoot).sort()) {
      const bin = join(jvmRoot, entry, 'bin', 'java')
      if (existsSync(bin)) candidates.push(bin)
    }
  }
  const seen: string[] = []
  for (const candidate of candidates) {
    const java = await probeJava(candidate)
    if (java === undefined) continue
    if (java.major >= range.min && java.major <= range.max) return java
    seen.push(`Java ${java.major} at ${java.home}`)
  }
  const found = seen.length > 0 ? `found only ${[...new Set(seen)].join(', ')}` : 'no `java` found'
  throw new Error(
    `${range.for} needs Java ${range.min} to ${range.max} (${found}; looked at JAVA_HOME, PATH, /usr/lib/jvm). ${JAVA_INSTALL_HINT}`,
  )
}

/** Java for Kafka and OpenSearch 2.19: 17 to 23. */
export function findServiceJava(component: string): Promise<Java> {
  return findJava({ min: 17, max: 23, for: component })
}

let mavenChecked: Promise<void> | undefined

/** Fails with an install hint when Maven is missing. */
export function requireMaven(): Promise<void> {
  mavenChecked ??= runCommand('mvn', ['-v']).then(
    (result) => {
      if (result.code !== 0)
        throw new Error(`\`mvn -v\` failed:\n${result.output}\nInstall Maven: \`apt-get install maven\`.`)
    },
    () => {
      throw new Error(
        'Maven (`mvn`) is not on PATH; it fetches the jars from Maven Central. Install it: `apt-get install maven`.',
      )
    },
  )
  return mavenChecked.catch((error: unknown) => {
    mavenChecked = undefined
    throw error
  })
}

const MAVEN_HINT =
  'Maven could not fetch it: check network access to Maven Central and any proxy or mirror in ~/.m2/settings.xml.'

/** `Downloaded from central: https://.../x.jar (1.2 MB at 3.4 MB/s)` -> bytes, from Maven's batch-mode transfer log. */
export function downloadedBytes(line: string): number | undefined {
  const match = /^(?:\[INFO\] )?Downloaded from [^:]+: \S+ \((\d+(?:\.\d+)?) (B|kB|MB|GB) at /.exec(line)
  if (!match) return undefined
  const unit = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[match[2] as 'B' | 'kB' | 'MB' | 'GB']
  return Math.round(Number(match[1]) * unit)
}

/**
 * A download progress display on stderr: redrawn in place on a TTY, a plain line every few
 * seconds otherwise (first downloads take minutes; silence looks like a hang).
 */
function downloadProgress(what: string) {
  const stream = process.stderr
  const live = stream.isTTY && stream.columns ? createLogUpdate(stream) : undefined
  let files = 0
  let bytes = 0
  let printedAt = Date.now()
  const text = () => `  ${what}: ${files} files, ${(bytes / 1e6).toFixed(1)} MB downloaded`
  return {
    add(size: number) {
      files++
      bytes += size
      if (live) live(text())
      else if (Date.now() - printedAt >= 5_000) {
        printedAt = Date.now()
        stream.write(`${text()}\n`)
      }
    },
    done() {
      if (live && files > 0) {
        live(text())
        live.done()
      }
    },
  }
}

/**
 * Runs Maven in batch mode with a JDK Maven accepts, showing download progress from its transfer
 * log; errors carry Maven's output tail and a hint.
 */
export async function mvn(what: string, args: readonly string[], java: Java): Promise<void> {
  await requireMaven()
  const progress = downloadProgress(what)
  const output: string[] = []
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('mvn', ['-B', ...args], {
      env: { ...process.env, JAVA_HOME: java.home },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let partial = ''
    const onData = (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        output.push(line)
        const size = downloadedBytes(line)
        if (size !== undefined) progress.add(size)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', reject)
    child.on('close', (exit, signal) => resolve(exit ?? (signal ? 128 : 1)))
  }).finally(() => progress.done())
  if (code !== 0)
    throw new Error(
      `${what} failed (exit ${code}): mvn -B ${args.join(' ')}\n${tail(output.join('\n'))}\n${MAVEN_HINT}`,
    )
}

export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'] as const

/** The system Chromium (Debian's `chromium` package), if installed. */
export function findChromium(): string | undefined {
  return CHROMIUM_PATHS.find((path) => existsSync(path))
}

/**
 * Finds the system Chromium for the browser tests, installing Debian's `chromium` package with
 * apt-get when it is missing and we are root (never a downloaded browser build: the distribution
 * keeps it patched). Idempotent: a found browser is only reported.
 */
export async function ensureChromium(log: (line: string) => void): Promise<string> {
  const found = findChromium()
  if (found) {
    const version = await runCommand(found, ['--version']).catch(() => undefined)
    log(`chromium: ${version?.output.trim().split('\n').at(-1) ?? 'found'} at ${found}`)
    return found
  }
  const hint = 'Install it: `apt-get install chromium` (Debian) and run again.'
  if (process.getuid?.() !== 0) throw new Error(`the browser tests need the system Chromium. ${hint}`)
  log('chromium: installing the Debian package with apt-get (first run only)...')
  const started = Date.now()
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = () =>
    runOrThrow('apt-get install chromium', 'apt-get', ['install', '-y', '-q', 'chromium'], { env, hint })
  // A fresh image has no package lists yet: update once, then retry.
  await install().catch(async () => {
    await runOrThrow('apt-get update', 'apt-get', ['update', '-q'], { env, hint })
    await install()
  })
  const installed = findChromium()
  if (!installed)
    throw new Error(`apt-get installed chromium, yet no binary at ${CHROMIUM_PATHS.join(' or ')}`)
  log(`chromium: installed at ${installed} (${Math.round((Date.now() - started) / 1000)} s)`)
  return installed
}

export interface Python {
  bin: string
  version: string
}

/** Finds a Python >= 3.11 (pyspark 3.5 and the EMR jobs' tooling need it). */
export async function findPython(): Promise<Python> {
  const seen: string[] = []
  for (const candidate of ['python3', 'python3.13', 'python3.12', 'python3.11']) {
    try {
      const { code, output } = await runCommand(candidate, [
        '-c',
        'import sys; print(sys.executable); print("%d.%d.%d" % sys.version_info[:3])',
      ])
      if (code !== 0) continue
      const [bin, version] = output.trim().split('\n')
      if (bin === undefined || version === undefined) continue
      const [major = 0, minor = 0] = version.split('.').map(Number)
      if (major === 3 && minor >= 11) return { bin, version }
      seen.push(`${candidate} is ${version}`)
    } catch {
      // Not installed under that name.
    }
  }
  const found = seen.length > 0 ? seen.join(', ') : 'no python3 on PATH'
  throw new Error(
    `The Python venv needs Python 3.11 or newer (${found}). Install it, e.g. \`apt-get install python3 python3-venv\` (Debian 12 ships 3.11).`,
  )
}

/** The uid/gid of a system user, or undefined when it does not exist. */
export async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const uid = await runCommand('id', ['-u', name])
  const gid = await runCommand('id', ['-g', name])
  if (uid.code !== 0 || gid.code !== 0) return undefined
  return { uid: Number(uid.output.trim()), gid: Number(gid.output.trim()) }
}
