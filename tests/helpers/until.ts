import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Samples until `done` holds and returns that sample, or throws after `timeoutMs` naming what was
 * awaited and the last sample: a test waits for its condition, never for a fixed time.
 */
export async function until<T>(
  what: string,
  sample: () => Promise<T> | T,
  done: (value: T) => boolean,
  { timeoutMs = 60_000, intervalMs = 250 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await sample()
    if (done(value)) return value
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(value)})`)
    await sleep(intervalMs)
  }
}
