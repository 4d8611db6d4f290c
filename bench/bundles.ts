/**
 * Benchmark (not a test): for every function (`functions/*\/handler.ts`), the size of its Lambda
 * bundle, built with the same esbuild options as `custom.esbuild` in serverless.yml (minified
 * ESM, node22, the AWS SDK left to the runtime), and its cold module initialisation: the time a
 * fresh Node process takes to import the bundle (config parsed, clients built), median of 5.
 *
 *   npx tsx bench/bundles.ts
 *
 * Bundles are written under .local/bench/bundles/ so that `@aws-sdk/*`, which the nodejs22.x
 * runtime provides, resolves from node_modules as it would from the runtime.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { parse } from 'yaml'
import { projectRoot } from '../local/services/index.ts'

const run = promisify(execFile)
const SAMPLES = 5
const outRoot = join(projectRoot, '.local', 'bench', 'bundles')

interface EsbuildCustom {
  minify?: boolean
  sourcemap?: boolean
  target?: string
  format?: 'esm' | 'cjs'
  banner?: { js?: string }
  alias?: Record<string, string>
  exclude?: string[]
}

async function esbuildOptions(): Promise<EsbuildCustom> {
  // The template has CloudFormation tags (!Ref ...): parse them as plain values.
  const template = parse(await readFile(join(projectRoot, 'serverless.yml'), 'utf8'), {
    customTags: (tags) => [
      ...tags,
      ...['!Ref', '!Sub', '!GetAtt', '!Join', '!If', '!Equals', '!Not', '!Select', '!Split'].flatMap(
        (tag) => [
          { tag, resolve: (value: unknown) => value },
          { tag, collection: 'seq' as const, resolve: (value: unknown) => value },
        ],
      ),
    ],
  }) as { custom?: { esbuild?: EsbuildCustom } }
  return template.custom?.esbuild ?? {}
}

/** Enough environment for every function's config to parse; no service is contacted at import. */
function initEnv(scratch: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    POWERTOOLS_SERVICE_NAME: 'crypto-lake',
    POWERTOOLS_METRICS_NAMESPACE: 'CryptoLake',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    KAFKA_BROKERS: '127.0.0.1:9',
    KAFKA_AUTH: 'none',
    OPENSEARCH_URL: 'http://127.0.0.1:9',
    OPENSEARCH_AUTH: 'none',
    RAW_DIR: join(scratch, 'raw'),
    STATE_DIR: join(scratch, 'state'),
    PII_HMAC_KEY: 'd'.repeat(64),
    ALPACA_DATA_URL: 'http://127.0.0.1:9',
    ALPACA_KEY_ID: 'bench',
    ALPACA_SECRET_KEY: 'bench',
    COINAPI_URL: 'http://127.0.0.1:9',
    COINAPI_KEY: 'bench',
    SYMBOLS: 'BTC/USD,ETH/USD',
  }
}

async function coldInitMs(bundle: string, env: NodeJS.ProcessEnv): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(bundle).href)}); process.stdout.write(String(performance.now() - t))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env,
    cwd: projectRoot,
  })
  return Number(stdout)
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

async function main() {
  const options = await esbuildOptions()
  const functions = readdirSync(join(projectRoot, 'functions'))
    .filter((name) => name !== 'shared')
    .filter((name) => {
      try {
        return statSync(join(projectRoot, 'functions', name, 'handler.ts')).isFile()
      } catch {
        return false
      }
    })
    .sort()
  rmSync(outRoot, { recursive: true, force: true })
  const scratch = mkdtempSync(join(tmpdir(), 'bench-bundles-'))
  const rows: string[] = []
  try {
    for (const name of functions) {
      const outdir = join(outRoot, name)
      mkdirSync(outdir, { recursive: true })
      const outfile = join(outdir, 'handler.mjs')
      try {
        await build({
          entryPoints: [join(projectRoot, 'functions', name, 'handler.ts')],
          outfile,
          bundle: true,
          platform: 'node',
          target: options.target ?? 'node22',
          format: options.format ?? 'esm',
          minify: options.minify ?? true,
          sourcemap: false,
          banner: options.banner,
          alias: options.alias,
          external: options.exclude ?? ['@aws-sdk/*'],
          logLevel: 'silent',
        })
      } catch (error) {
        rows.push(`  ${name.padEnd(22)} build failed: ${(error as Error).message.split('\n')[0]}`)
        continue
      }
      const bytes = await readFile(outfile)
      const env = initEnv(scratch)
      let init: string
      try {
        const samples: number[] = []
        for (let i = 0; i < SAMPLES; i++) samples.push(await coldInitMs(outfile, env))
        init = `${median(samples).toFixed(0).padStart(5)} ms`
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? String(error)
        init = `init failed: ${stderr.split('\n').find((line) => /Error/.test(line)) ?? stderr.slice(0, 200)}`
      }
      rows.push(
        `  ${name.padEnd(22)} ${kib(bytes.byteLength).padStart(11)} (gzip ${kib(gzipSync(bytes).byteLength).padStart(9)})  cold init ${init}`,
      )
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  console.log(
    [
      `function bundles — esbuild ${options.format ?? 'esm'} ${options.target ?? 'node22'}, minified, @aws-sdk external; cold init = median of ${SAMPLES} fresh imports`,
      ...rows,
    ].join('\n'),
  )
}

await main()
