/**
 * The CloudFormation resource provider schemas that cfn-lint ships (installed by
 * scripts/cfn-lint.sh): which resource types take tags, and in which property. The schemas'
 * `tagging` section is AWS's own declaration, so the tag check follows new types and new tag
 * support without a hand-kept list.
 */
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { projectRoot } from './package-service.ts'

export interface Tagging {
  taggable: boolean
  /** The property that holds the tags, e.g. `Tags` or `ResourceTags`. */
  property?: string
}

interface ProviderSchema {
  tagging?: { taggable?: boolean; tagProperty?: string }
}

/**
 * The tagging declaration of each given resource type; a type without a provider schema (a
 * custom resource) maps to undefined.
 */
export async function taggingOf(types: Iterable<string>, region = 'us-east-1') {
  await promisify(execFile)('bash', [join(projectRoot, 'scripts', 'cfn-lint.sh'), '--install-only'], {
    timeout: 170_000,
  })
  const lib = join(projectRoot, '.local', 'tools', 'cfn-lint', 'lib')
  const python = (await readdir(lib)).find((name) => name.startsWith('python'))
  if (!python) throw new Error(`no python library directory in ${lib}`)
  const root = join(lib, python, 'site-packages', 'cfnlint', 'data', 'schemas')
  const providers = JSON.parse(await readFile(join(root, 'providers', `${region}.json`), 'utf8')) as Record<
    string,
    string
  >
  const result = new Map<string, Tagging | undefined>()
  for (const type of new Set(types)) {
    const file = providers[type]
    if (!file) {
      result.set(type, undefined)
      continue
    }
    const schema = JSON.parse(
      await readFile(join(root, 'resources', `${file}.json`), 'utf8'),
    ) as ProviderSchema
    const taggable = schema.tagging?.taggable === true
    const property = schema.tagging?.tagProperty?.replace(/^\/properties\//, '')
    result.set(type, taggable && property ? { taggable, property } : { taggable: false })
  }
  return result
}
