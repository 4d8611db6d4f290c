/**
 * Every shell script answers --help (and -h) with its header comment instead of acting: a person
 * can always ask a script what it does before running it.
 */
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const scripts = join(import.meta.dirname, '..', '..', 'scripts')

/** The first help line of the scripts that exist today, written out by hand. */
const FIRST_LINES: Record<string, string> = {
  'cfn-lint.sh':
    'Runs cfn-lint from a project-local venv (.local/tools/cfn-lint), installing it on first use.',
  'query.sh':
    'Runs one SQL statement against the local lake (Iceberg JDBC catalog of a profile) and prints a',
  'ship-lake-code.sh':
    'Ships the lake job code to the code bucket (run by the ship-lake-code plugin after every',
}

const all = readdirSync(scripts)
  .filter((file) => file.endsWith('.sh'))
  .sort()

describe('scripts/*.sh --help', () => {
  it('covers the scripts this test knows by name', () => {
    expect(all).toEqual(expect.arrayContaining(Object.keys(FIRST_LINES)))
  })

  it.each(all.flatMap((file) => [[file, '--help'] as const, [file, '-h'] as const]))(
    '%s %s prints its help and exits 0',
    async (file, flag) => {
      // No tool on PATH but the shell's own: a script that acted instead would fail.
      const { stdout, stderr } = await run('bash', [join(scripts, file), flag], {
        env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' },
      })
      expect(stderr).toBe('')
      const lines = stdout.split('\n')
      expect(lines.length).toBeGreaterThan(1)
      expect(lines.every((line) => !line.startsWith('#'))).toBe(true)
      const first = FIRST_LINES[file]
      if (first !== undefined) expect(lines[0]).toBe(first)
    },
  )
})
