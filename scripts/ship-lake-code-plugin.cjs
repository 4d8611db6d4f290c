'use strict'
/**
 * Serverless plugin: ships the lake's Spark code (entry points, the `lake` package, the
 * contracts) to the lake code bucket right after every `serverless deploy`, so the EMR jobs the
 * state machines start always run the code of the stack just deployed.
 */
const { execFileSync } = require('node:child_process')
const path = require('node:path')

class ShipLakeCode {
  constructor(serverless) {
    this.hooks = {
      'after:deploy:deploy': () => {
        const provider = serverless.getProvider('aws')
        const script = path.join(serverless.config.servicePath, 'scripts', 'ship-lake-code.sh')
        serverless.cli.log('Shipping the lake code to the code bucket...')
        execFileSync('bash', [script, provider.getStage(), provider.getRegion()], { stdio: 'inherit' })
      },
    }
  }
}

module.exports = ShipLakeCode
