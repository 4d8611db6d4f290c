/**
 * The Alpaca latest-quotes adapter of simulate-trades:
 * `GET {ALPACA_DATA_URL}/v1beta3/crypto/{loc}/latest/quotes?symbols=...`, retried on transient
 * errors within the caller's deadline (shared/adapters/http.ts). Quotes come back raw, numbers as their
 * JSON source text: validating them is the core's job.
 */
import { getJsonWithRetry, type JsonClientOptions, malformedShape } from '../shared/adapters/http.ts'
import type { AlpacaKeys } from '../shared/adapters/secrets.ts'
import type { FetchQuotes } from '../shared/ports.ts'

export interface QuotesClientOptions extends JsonClientOptions {
  baseUrl: string
  /** `us`, `us-1`, `eu-1`, ... */
  location: string
  /** Optional: without keys the crypto endpoints still answer, at a lower rate limit. */
  keys?: AlpacaKeys
}

export function latestQuotesUrl(
  options: Pick<QuotesClientOptions, 'baseUrl' | 'location'>,
  symbols: string[],
): string {
  const query = new URLSearchParams({ symbols: symbols.join(',') })
  return `${options.baseUrl.replace(/\/+$/, '')}/v1beta3/crypto/${encodeURIComponent(options.location)}/latest/quotes?${query}`
}

function readQuotes(url: string, body: unknown): Record<string, unknown> {
  const fail = (why: string): never => {
    throw malformedShape(url, body, why)
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return fail('the body is not an object')
  const { quotes } = body as { quotes?: unknown }
  if (quotes === undefined || quotes === null) return {}
  if (typeof quotes !== 'object' || Array.isArray(quotes)) return fail('quotes is not an object')
  return quotes as Record<string, unknown>
}

export function createQuotesClient(options: QuotesClientOptions): { fetchLatestQuotes: FetchQuotes } {
  const headers: Record<string, string> = options.keys
    ? { 'APCA-API-KEY-ID': options.keys.keyId, 'APCA-API-SECRET-KEY': options.keys.secretKey }
    : {}
  const fetchLatestQuotes: FetchQuotes = async (symbols, { deadline }) => {
    const url = latestQuotesUrl(options, symbols)
    const outcome = await getJsonWithRetry(
      {
        url,
        headers,
        read: (body) => readQuotes(url, body),
        describe: (attempt) => `latest quotes of ${symbols.join(',')}, attempt ${attempt}`,
        deadline,
        policy: { retries: 3, baseDelayMs: 250, maxDelayMs: 4_000 },
      },
      options,
    )
    return outcome.ok
      ? { quotes: outcome.value, malformed: outcome.malformed }
      : { quotes: {}, malformed: outcome.malformed, error: outcome.error }
  }
  return { fetchLatestQuotes }
}
