import { type ChildProcess, spawn } from 'node:child_process'
import { provision } from './index.ts'
import { distPaths } from './paths.ts'
import { defaultLog, type Log, tail } from './process.ts'

/** A running S3-compatible server: its endpoint, and how to stop it. */
export interface S3Server {
  endpoint: string
  stop(): Promise<void>
}

const STARTED = /Running on (http:\/\/127\.0\.0\.1:\d+)/

/**
 * Starts moto's server mode (from the project venv, local/services/s3-requirements.txt) on a free
 * loopback port chosen by the OS, for integration tests of the S3 adapters. It is this process's
 * child, bounded by `timeoutMs` to start, and killed by `stop()` or when this process exits.
 * Every bucket and object lives in its memory and goes with it.
 */
export async function startS3Server(opts: { log?: Log; timeoutMs?: number } = {}): Promise<S3Server> {
  const log = opts.log ?? defaultLog
  await provision({ python: true, log })
  const child = spawn(distPaths.venvPython, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  })
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  let output = ''
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`moto: not serving after ${opts.timeoutMs ?? 30_000} ms:\n${tail(output)}`))
    }, opts.timeoutMs ?? 30_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const match = STARTED.exec(output)
      if (match?.[1]) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout.on('data', read)
    child.stderr.on('data', read)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(new Error(`moto: cannot start ${distPaths.venvPython}: ${error.message}`))
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`moto: exited (${signal ?? code}) before serving:\n${tail(output)}`))
    })
  })
  return {
    endpoint,
    async stop() {
      process.removeListener('exit', killOnExit)
      await stopChild(child)
    },
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const grace = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(grace)
}
