/**
 * Runs the CoinAPI simulator standalone:
 *   npx tsx local/simulators/coinapi-cli.ts --port 18081 --keys local-key
 *   COINAPI_SIM_FAULTS='rateLimitEvery=2,badIcons=LTC:missing_url' npx tsx local/simulators/coinapi-cli.ts
 * Then point COINAPI_URL at the printed URL (and COINAPI_KEY at an accepted key).
 */
import { Command, InvalidArgumentError } from 'commander'
import { parseCoinApiFaults, startCoinApiSimulator } from './coinapi.ts'

const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a non-negative integer`)
  return Number(value)
}
const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)

const program = new Command()
  .name('coinapi-sim')
  .description(
    'CoinAPI-compatible simulator (GET /v1/assets/icons/{size}, X-CoinAPI-Key, CoinAPI error codes)',
  )
  .option('--port <port>', 'port to listen on (0 = any free port)', integer('port'), 18081)
  .option('--host <host>', 'interface to bind', '127.0.0.1')
  .option('--seed <seed>', 'seed of the icon file names', integer('seed'), 1)
  .option('--assets <list>', 'comma-separated asset ids listed (default: a built-in list)', list)
  .option('--keys <list>', 'comma-separated accepted API keys (default: any non-empty key)', list)
  .option('--restricted-keys <list>', 'comma-separated keys answered 403 (valid, without privileges)', list)
  .option('--faults <spec>', 'faults, JSON or compact key=value list (default: $COINAPI_SIM_FAULTS)')
  .action(
    async (opts: {
      port: number
      host: string
      seed: number
      assets?: string[]
      keys?: string[]
      restrictedKeys?: string[]
      faults?: string
    }) => {
      const faults = parseCoinApiFaults(opts.faults ?? process.env.COINAPI_SIM_FAULTS)
      const simulator = await startCoinApiSimulator({
        port: opts.port,
        host: opts.host,
        seed: opts.seed,
        assets: opts.assets,
        apiKeys: opts.keys,
        restrictedKeys: opts.restrictedKeys,
        faults,
      })
      process.stdout.write(`coinapi simulator listening on ${simulator.url} (seed ${opts.seed})\n`)
      if (Object.keys(faults).length > 0) process.stdout.write(`faults: ${JSON.stringify(faults)}\n`)
      const stop = async (signal: string) => {
        await simulator.close()
        process.stdout.write(`${signal}: stopped after ${simulator.stats().requests} requests\n`)
        process.exit(0)
      }
      process.once('SIGINT', () => void stop('SIGINT'))
      process.once('SIGTERM', () => void stop('SIGTERM'))
    },
  )

await program.parseAsync(process.argv)
