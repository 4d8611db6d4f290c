import { startServices } from './index.ts'

/**
 * Vitest `globalSetup` for suites that need the real services: starts the `test` profile once for
 * the whole run (files then reuse it through `startServices('test')`, which finds it healthy) and,
 * at the end, stops only what it started, so services someone left running stay up.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const services = await startServices('test')
  return () => services.stop()
}
