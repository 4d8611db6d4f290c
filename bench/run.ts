/**
 * `make bench`: every benchmark in one run, against services started once, and one table at the
 * end (bench/rows.ts). The test profile's Kafka and OpenSearch are started here if they are not
 * already up, and stopped at the end only if this run started them: the machine is left as it
 * was found. Benchmarks that start services themselves reuse these (their own stop() is then a
 * no-op), which is what broke `make bench` before: the first benchmark stopped what the next
 * needed.
 *
 *   npx tsx bench/run.ts backfill.ts index-events.ts bundles.ts lake_refresh.py freshness.ts
 *
 * Arguments are benchmark files under bench/ (`.ts` run with tsx, `.py` with the project venv),
 * in order. A failing benchmark does not stop the others; the run exits 1 if any failed.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { projectRoot, startServices } from '../local/services/index.ts'
import { formatTable, ROWS_FILE_ENV, readRows } from './rows.ts'

const benchmarks = process.argv.slice(2)
if (benchmarks.length === 0) {
  console.error('usage: tsx bench/run.ts <benchmark file under bench/>...')
  process.exit(2)
}
const log = (line: string) => console.log(`[bench] ${line}`)
const outDir = join(projectRoot, '.local', 'bench')
mkdirSync(outDir, { recursive: true })
const rowsFile = join(outDir, 'rows.jsonl')
rmSync(rowsFile, { force: true })

function runOne(file: string): Promise<{ code: number; seconds: number }> {
  const path = join(projectRoot, 'bench', file)
  const [command, args] = file.endsWith('.py')
    ? [join(projectRoot, '.local', 'venv', 'bin', 'python'), [path]]
    : [join(projectRoot, 'node_modules', '.bin', 'tsx'), [path]]
  const started = performance.now()
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: projectRoot,
      stdio: 'inherit',
      // node_modules/.bin first: the project's Node 22 (the `node` devDependency) runs tsx, as in make.
      env: {
        ...process.env,
        PATH: `${join(projectRoot, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`,
        [ROWS_FILE_ENV]: rowsFile,
      },
    })
    child.on('error', (error) => {
      console.error(error)
      resolve({ code: 1, seconds: (performance.now() - started) / 1000 })
    })
    child.on('exit', (code, signal) =>
      resolve({ code: code ?? (signal ? 1 : 0), seconds: (performance.now() - started) / 1000 }),
    )
  })
}

const services = await startServices('test', { log })
log(`test profile: Kafka ${services.kafka}, OpenSearch ${services.opensearch}`)
const failed: string[] = []
try {
  for (const file of benchmarks) {
    log(`${file}...`)
    const { code, seconds } = await runOne(file)
    log(`${file}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${seconds.toFixed(0)} s`)
    if (code !== 0) failed.push(file)
  }
} finally {
  if (services.startedHere) log('stopping the services this run started')
  await services.stop()
}

const table = formatTable(readRows(rowsFile))
writeFileSync(join(outDir, 'last-table.md'), `${table}\n`)
console.log(`\n${table}\n`)
log(`table also in .local/bench/last-table.md`)
if (failed.length > 0) {
  log(`failed: ${failed.join(', ')}`)
  process.exit(1)
}
