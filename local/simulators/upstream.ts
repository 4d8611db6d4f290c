/**
 * Where a local run's functions find Alpaca and CoinAPI: the server named in the environment
 * (ALPACA_DATA_URL, COINAPI_URL: the real APIs or another simulator), else the bundled simulator,
 * started here and closed by the caller's cleanups. One choice for make run, make backfill and
 * make invoke.
 */
import { startAlpacaSimulator } from './alpaca.ts'
import { startCoinApiSimulator } from './coinapi.ts'

type Cleanups = Array<() => Promise<unknown> | unknown>

/**
 * The CoinAPI simulator's port when it is free: refresh-assets runs once a day, and the icon URLs
 * it stored in crypto-assets must keep loading on the next run's dashboard, as CoinAPI's URLs do.
 */
export const COINAPI_SIM_PORT = 18_421

export async function alpacaUpstream(
  cleanups: Cleanups,
  log: (line: string) => void,
  given?: string,
): Promise<string> {
  const named = given ?? process.env.ALPACA_DATA_URL
  if (named) {
    log(`alpaca: using ${named}`)
    return named
  }
  const simulator = await startAlpacaSimulator({ seed: Number(process.env.ALPACA_SIM_SEED ?? 7) })
  cleanups.push(() => simulator.close())
  log(`alpaca: bundled simulator on ${simulator.url} (set ALPACA_DATA_URL to use another server)`)
  return simulator.url
}

export async function coinApiUpstream(cleanups: Cleanups, log: (line: string) => void): Promise<string> {
  const named = process.env.COINAPI_URL
  if (named) {
    log(`coinapi: using ${named} (COINAPI_URL)`)
    return named
  }
  const seed = Number(process.env.COINAPI_SIM_SEED ?? 7)
  const simulator = await startCoinApiSimulator({ seed, port: COINAPI_SIM_PORT }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') throw error
      return startCoinApiSimulator({ seed })
    },
  )
  cleanups.push(() => simulator.close())
  log(
    `coinapi: bundled simulator on ${simulator.url} (set COINAPI_URL and COINAPI_KEY to use another server)`,
  )
  return simulator.url
}
