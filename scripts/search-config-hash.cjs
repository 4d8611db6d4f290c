// The version of the OpenSearch search config, for `${file(scripts/search-config-hash.cjs)}` in
// resources/opensearch.yml: a hash of the code that defines and applies the index templates,
// aliases and ISM policies. CloudFormation re-runs the SearchConfig custom resource when one of
// its properties changes, so a changed template is applied on the next deploy and an unchanged
// one is not touched. (CommonJS: the framework loads variable files with require().)
const { createHash } = require('node:crypto')
const { readdirSync, readFileSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const SOURCES = [
  'functions/shared/search-templates.ts',
  ...readdirSync(join(root, 'functions/apply-search-config'))
    .filter((name) => name.endsWith('.ts'))
    .sort()
    .map((name) => `functions/apply-search-config/${name}`),
]

module.exports = () => {
  const hash = createHash('sha256')
  for (const source of SOURCES)
    hash
      .update(source)
      .update('\0')
      .update(readFileSync(join(root, source)))
  return hash.digest('hex').slice(0, 16)
}
