/**
 * Runs the Alpaca simulator standalone (realistic timing unless `--timing ideal`):
 *   npx tsx local/simulators/alpaca-cli.ts --port 18080 --seed 7
 *   npx tsx local/simulators/alpaca-cli.ts --timing ideal
 *   npx tsx local/simulators/alpaca-cli.ts --publish-delay-ms 2000 --recalc-fraction 0.5
 *   ALPACA_SIM_FAULTS='serverErrorEvery=5,badBars=0.02' npx tsx local/simulators/alpaca-cli.ts
 * Then point ALPACA_DATA_URL at the printed URL.
 */
import { Command, InvalidArgumentError } from 'commander'
import { parseFaults, resolveTiming, startAlpacaSimulator } from './alpaca.ts'

const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a non-negative integer`)
  return Number(value)
}

const program = new Command()
  .name('alpaca-sim')
  .description('Alpaca-compatible crypto market data simulator (v1beta3 bars, latest/bars, latest/quotes)')
  .option('--port <port>', 'port to listen on (0 = any free port)', integer('port'), 18080)
  .option('--host <host>', 'interface to bind', '127.0.0.1')
  .option('--seed <seed>', 'seed of the deterministic price paths', integer('seed'), 1)
  .option('--symbols <list>', 'comma-separated symbols to serve (default: any BASE/QUOTE symbol)')
  .option('--faults <spec>', 'faults, JSON or compact key=value list (default: $ALPACA_SIM_FAULTS)')
  .option('--timing <mode>', 'realistic (published late, some bars recalculated) or ideal', 'realistic')
  .option(
    '--publish-delay-ms <ms>',
    'realistic: delay after a minute closes before its bar is served',
    integer('ms'),
  )
  .option(
    '--recalc-delay-ms <ms>',
    'realistic: delay after publication before a bar is recalculated',
    integer('ms'),
  )
  .option('--recalc-fraction <f>', 'realistic: fraction of bars recalculated, in [0, 1]', Number)
  .action(
    async (opts: {
      port: number
      host: string
      seed: number
      symbols?: string
      faults?: string
      timing: string
      publishDelayMs?: number
      recalcDelayMs?: number
      recalcFraction?: number
    }) => {
      if (opts.timing !== 'realistic' && opts.timing !== 'ideal')
        throw new InvalidArgumentError(`--timing must be realistic or ideal, not ${opts.timing}`)
      const timing = resolveTiming({
        mode: opts.timing,
        ...(opts.publishDelayMs !== undefined && { publishDelayMs: opts.publishDelayMs }),
        ...(opts.recalcDelayMs !== undefined && { recalcDelayMs: opts.recalcDelayMs }),
        ...(opts.recalcFraction !== undefined && { recalcFraction: opts.recalcFraction }),
      })
      const faults = parseFaults(opts.faults ?? process.env.ALPACA_SIM_FAULTS)
      const simulator = await startAlpacaSimulator({
        port: opts.port,
        host: opts.host,
        seed: opts.seed,
        symbols: opts.symbols?.split(',').map((symbol) => symbol.trim()),
        faults,
        timing,
      })
      process.stdout.write(`alpaca simulator listening on ${simulator.url} (seed ${opts.seed})\n`)
      process.stdout.write(`timing: ${JSON.stringify(timing)}\n`)
      if (Object.keys(faults).length > 0) process.stdout.write(`faults: ${JSON.stringify(faults)}\n`)
      const stop = async (signal: string) => {
        await simulator.close()
        const stats = simulator.stats()
        process.stdout.write(
          `${signal}: stopped after ${stats.requests} requests, ${stats.barsServed} bars\n`,
        )
        process.exit(0)
      }
      process.once('SIGINT', () => void stop('SIGINT'))
      process.once('SIGTERM', () => void stop('SIGTERM'))
    },
  )

await program.parseAsync(process.argv)
