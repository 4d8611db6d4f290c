import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { localPaths } from '../../local/runtime/paths.ts'
import { packageService } from '../../local/runtime/template.ts'
import { projectRoot } from '../../local/services/index.ts'

/**
 * Vitest `globalSetup` of the integration project: the dev package the tests load their functions
 * from (packaged-function.ts), made by `serverless package` once for the run, or reused from
 * `make run`'s cache when it is newer than every source.
 */
export default async function setup(project: TestProject): Promise<void> {
  const dir = join(localPaths('test').packageDir, 'dev')
  await packageService(projectRoot, dir, 'dev', (line) => console.log(`[integration] ${line}`))
  project.provide('packagedDevDir', dir)
}

declare module 'vitest' {
  export interface ProvidedContext {
    packagedDevDir: string
  }
}
