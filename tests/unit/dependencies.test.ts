/**
 * Dependency hygiene: `dependencies` are what the Lambda functions import (everything local-only
 * is a devDependency), nothing is declared that nothing imports, and the AWS SDK packages move
 * together on one version (mixed versions bundle two copies of the shared @smithy core).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

/** Files under `paths` that import `name` (or a subpath of it). */
function importersOf(name: string, paths: string[]): string[] {
  try {
    const out = execFileSync(
      'git',
      ['grep', '-l', '-E', `from '${name}(/[^']*)?'|import\\('${name}`, '--', ...paths],
      {
        encoding: 'utf8',
      },
    )
    return out.split('\n').filter(Boolean)
  } catch {
    return [] // git grep exits 1 when nothing matches
  }
}

describe('package.json', () => {
  it('declares as dependencies only what the functions import', () => {
    const unused = Object.keys(pkg.dependencies).filter(
      (name) => importersOf(name, ['functions']).length === 0,
    )
    expect(unused).toEqual([])
  })

  it('has the functions import zod as a namespace, which esbuild tree-shakes (a named import bundles all of zod)', () => {
    expect(
      importersOf('zod', ['functions']).filter((file) =>
        readFileSync(file, 'utf8').includes("import { z } from 'zod'"),
      ),
    ).toEqual([])
  })

  it('keeps every @aws-sdk package on one version', () => {
    const all = { ...pkg.dependencies, ...pkg.devDependencies }
    const versions = new Set(
      Object.entries(all)
        .filter(([name]) => name.startsWith('@aws-sdk/'))
        .map(([, version]) => version),
    )
    expect([...versions]).toHaveLength(1)
  })
})
