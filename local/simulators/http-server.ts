/**
 * The HTTP plumbing the simulators share: listening on a (free) port, the "every Nth request"
 * fault count, answers held back by the slow fault, the request log, and a close that cancels
 * held-back answers (a test's `close()` must not wait for them).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface SimulatorServerOptions {
  /** 0 (default) picks a free port. */
  port?: number
  host?: string
  handle(req: IncomingMessage, res: ServerResponse): void
  /** The body of the 500 answered when `handle` throws, in the API's own error shape. */
  errorBody(message: string): string
}

/** The faults that hold an answer back; both simulators take them. */
export interface SlowFault {
  slowMs?: number
  slowEvery?: number
}

export interface SimulatorServer {
  /** `http://host:port`, IPv6 hosts bracketed. */
  url: string
  /**
   * Runs `respond` now, or `slowMs` later when the slow fault applies to this request
   * (`every` is the request's fault clock, see {@link faultClock}). True when held back.
   */
  answer(faults: SlowFault, every: (period: number | undefined) => boolean, respond: () => void): boolean
  close(): Promise<void>
}

export async function startSimulatorServer(options: SimulatorServerOptions): Promise<SimulatorServer> {
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((req, res) => {
    try {
      options.handle(req, res)
    } catch (error) {
      if (res.destroyed) return
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' })
      res.end(options.errorBody(error instanceof Error ? error.message : String(error)))
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    answer(faults, every, respond) {
      const slow = faults.slowMs !== undefined && faults.slowMs > 0 && every(faults.slowEvery ?? 1)
      if (!slow) {
        respond()
        return false
      }
      const timer = setTimeout(() => {
        timers.delete(timer)
        respond()
      }, faults.slowMs)
      timers.add(timer)
      return true
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const timer of timers) clearTimeout(timer)
        timers.clear()
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}

/**
 * Counts requests for the "every Nth request" faults. `tick()` is called once per request and
 * returns that request's test: `every(3)` is true on the 3rd, 6th, ... request since `restart()`
 * (called by `setFaults`, so a new fault plan starts counting afresh). With `firstRequests`, no
 * request after that many is faulty: a storm that passes.
 */
export function faultClock() {
  let count = 0
  return {
    tick(firstRequests?: number): (period: number | undefined) => boolean {
      const n = ++count
      const stormOver = firstRequests !== undefined && n > firstRequests
      return (period) => period !== undefined && !stormOver && n % period === 0
    },
    restart(): void {
      count = 0
    },
  }
}

/** Appends to `stats().log`, which keeps the last 1000 requests. */
export function logRequest(log: Array<{ url: string; status: number }>, url: URL, status: number): void {
  log.push({ url: `${url.pathname}${url.search}`, status })
  if (log.length > 1000) log.shift()
}
