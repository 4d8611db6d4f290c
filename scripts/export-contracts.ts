/**
 * Writes the event contracts as JSON Schema under tests/fixtures/contracts/, so the PySpark
 * side is tested against exactly what the producers enforce. `--check` exits 1 when the files
 * on disk are stale instead of writing them.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderContracts } from '../functions/shared/contract-export.ts'

const dir = join(import.meta.dirname, '..', 'tests', 'fixtures', 'contracts')
const check = process.argv.includes('--check')
let stale = 0
for (const [file, text] of Object.entries(renderContracts())) {
  const path = join(dir, file)
  let current = ''
  try {
    current = readFileSync(path, 'utf8')
  } catch {}
  if (current === text) continue
  if (check) {
    console.error(`stale: ${path} (run npm run contracts:export)`)
    stale++
  } else {
    writeFileSync(path, text)
    console.log(`wrote ${path}`)
  }
}
process.exit(stale > 0 ? 1 : 0)
