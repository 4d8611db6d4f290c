/**
 * Benchmark (not a test): for every function (`functions/*\/handler.ts`), the size of its Lambda
 * bundle, built with the same esbuild options as `custom.esbuild` in serverless.yml (minified
 * ESM, node22, the AWS SDK left to the runtime), and its cold module initialisation: what a
 * fresh Node process spends importing the bundle (config parsed, clients built), median of 5 —
 * as CPU time (user + system) and as wall time. CPU time is the figure checked against the aim:
 * on a machine whose load average is several times its cores (other processes, as here), wall
 * time measures the queue for a core more than the import.
 *
 * Each function is also built with the AWS SDK bundled (nothing external), the other documented
 * practice, and measured the same way: the peer column of its rows.
 *
 *   npx tsx bench/bundles.ts
 *
 * Bundles are written under .local/bench/bundles/ so that `@aws-sdk/*`, which the nodejs22.x
 * runtime provides, resolves from node_modules as it would from the runtime.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { parseCfnYaml } from '../local/runtime/cfn.ts'
import { projectRoot } from '../local/services/index.ts'
import { benchMain, median } from './kit.ts'
import { type BenchRow, reportRows } from './rows.ts'

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
  const template = parseCfnYaml(await readFile(join(projectRoot, 'serverless.yml'), 'utf8')) as {
    custom?: { esbuild?: EsbuildCustom }
  }
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

interface InitSample {
  wallMs: number
  cpuMs: number
}

async function coldInit(bundle: string, env: NodeJS.ProcessEnv): Promise<InitSample> {
  const script = `const c = process.cpuUsage(); const t = performance.now(); await import(${JSON.stringify(pathToFileURL(bundle).href)}); const u = process.cpuUsage(c); process.stdout.write(JSON.stringify({ wallMs: performance.now() - t, cpuMs: (u.user + u.system) / 1000 }))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env,
    cwd: projectRoot,
  })
  return JSON.parse(stdout) as InitSample
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

/** 1 MB, the aim for a bundle. */
const MAX_BUNDLE_BYTES = 1_000_000
const MAX_INIT_MS = 150

interface Measured {
  bytes: number
  gzipBytes: number
  init?: { wallMs: number; cpuMs: number }
  error?: string
}

/** Builds `name` into `outdir` with `external` left out, and measures its size and cold init. */
async function measure(
  name: string,
  outdir: string,
  options: EsbuildCustom,
  external: string[],
  env: NodeJS.ProcessEnv,
): Promise<Measured> {
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
      external,
      logLevel: 'silent',
    })
  } catch (error) {
    return { bytes: 0, gzipBytes: 0, error: `build failed: ${(error as Error).message.split('\n')[0]}` }
  }
  const bytes = await readFile(outfile)
  const measured: Measured = { bytes: bytes.byteLength, gzipBytes: gzipSync(bytes).byteLength }
  try {
    const samples: InitSample[] = []
    for (let i = 0; i < SAMPLES; i++) samples.push(await coldInit(outfile, env))
    measured.init = {
      wallMs: median(samples.map((s) => s.wallMs)),
      cpuMs: median(samples.map((s) => s.cpuMs)),
    }
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error)
    measured.error = `init failed: ${stderr.split('\n').find((line) => /Error/.test(line)) ?? stderr.slice(0, 200)}`
  }
  return measured
}

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
  const lines: string[] = []
  const rows: BenchRow[] = []
  const describe = (m: Measured) =>
    m.error ??
    `${kib(m.bytes).padStart(11)} (gzip ${kib(m.gzipBytes).padStart(9)})  init cpu ${m.init?.cpuMs.toFixed(0).padStart(4)} ms, wall ${m.init?.wallMs.toFixed(0).padStart(5)} ms`
  try {
    for (const name of functions) {
      const env = initEnv(scratch)
      const external = await measure(
        name,
        join(outRoot, name),
        options,
        options.exclude ?? ['@aws-sdk/*'],
        env,
      )
      const bundled = await measure(name, join(outRoot, `${name}.sdk-bundled`), options, [], env)
      lines.push(`  ${name.padEnd(22)} SDK external ${describe(external)}`)
      lines.push(`  ${''.padEnd(22)} SDK bundled  ${describe(bundled)}`)
      const failed = external.error !== undefined
      rows.push({
        figure: `${name} bundle`,
        project: external.bytes / 1024,
        peer: bundled.error ? null : bundled.bytes / 1024,
        peerLabel: 'SDK bundled',
        ratio: bundled.error ? null : external.bytes / bundled.bytes,
        aim: '<= 1 MB',
        unit: 'KiB',
        met: !failed && external.bytes <= MAX_BUNDLE_BYTES,
      })
      rows.push({
        figure: `${name} cold init (CPU)`,
        project: external.init?.cpuMs ?? Number.NaN,
        peer: bundled.init?.cpuMs ?? null,
        peerLabel: 'SDK bundled',
        ratio: external.init && bundled.init ? external.init.cpuMs / bundled.init.cpuMs : null,
        aim: `<= ${MAX_INIT_MS} ms`,
        unit: 'ms',
        met: !failed && (external.init?.cpuMs ?? Number.POSITIVE_INFINITY) <= MAX_INIT_MS,
      })
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  console.log(
    [
      `function bundles — esbuild ${options.format ?? 'esm'} ${options.target ?? 'node22'}, minified; SDK external = serverless.yml's exclude list, SDK bundled = nothing external; cold init = median of ${SAMPLES} fresh imports (load average ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores)`,
      ...lines,
    ].join('\n'),
  )
  reportRows(rows)
}

await benchMain(import.meta.url, main)
