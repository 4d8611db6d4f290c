/**
 * The Alpaca simulator's unit-test harness: a simulator whose clock the test sets, closed after
 * each test of the file that imports this module.
 */
import { afterEach } from 'vitest'
import {
  type AlpacaSimulator,
  type SimulatorOptions,
  startAlpacaSimulator,
} from '../../local/simulators/alpaca.ts'

/** Every simulator a test started, closed after it. */
export const started: AlpacaSimulator[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((sim) => sim.close()))
})

/**
 * A simulator whose clock the test sets. Ideal timing (every closed minute at once, final)
 * unless the test pins `timing`: the realistic timing has its own tests (alpaca-simulator-timing.test.ts).
 */
export async function simulator(options: SimulatorOptions & { at?: string } = {}) {
  let now = new Date(options.at ?? '2026-11-30T08:10:30Z')
  const sim = await startAlpacaSimulator({ faults: {}, timing: 'ideal', ...options, now: () => now })
  started.push(sim)
  return {
    sim,
    setNow: (iso: string) => {
      now = new Date(iso)
    },
    get: async (path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${sim.url}${path}`, { headers })
      return { status: response.status, headers: response.headers, text: await response.text() }
    },
  }
}

export type Bar = { t: string; o: number; h: number; l: number; c: number; v: number; n: number; vw: number }
export type BarsBody = { bars: Record<string, Bar[]>; next_page_token: string | null }

export const barsPath = (query: string) => `/v1beta3/crypto/us/bars?timeframe=1Min&${query}`
