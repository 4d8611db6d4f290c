import type { TestProject } from 'vitest/node'
import { packageService } from './package-service.ts'

/**
 * Vitest `globalSetup` of the contract project: `serverless package` runs once per stage for the
 * whole run (one after the other: serverless-esbuild builds in the service directory), and every
 * contract file reads the same packages through `packaged(stage)`. Removed at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dev = await packageService('dev')
  const prod = await packageService('prod')
  project.provide('packagedDirs', { dev: dev.dir, prod: prod.dir })
  return async () => {
    await dev.dispose()
    await prod.dispose()
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    packagedDirs: { dev: string; prod: string }
  }
}
