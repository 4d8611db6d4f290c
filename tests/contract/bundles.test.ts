/**
 * The packaged function bundles, on both stages: ESM bundles with the AWS SDK the runtime ships
 * left out, each loaded as the runtime would, its config accepting the template's environment.
 */
import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { readZip } from '../helpers/zip.ts'
import { projectRoot } from './helpers/package-service.ts'
import { getAttOf, props, refOf } from './helpers/template.ts'
import { lambdaFunctions, packagedStages, SERVICE_FUNCTIONS, STAGES } from './packaged-stages.ts'

/**
 * The AWS SDK packages the nodejs22.x runtime provides: the clients and the credential chain
 * they all depend on (serverless.yml custom.esbuild.exclude). Every other package is bundled.
 */
const RUNTIME_SDK = /^@aws-sdk\/(client-[a-z0-9-]+|credential-provider-node)$/

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const template = () => service(stage).template

  describe('bundles', () => {
    const serviceFunctions = () =>
      lambdaFunctions(template()).filter(
        ([id]) => (props(template(), id).Code as { S3Key?: string }).S3Key !== undefined,
      )

    it('packages every function as an ESM .mjs bundle with the createRequire banner and the AWS SDK left out', async () => {
      expect(
        serviceFunctions()
          .map(([id]) => id)
          .sort(),
      ).toEqual([...SERVICE_FUNCTIONS].sort())
      for (const [id, fn] of serviceFunctions()) {
        const key = (props(template(), id).Code as { S3Key: string }).S3Key
        const zipName = basename(key)
        expect(service(stage).files, id).toContain(zipName)
        const entries = readZip(await readFile(join(service(stage).dir, zipName)))
        const handler = String(fn.Properties?.Handler)
        const file = `${handler.slice(0, handler.lastIndexOf('.'))}.mjs`
        const exported = handler.slice(handler.lastIndexOf('.') + 1)
        const code = entries.get(file)?.toString('utf8') ?? ''
        expect(code.length, `${id}: ${file} in ${zipName}`).toBeGreaterThan(0)
        expect(
          code.startsWith(
            "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
          ),
          id,
        ).toBe(true)
        expect(code, id).toMatch(new RegExp(`export\\s*\\{[^}]*\\b${exported}\\b[^}]*\\}`))
        // Modules loaded at run time: ESM imports, and require() through the banner's require
        // (a short minified alias). Only what the nodejs22.x runtime ships may stay outside.
        const loaded = [
          ...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|(?<![.\w$])[\w$]{1,3}\(\s*)"(@aws-sdk\/[\w.-]+)"/g),
        ].map((match) => match[1])
        expect(
          [...new Set(loaded)].filter((name) => !RUNTIME_SDK.test(name ?? '')),
          `${id}: AWS SDK packages loaded at run time that the runtime does not ship`,
        ).toEqual([])
        const map = JSON.parse(entries.get(`${file}.map`)?.toString('utf8') ?? '{"sources":[]}') as {
          sources: string[]
        }
        expect(map.sources.length, `${id}: source map`).toBeGreaterThan(0)
        expect(
          map.sources.filter((source) => /node_modules\/@aws-sdk\/client-/.test(source)),
          `${id}: the runtime's SDK clients are imported, not bundled`,
        ).toEqual([])
      }
    })

    it("loads each bundle as an ES module and its config accepts the template's environment", async () => {
      const run = promisify(execFile)
      // Inside the project, so the externals (@aws-sdk/*) resolve as the runtime would provide them.
      const root = join(projectRoot, '.local', 'contract-bundles', stage)
      await rm(root, { recursive: true, force: true })
      const stand = {
        KafkaBootstrapBrokers: 'boot-abc.c1.kafka-serverless.us-east-1.amazonaws.com:9098',
        OpenSearchDomain: 'vpc-crypto-data-lake.us-east-1.es.amazonaws.com',
      } as Record<string, string>
      const resolve = (value: unknown): string => {
        if (typeof value === 'string') return value
        const ref = refOf(value)
        if (ref)
          return ref.endsWith('Secret')
            ? `arn:aws:secretsmanager:us-east-1:123456789012:secret:${ref}`
            : ref.toLowerCase()
        const att = getAttOf(value)
        if (att) return stand[att[0]] ?? `${att[0]}.${att[1]}`
        const sub = (value as { 'Fn::Sub'?: string })['Fn::Sub']
        if (typeof sub === 'string')
          return sub.replace(/\$\{(\w+)\.\w+\}/g, (_m, id: string) => stand[id] ?? id)
        throw new Error(`cannot stand in for ${JSON.stringify(value)}`)
      }
      try {
        for (const [id, fn] of serviceFunctions()) {
          const dir = join(root, id)
          await mkdir(dir, { recursive: true })
          const zipName = basename((props(template(), id).Code as { S3Key: string }).S3Key)
          for (const [name, data] of readZip(await readFile(join(service(stage).dir, zipName)))) {
            await mkdir(join(dir, name, '..'), { recursive: true })
            await writeFile(join(dir, name), data)
          }
          const handler = String(fn.Properties?.Handler)
          const file = join(dir, `${handler.slice(0, handler.lastIndexOf('.'))}.mjs`)
          const variables = (props(template(), id).Environment as { Variables: Record<string, unknown> })
            .Variables
          const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_REGION: 'us-east-1' }
          for (const [name, value] of Object.entries(variables)) env[name] = resolve(value)
          const probe = `const m = await import(${JSON.stringify(file)}); console.log(typeof m.${handler.slice(handler.lastIndexOf('.') + 1)}); process.exit(0)`
          const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], {
            env,
            timeout: 30_000,
          })
          expect(stdout.trim(), id).toBe('function')
        }
      } finally {
        await rm(root, { recursive: true, force: true })
      }
    })
  })
})
