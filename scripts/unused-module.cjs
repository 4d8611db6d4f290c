// Stands in, in the Lambda bundles, for modules a dependency imports but this project never runs:
// see `custom.esbuild.alias` in serverless.yml.
module.exports = {}
