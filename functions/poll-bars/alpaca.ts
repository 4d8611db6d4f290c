/**
 * The Alpaca adapter of poll-bars: `GET {ALPACA_DATA_URL}/v1beta3/crypto/{loc}/bars`, following
 * `next_page_token`, each page retried on transient errors within the caller's deadline.
 */

import * as z from 'zod'
import {
  getJsonWithRetry,
  HttpStatusError,
  type JsonClientOptions,
  malformedShape,
} from '../shared/adapters/http.ts'
import type { AlpacaKeys } from '../shared/adapters/secrets.ts'
import type { FetchBars, FetchedBars, MalformedBody } from '../shared/ports.ts'
import { issueMessages } from '../shared/upstream-fields.ts'

/** Optional: without keys the crypto endpoints still answer, at a lower rate limit. */
export type { AlpacaKeys }

export interface AlpacaClientOptions extends JsonClientOptions {
  baseUrl: string
  /** `us`, `us-1`, `eu-1`, ... */
  location: string
  keys?: AlpacaKeys
  /** Bars per page, across all symbols of the request (Alpaca's maximum, 10000, by default). */
  pageLimit?: number
  /** A guard against a server that never stops paging. */
  maxPages?: number
}

export function barsUrl(
  options: Pick<AlpacaClientOptions, 'baseUrl' | 'location'>,
  params: { symbols: string[]; start: string; end: string; limit: number; pageToken?: string },
): string {
  const query = new URLSearchParams({
    symbols: params.symbols.join(','),
    timeframe: '1Min',
    start: params.start,
    end: params.end,
    limit: String(params.limit),
    sort: 'asc',
  })
  if (params.pageToken) query.set('page_token', params.pageToken)
  return `${options.baseUrl.replace(/\/+$/, '')}/v1beta3/crypto/${encodeURIComponent(options.location)}/bars?${query}`
}

/** `{"bars": {"BTC/USD": [...]}, "next_page_token": "..."}`; no `bars` at all means no bars in the window. */
const BarsPage = z.object(
  {
    bars: z
      .record(
        z.string(),
        z.array(z.unknown(), { error: (issue) => `bars of ${String(issue.path?.at(-1))} is not a list` }),
        { error: 'bars is not an object' },
      )
      .nullish(),
    next_page_token: z.string({ error: 'next_page_token is not a string' }).nullish(),
  },
  { error: 'the body is not an object' },
)

/** The shape every page must have; anything else is treated like a garbled body. */
function readPage(
  url: string,
  body: unknown,
): { bars: Record<string, unknown[]>; nextPageToken: string | null } {
  const parsed = BarsPage.safeParse(body)
  if (!parsed.success) throw malformedShape(url, body, issueMessages(parsed.error))
  return { bars: parsed.data.bars ?? {}, nextPageToken: parsed.data.next_page_token ?? null }
}

/** True for errors that are the request's own fault (4xx other than 408/429): retrying cannot help. */
export function isRequestRejected(error: unknown): boolean {
  return (
    error instanceof HttpStatusError &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 408 &&
    error.status !== 429
  )
}

export function createAlpacaClient(options: AlpacaClientOptions): { fetchBars: FetchBars } {
  const headers: Record<string, string> = options.keys
    ? { 'APCA-API-KEY-ID': options.keys.keyId, 'APCA-API-SECRET-KEY': options.keys.secretKey }
    : {}
  const pageLimit = options.pageLimit ?? 10_000
  const maxPages = options.maxPages ?? 100

  /**
   * All pages of one window. Bars come back per symbol in ascending time, so what was received
   * before a failure is a gap-free prefix per symbol: it is returned with the error, and the
   * caller may emit it and resume after it next time.
   */
  const fetchBars: FetchBars = async (symbols, start, end, { deadline }) => {
    const bars: Record<string, unknown[]> = {}
    const malformed: MalformedBody[] = []
    const result = (error?: unknown): FetchedBars =>
      error === undefined ? { bars, malformed } : { bars, malformed, error }
    let pageToken: string | undefined
    const seenTokens = new Set<string>()
    for (let pageNumber = 1; ; pageNumber++) {
      if (pageNumber > maxPages)
        return result(new Error(`more than ${maxPages} pages for ${symbols.join(',')} ${start}..${end}`))
      const url = barsUrl(options, { symbols, start, end, limit: pageLimit, pageToken })
      const page = await getJsonWithRetry(
        {
          url,
          headers,
          read: (body) => readPage(url, body),
          describe: () => `page ${pageNumber} of ${symbols.join(',')} ${start}..${end}`,
          deadline,
          policy: { retries: 4, baseDelayMs: 250, maxDelayMs: 5_000 },
        },
        options,
      )
      malformed.push(...page.malformed)
      if (!page.ok) return result(page.error)
      for (const [symbol, list] of Object.entries(page.value.bars)) {
        const into = bars[symbol]
        if (into) into.push(...list)
        else bars[symbol] = [...list]
      }
      const token = page.value.nextPageToken
      if (token === null || token === '') return result()
      if (seenTokens.has(token)) return result(new Error(`the API repeated page token ${token}`))
      seenTokens.add(token)
      pageToken = token
    }
  }
  return { fetchBars }
}
