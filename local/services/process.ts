import { type ChildProcess, spawn } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { tcpOpen } from './health.ts'
import { display } from './paths.ts'

export type Log = (line: string) => void

export const defaultLog: Log = (line) => {
  process.stderr.write(`[services] ${line}\n`)
}

export interface CommandResult {
  code: number
  output: string
}

/** Runs a command to completion, capturing stdout and stderr together; never throws on a non-zero exit. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const chunks: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      resolvePromise({ code: code ?? (signal ? 128 : 1), output: Buffer.concat(chunks).toString('utf8') })
    })
  })
}

/** The last `count` non-empty lines of a text, for error messages. */
export function tail(text: string, count = 20): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join('\n')
}

/** Runs a command and throws with its output tail and `hint` when it fails. */
export async function runOrThrow(
  what: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; hint?: string } = {},
): Promise<string> {
  const result = await runCommand(command, args, options)
  if (result.code !== 0) {
    const hint = options.hint ? `\n${options.hint}` : ''
    throw new Error(
      `${what} failed (exit ${result.code}): ${command} ${args.join(' ')}\n${tail(result.output)}${hint}`,
    )
  }
  return result.output
}

export interface DetachedProcess {
  pid: number
  /** Set once the process has exited (while this Node process is still alive to see it). */
  exit: { code: number | null; signal: string | null } | undefined
  /** Byte offset of the log file where this run's output starts. */
  logOffset: number
}

/**
 * Starts a long-running process in its own process group, detached from this one, with stdout and
 * stderr appended to `logFile`, and records its pid in `pidFile`. The caller may exit afterwards:
 * the process keeps running.
 */
export function spawnDetached(options: {
  name: string
  command: string
  args: readonly string[]
  cwd: string
  env: NodeJS.ProcessEnv
  logFile: string
  pidFile: string
}): Promise<DetachedProcess> {
  mkdirSync(dirname(options.logFile), { recursive: true })
  writeFileSync(options.logFile, `\n===== ${options.name} starting at ${new Date().toISOString()} =====\n`, {
    flag: 'a',
  })
  const logOffset = statSync(options.logFile).size
  const fd = openSync(options.logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    })
  } finally {
    closeSync(fd)
  }
  return new Promise((resolvePromise, reject) => {
    child.once('error', (error) =>
      reject(new Error(`${options.name}: cannot start ${options.command}: ${error.message}`)),
    )
    child.once('spawn', () => {
      const pid = child.pid
      if (pid === undefined) {
        reject(new Error(`${options.name}: ${options.command} started without a pid`))
        return
      }
      const handle: DetachedProcess = { pid, exit: undefined, logOffset }
      child.once('exit', (code, signal) => {
        handle.exit = { code, signal }
      })
      child.unref()
      writeFileSync(options.pidFile, `${pid}\n`)
      resolvePromise(handle)
    })
  })
}

/** This run's output in a log file (from `offset`), last lines only. */
export function logTail(logFile: string, offset = 0, count = 25): string {
  if (!existsSync(logFile)) return ''
  const text = readFileSync(logFile)
  return tail(text.subarray(Math.min(offset, text.length)).toString('utf8'), count)
}

/** True when the pid is a live process (a zombie counts as dead). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may contain spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

/**
 * The pid recorded in `pidFile` if that process is alive and still the one we started: its command
 * line must contain `marker` (a path unique to the profile), so a recycled pid is never signalled.
 */
export function livePid(pidFile: string, marker: string): number | undefined {
  if (!existsSync(pidFile)) return undefined
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10)
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
    return cmdline.includes(marker) ? pid : undefined
  } catch {
    // No /proc (not Linux): trust the pid file.
    return pid
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    // The process leads its own group (spawned detached): signal the group so that helpers die too.
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // Already gone.
    }
  }
}

/**
 * Stops the process recorded in `pidFile`: SIGTERM (a clean shutdown keeps Kafka's and
 * OpenSearch's data consistent), then SIGKILL after `graceMs`. Removes the pid file.
 * Returns the pid that was stopped, or undefined when nothing of ours was running.
 */
export async function stopProcess(options: {
  name: string
  pidFile: string
  marker: string
  graceMs: number
  log: Log
}): Promise<number | undefined> {
  const pid = livePid(options.pidFile, options.marker)
  if (pid === undefined) {
    rmSync(options.pidFile, { force: true })
    return undefined
  }
  const started = Date.now()
  signalGroup(pid, 'SIGTERM')
  while (isAlive(pid) && Date.now() - started < options.graceMs) {
    await sleep(200)
  }
  if (isAlive(pid)) {
    options.log(
      `${options.name}: still running ${options.graceMs / 1000} s after SIGTERM, sending SIGKILL (pid ${pid})`,
    )
    signalGroup(pid, 'SIGKILL')
    while (isAlive(pid) && Date.now() - started < options.graceMs + 10_000) {
      await sleep(100)
    }
  }
  rmSync(options.pidFile, { force: true })
  options.log(`${options.name}: stopped (pid ${pid}, ${seconds(Date.now() - started)})`)
  return pid
}

/**
 * Polls `check` until it returns true. Fails early when `exited` reports that the process died,
 * and after `timeoutMs` with `timeoutMessage`.
 */
export async function waitUntil(options: {
  check: () => Promise<boolean>
  timeoutMs: number
  intervalMs?: number
  exited?: () => string | undefined
  timeoutMessage: () => string
}): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    const exitMessage = options.exited?.()
    if (exitMessage !== undefined) throw new Error(exitMessage)
    if (await options.check()) return
    if (Date.now() >= deadline) throw new Error(options.timeoutMessage())
    await sleep(options.intervalMs ?? 500)
  }
}

/**
 * Runs `fn` holding an exclusive lock file, so that concurrent callers (parallel test workers, a
 * CLI next to a test run) do not provision or start the same thing twice. A lock left by a dead
 * process is taken over.
 */
export async function withLock<T>(
  lockFile: string,
  what: string,
  log: Log,
  fn: () => Promise<T>,
): Promise<T> {
  mkdirSync(dirname(lockFile), { recursive: true })
  const deadline = Date.now() + 15 * 60_000
  let announced = false
  for (;;) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = lockHolder(lockFile)
    if (holder === 'gone') continue
    if (holder === 'dead') {
      rmSync(lockFile, { force: true })
      continue
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: gave up waiting for process ${holder} (lock ${display(lockFile)})`)
    }
    if (!announced) {
      log(`${what}: waiting for process ${holder}, which is already doing it...`)
      announced = true
    }
    await sleep(250)
  }
  try {
    return await fn()
  } finally {
    rmSync(lockFile, { force: true })
  }
}

function lockHolder(lockFile: string): number | 'dead' | 'gone' {
  try {
    const holder = Number.parseInt(readFileSync(lockFile, 'utf8').trim(), 10)
    if (Number.isInteger(holder)) return isAlive(holder) ? holder : 'dead'
    // Created but not written yet by its owner: give it a moment before calling it abandoned.
    return Date.now() - statSync(lockFile).mtimeMs > 5_000 ? 'dead' : 0
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw error
  }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

export interface StartResult {
  /** False when a healthy service was already there (ours from an earlier run, or another). */
  startedHere: boolean
  pid: number | undefined
}

/**
 * Makes sure a service answers: reuses a healthy one; waits for ours when its pid is alive but
 * not answering yet; refuses ports held by something else; otherwise prepares and spawns it
 * detached and waits until it answers, stopping it again if it never does (a half-started
 * service would hold the ports). The caller holds the profile lock.
 */
export async function startService<Prepared>(
  service: {
    name: string
    profile: string
    host: string
    /** What `healthy` checks, as the messages show it. */
    endpoint: string
    healthy: () => Promise<boolean>
    /** Ports that must be free before a start, and what may hold them (`a Kafka broker`). */
    ports: readonly number[]
    owner: string
    pidFile: string
    marker: string
    logFile: string
    /** Where else to look when it exits early. */
    otherLogs?: string
    timeoutMs: number
    intervalMs?: number
    prepare: () => Promise<Prepared>
    spawn: (prepared: Prepared) => Promise<DetachedProcess>
    stop: () => Promise<unknown>
  },
  log: Log,
): Promise<StartResult> {
  const { name, endpoint, logFile } = service
  const ours = livePid(service.pidFile, service.marker)
  if (await service.healthy()) {
    log(`${name}: already running on ${endpoint}${ours ? ` (pid ${ours})` : ''}`)
    return { startedHere: false, pid: ours }
  }
  if (ours !== undefined) {
    log(`${name}: pid ${ours} is running but not answering yet on ${endpoint}, waiting...`)
    await waitUntil({
      check: service.healthy,
      timeoutMs: service.timeoutMs,
      intervalMs: service.intervalMs,
      timeoutMessage: () =>
        `${name}: pid ${ours} does not answer on ${endpoint}; see ${display(logFile)}, or stop it with \`tsx local/services-cli.ts down --profile ${service.profile}\`.\n${logTail(logFile)}`,
    })
    return { startedHere: false, pid: ours }
  }
  for (const port of service.ports) {
    if (await tcpOpen(service.host, port)) {
      throw new Error(
        `${name}: port ${service.host}:${port} is in use by another process that is not ${service.owner} of profile "${service.profile}"; free it or choose other ports.`,
      )
    }
  }

  const prepared = await service.prepare()
  const started = Date.now()
  const child = await service.spawn(prepared)
  log(`${name}: starting on ${endpoint} (pid ${child.pid}, log ${display(logFile)})...`)
  const seeLogs = `see ${display(logFile)}${service.otherLogs ? ` and ${display(service.otherLogs)}` : ''}`
  try {
    await waitUntil({
      check: service.healthy,
      timeoutMs: service.timeoutMs,
      intervalMs: service.intervalMs,
      exited: () =>
        child.exit &&
        `${name}: exited (code ${child.exit.code ?? child.exit.signal}) before answering on ${endpoint}; ${seeLogs}:\n${logTail(logFile, child.logOffset)}`,
      timeoutMessage: () =>
        `${name}: no answer on ${endpoint} after ${service.timeoutMs / 1000} s, stopped it; see ${display(logFile)}:\n${logTail(logFile, child.logOffset)}`,
    })
  } catch (error) {
    await service.stop()
    throw error
  }
  log(`${name}: started on ${endpoint} (pid ${child.pid}, ${seconds(Date.now() - started)})`)
  return { startedHere: true, pid: child.pid }
}

/** How long a service gets to shut down cleanly (its data stays usable) before it is killed. */
const STOP_GRACE_MS = 30_000

/**
 * One local service's process, known by its pid file and a marker in its command line: stopped
 * cleanly first ({@link stopProcess}), or its pid while it is alive ({@link livePid}).
 */
export function serviceProcess(name: string, pidFile: string, marker: string) {
  return {
    stop: (log: Log) => stopProcess({ name, pidFile, marker, graceMs: STOP_GRACE_MS, log }),
    pid: () => livePid(pidFile, marker),
  }
}
