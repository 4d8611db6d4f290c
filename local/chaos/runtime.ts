/**
 * The local runtime under test, as a child process: `tsx local/cli.ts run --profile chaos`, the
 * same command as `make run`, in its own process group so that it (and a Spark job it started)
 * can be SIGKILLed as a whole. Its progress lines go to a log file and are watched for patterns.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { projectRoot } from '../services/index.ts'

export interface Runtime {
  pid: number
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>
  /** Resolves at the first progress line matching `pattern` (seen before or after the call). */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>
  /** Sends `signal` to the whole process group. */
  kill(signal: NodeJS.Signals): void
  lines: string[]
}

export interface RuntimeOptions {
  durationSeconds: number
  logPath: string
  env?: Record<string, string>
}

const live = new Set<Runtime>()

/** SIGKILLs every runtime still running (the runner's own exit). */
export function killRuntimes(): void {
  for (const runtime of live) runtime.kill('SIGKILL')
}

/** `make run` on the chaos profile, for the scenario's duration, in a process group of its own. */
function spawnRuntime(options: RuntimeOptions): ChildProcess {
  return spawn(
    join(projectRoot, 'node_modules', '.bin', 'tsx'),
    [
      'local/cli.ts',
      'run',
      '--profile',
      'chaos',
      '--duration',
      `${options.durationSeconds}s`,
      '--no-dashboard',
      '--no-status',
      // The hourly lake-refresh schedule stretched to a day: it never fires during a scenario.
      '--lake-every',
      '24h',
    ],
    {
      cwd: projectRoot,
      detached: true,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
}

/**
 * Keeps every progress line (also written to `log`) and resolves the waiters whose pattern a
 * line matches; a waiter fails at its timeout or when the runtime exits first.
 */
function watchLines(
  child: ChildProcess,
  log: WriteStream,
  exited: Promise<unknown>,
): Pick<Runtime, 'lines' | 'waitFor'> {
  const lines: string[] = []
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = []
  const drop = (waiter: (typeof waiters)[number]) => waiters.splice(waiters.indexOf(waiter), 1)
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      lines.push(line)
      log.write(`${line}\n`)
      for (const waiter of [...waiters]) {
        if (waiter.pattern.test(line)) {
          drop(waiter)
          waiter.resolve(line)
        }
      }
    })
  }
  const waitFor = (pattern: RegExp, timeoutMs: number) => {
    const seen = lines.find((line) => pattern.test(line))
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<string>((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer)
          resolve(line)
        },
      }
      const timer = setTimeout(() => {
        drop(waiter)
        reject(new Error(`runtime: no line matching ${pattern} within ${timeoutMs / 1000} s`))
      }, timeoutMs)
      waiters.push(waiter)
      exited.then(() => {
        if (!waiters.includes(waiter)) return
        drop(waiter)
        clearTimeout(timer)
        reject(new Error(`runtime exited before a line matching ${pattern}`))
      })
    })
  }
  return { lines, waitFor }
}

export function startRuntime(options: RuntimeOptions): Runtime {
  mkdirSync(dirname(options.logPath), { recursive: true })
  const log = createWriteStream(options.logPath, { flags: 'a' })
  const child = spawnRuntime(options)
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      log.end()
      resolve(code)
    })
  })
  const watched = watchLines(child, log, exited)
  const pid = child.pid
  if (pid === undefined) throw new Error('the runtime did not start')
  const runtime: Runtime = {
    pid,
    exited,
    ...watched,
    kill(signal) {
      try {
        process.kill(-pid, signal)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
      }
    },
  }
  live.add(runtime)
  exited.then(() => live.delete(runtime))
  return runtime
}

/** The runtime has drained its event sources and stopped them (its report comes next). */
export const DRAINED = /reading the topics back/
/** The runtime is running: services, topics, functions and event sources are up. */
export const RUNNING = /\] running for \d+ s/

/**
 * Ends a runtime once it has drained, before its end-of-run lake refresh: the matrix runs the
 * lake once, at its end, over every scenario's events.
 */
export async function stopWhenDrained(runtime: Runtime, timeoutMs: number): Promise<void> {
  await runtime.waitFor(DRAINED, timeoutMs)
  runtime.kill('SIGKILL')
  await runtime.exited
}
