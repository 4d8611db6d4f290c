/**
 * The Alpaca latest-quotes adapter of simulate-trades:
 * `GET {ALPACA_DATA_URL}/v1beta3/crypto/{loc}/latest/quotes?symbols=...`, retried on transient
 * errors within the caller's deadline (shared/http.ts). Quotes come back raw, numbers as their
 * JSON source text: validating them is the core's job.
 */
import { getJson, MalformedBodyError, type RetryOptions, withRetry } from '../shared/http.ts'

export const DEFAULT_ALPACA_DATA_URL = 'https://data.alpaca.markets'

/** A response body that could not be used; quarantined as is. */
export interface MalformedBody {
  detail: string
  body: string
}

export interface FetchedQuotes {
  /** The raw quote per symbol, as the API returned it; requested symbols it does not know are absent. */
  quotes: Record<string, unknown>
  /** Garbled bodies met along the way (each attempt that got one). */
  malformed: MalformedBody[]
  /** Set when no usable answer came back within the retries and the deadline. */
  error?: unknown
}

export type FetchQuotes = (symbols: string[], options: { deadline: number }) => Promise<FetchedQuotes>

export interface QuotesClientOptions {
  baseUrl: string
  /** `us`, `us-1`, `eu-1`, ... */
  location: string
  timeoutMs: number
  /** Optional: without keys the crypto endpoints still answer, at a lower rate limit. */
  keys?: { keyId: string; secretKey: string }
  retries?: number
  baseDelayMs?: number
  maxDelayMs?: number
  fetch?: typeof fetch
  sleep?: RetryOptions['sleep']
  now?: () => number
  random?: () => number
  onRetry?: RetryOptions['onRetry']
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
    throw new MalformedBodyError(url, 200, JSON.stringify(body) ?? String(body), why)
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
    const malformed: MalformedBody[] = []
    try {
      const quotes = await withRetry(
        async ({ attempt, remainingMs }) => {
          try {
            const body = await getJson(url, {
              timeoutMs: Math.max(1, Math.min(options.timeoutMs, remainingMs)),
              headers,
              fetch: options.fetch,
              now: options.now,
            })
            return readQuotes(url, body)
          } catch (error) {
            if (error instanceof MalformedBodyError)
              malformed.push({
                detail: `latest quotes of ${symbols.join(',')}, attempt ${attempt}: ${error.message}`,
                body: error.body,
              })
            throw error
          }
        },
        {
          retries: options.retries ?? 3,
          baseDelayMs: options.baseDelayMs ?? 250,
          maxDelayMs: options.maxDelayMs ?? 4_000,
          deadline,
          sleep: options.sleep,
          now: options.now,
          random: options.random,
          onRetry: options.onRetry,
        },
      )
      return { quotes, malformed }
    } catch (error) {
      return { quotes: {}, malformed, error }
    }
  }
  return { fetchLatestQuotes }
}
