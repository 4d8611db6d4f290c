/**
 * The CoinAPI adapter of refresh-assets: `GET {COINAPI_URL}/v1/assets/icons/{size}` with the
 * key in `X-CoinAPI-Key`, retried on transient errors within the caller's deadline
 * (shared/adapters/http.ts). CoinAPI's own status codes become errors that say what to do:
 * 400 bad request, 401 wrong key, 403 key without access, 429 rate limit or quota,
 * 550 no data; none of 400/401/403/550 is retried (another attempt cannot change them).
 */
import * as z from 'zod'
import {
  DeadlineExceededError,
  getJsonWithRetry,
  HttpStatusError,
  isTransientError,
  type JsonClientOptions,
  malformedShape,
} from '../shared/adapters/http.ts'
import type { FetchIcons } from '../shared/ports.ts'
import { issueMessages } from '../shared/upstream-fields.ts'

export const DEFAULT_COINAPI_URL = 'https://rest.coinapi.io'

export type CoinApiErrorKind =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'no_data'
  | 'unavailable'

/** A CoinAPI failure with a message an operator can act on; `cause` keeps the HTTP error. */
export class CoinApiError extends Error {
  override name = 'CoinApiError'
  constructor(
    readonly kind: CoinApiErrorKind,
    readonly status: number | undefined,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause })
  }
}

/** CoinAPI error bodies are `{"error": "..."}`; the text is kept for the message. */
function apiMessage(error: HttpStatusError): string {
  try {
    const parsed = JSON.parse(error.bodySnippet) as { error?: unknown; message?: unknown }
    const text = parsed.error ?? parsed.message
    if (typeof text === 'string' && text !== '') return text
  } catch {
    // Not JSON (a proxy page, or cut at 200 characters): the raw start is still useful.
  }
  return error.bodySnippet
}

/** What an answer of one status means, for an operator: `request` is `GET /v1/assets/icons/{size}`. */
interface Explained {
  kind: CoinApiErrorKind
  say: (at: { request: string; size: number; attempts: number; wait: string }) => string
}

/** CoinAPI's documented error codes; any other status is `unavailable`. */
const EXPLAINED: Record<number, Explained> = {
  400: {
    kind: 'bad_request',
    say: ({ request }) => `CoinAPI rejected ${request} as a bad request (400): check ICON_SIZE.`,
  },
  401: {
    kind: 'unauthorized',
    say: () =>
      'CoinAPI refused the API key (401 Unauthorized): the key in COINAPI_KEY / the CoinAPI secret is missing, wrong or revoked.',
  },
  403: {
    kind: 'forbidden',
    say: ({ request }) =>
      `CoinAPI key lacks the privileges for ${request} (403 Forbidden): the subscription does not cover this endpoint.`,
  },
  429: {
    kind: 'rate_limited',
    say: ({ attempts, wait }) =>
      `CoinAPI rate limit or daily quota exceeded (429 Too Many Requests), still after ${attempts} attempt(s)${wait}.`,
  },
  550: {
    kind: 'no_data',
    say: ({ size }) => `CoinAPI has no asset icons of size ${size} (550 No data).`,
  },
}

/** Turns a final failure into a {@link CoinApiError} saying what happened and what to check. */
export function explainCoinApiError(
  error: unknown,
  context: { size: number; attempts: number },
): CoinApiError {
  const http =
    error instanceof HttpStatusError
      ? error
      : error instanceof DeadlineExceededError && error.cause instanceof HttpStatusError
        ? error.cause
        : undefined
  const request = `GET /v1/assets/icons/${context.size}`
  if (http === undefined) {
    const text = error instanceof Error ? error.message : String(error)
    return new CoinApiError(
      'unavailable',
      undefined,
      `CoinAPI /v1/assets/icons/${context.size} unavailable after ${context.attempts} attempt(s): ${text}`,
      error,
    )
  }
  const said = apiMessage(http)
  const detail = said ? ` CoinAPI said: ${said}` : ''
  const wait =
    http.retryAfterMs === undefined ? '' : `; CoinAPI asked to wait ${Math.ceil(http.retryAfterMs / 1000)} s`
  const explained: Explained = EXPLAINED[http.status] ?? {
    kind: 'unavailable',
    say: ({ attempts }) => `CoinAPI ${request} failed with HTTP ${http.status} after ${attempts} attempt(s).`,
  }
  const message = explained.say({ request, size: context.size, attempts: context.attempts, wait })
  return new CoinApiError(explained.kind, http.status, `${message}${detail}`, error)
}

/** 550 is in the 5xx range but means "no such data": retrying cannot help. */
export const isRetryableCoinApiError = (error: unknown) =>
  !(error instanceof HttpStatusError && error.status === 550) && isTransientError(error)

export interface CoinApiClientOptions extends JsonClientOptions {
  /** `https://rest.coinapi.io` or any compatible server; `/v1/...` is appended. */
  baseUrl: string
  apiKey: string
}

/**
 * The body of `/v1/assets/icons/{size}`: a list. Its entries stay raw: the core reads each one
 * (core.ts `selectAssetIcons`), so one bad entry costs its asset only.
 */
const IconListing = z.array(z.unknown(), { error: 'the body is not a list' })

export const iconsUrl = (baseUrl: string, size: number) =>
  `${baseUrl.replace(/\/+$/, '')}/v1/assets/icons/${size}`

export function createCoinApiClient(options: CoinApiClientOptions): { fetchIcons: FetchIcons } {
  const fetchIcons: FetchIcons = async (size, { deadline }) => {
    const url = iconsUrl(options.baseUrl, size)
    const outcome = await getJsonWithRetry(
      {
        url,
        headers: { 'X-CoinAPI-Key': options.apiKey },
        read: (body) => {
          const listing = IconListing.safeParse(body)
          if (!listing.success) throw malformedShape(url, body, issueMessages(listing.error))
          return listing.data
        },
        describe: (attempt) => `icons of size ${size}, attempt ${attempt}`,
        deadline,
        policy: { retries: 3, baseDelayMs: 500, maxDelayMs: 8_000 },
        isRetryable: isRetryableCoinApiError,
      },
      options,
    )
    const { malformed, attempts } = outcome
    return outcome.ok
      ? { icons: outcome.value, malformed }
      : { icons: [], malformed, error: explainCoinApiError(outcome.error, { size, attempts }) }
  }
  return { fetchIcons }
}
