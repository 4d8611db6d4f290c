/**
 * How every Alpaca client of the project connects (poll-bars, backfill-bars, simulate-trades),
 * from its function's config: data URL and location, HTTP timeout and retries, the API keys from
 * the secret when one is configured, each retry logged. Said once, so the clients cannot drift.
 */
import { readAlpacaKeys } from './adapters/secrets.ts'
import { logRetry } from './scheduled.ts'

export interface AlpacaConnectionConfig {
  ALPACA_DATA_URL: string
  ALPACA_LOCATION: string
  ALPACA_SECRET_ARN?: string | undefined
  HTTP_TIMEOUT_MS: number
  HTTP_RETRIES: number
}

/** The client options of `config`; `retrying` is the log message of a retry. */
export async function alpacaConnection(config: AlpacaConnectionConfig, retrying: string) {
  return {
    baseUrl: config.ALPACA_DATA_URL,
    location: config.ALPACA_LOCATION,
    timeoutMs: config.HTTP_TIMEOUT_MS,
    retries: config.HTTP_RETRIES,
    keys: await readAlpacaKeys(config.ALPACA_SECRET_ARN),
    onRetry: logRetry(retrying),
  }
}
