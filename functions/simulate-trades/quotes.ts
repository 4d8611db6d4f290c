/**
 * The Alpaca latest-quotes adapter of simulate-trades:
 * `GET {ALPACA_DATA_URL}/v1beta3/crypto/{loc}/latest/quotes?symbols=...`, retried on transient
 * errors within the caller's deadline (shared/adapters/http.ts). The body's shape is checked here; the
 * quotes come back raw, numbers as their JSON source text: each symbol's quote is read by the core
 * (latest-quote.ts), so one bad quote costs that symbol only.
 */
import * as z from 'zod'
import { getJsonWithRetry, type JsonClientOptions, malformedShape } from '../shared/adapters/http.ts'
import type { AlpacaKeys } from '../shared/adapters/secrets.ts'
import type { FetchQuotes } from '../shared/ports.ts'
import { issueMessages } from '../shared/upstream-fields.ts'

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

/** `{"quotes": {"BTC/USD": {...}}}`; no `quotes` at all means no symbol has one. */
const LatestQuotesBody = z.object(
  { quotes: z.record(z.string(), z.unknown(), { error: 'quotes is not an object' }).nullish() },
  { error: 'the body is not an object' },
)

function readQuotes(url: string, body: unknown): Record<string, unknown> {
  const parsed = LatestQuotesBody.safeParse(body)
  if (!parsed.success) throw malformedShape(url, body, issueMessages(parsed.error))
  return parsed.data.quotes ?? {}
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
