/**
 * HTTP client for the market data APIs: one GET returning JSON, with a hard timeout, typed
 * errors that say whether a retry can help, and a retry loop that honours rate limits and
 * never sleeps past the caller's deadline (a Lambda must finish inside its timeout).
 */
import type { MalformedBody } from '../ports.ts'

export class HttpStatusError extends Error {
  override name = 'HttpStatusError'
  constructor(
    readonly url: string,
    readonly status: number,
    /** How long the server asked us to wait (Retry-After, or X-RateLimit-Reset on a 429). */
    readonly retryAfterMs: number | undefined,
    /** The start of the response body, for logs. */
    readonly bodySnippet: string,
  ) {
    super(`GET ${redact(url)} answered ${status}${bodySnippet ? `: ${bodySnippet}` : ''}`)
  }
}

export class TimeoutError extends Error {
  override name = 'TimeoutError'
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`GET ${redact(url)} timed out after ${timeoutMs} ms`)
  }
}

/** The connection failed before a response arrived (refused, reset, DNS). */
export class NetworkError extends Error {
  override name = 'NetworkError'
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`GET ${redact(url)} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
}

/** A 2xx response whose body is not JSON. `body` is kept whole so it can be quarantined. */
export class MalformedBodyError extends Error {
  override name = 'MalformedBodyError'
  constructor(
    readonly url: string,
    readonly status: number,
    readonly body: string,
    reason: string,
  ) {
    super(`GET ${redact(url)} returned a body that is not JSON: ${reason}`)
  }
}

/** Thrown instead of waiting when the next attempt could not start before the deadline. */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError'
  constructor(message: string, cause?: unknown) {
    super(message, { cause })
  }
}

/** Query strings can carry tokens; error messages and logs only need the path. */
function redact(url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : `${url.slice(0, query)}?…`
}

type SourceReviver = (key: string, value: unknown, context: { source: string }) => unknown

/**
 * `JSON.parse` where every number comes back as its source text (`90000.12` -> `'90000.12'`),
 * so prices are never rounded through binary floating point. Node 22 passes the source text
 * to the reviver (TC39 "JSON.parse source text access").
 */
export function parseJsonExact(text: string): unknown {
  const reviver: SourceReviver = (_key, value, context) =>
    typeof value === 'number' ? context.source : value
  return JSON.parse(text, reviver as (key: string, value: unknown) => unknown)
}

/** Parses `Retry-After` (delta-seconds or HTTP-date) and, on a 429, Alpaca's `X-RateLimit-Reset` (epoch seconds). */
export function retryAfterMs(headers: Headers, status: number, now: number): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim()
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000
    const at = Date.parse(retryAfter)
    if (!Number.isNaN(at)) return Math.max(0, at - now)
  }
  const reset = headers.get('x-ratelimit-reset')?.trim()
  if (status === 429 && reset && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - now)
  return undefined
}

export interface GetJsonOptions {
  timeoutMs: number
  headers?: Record<string, string>
  /** Aborts the request from outside (the abort reason is rethrown as is). */
  signal?: AbortSignal
  fetch?: typeof fetch
  now?: () => number
}

/**
 * GETs `url` and parses the body with {@link parseJsonExact}. The timeout covers the whole
 * exchange, body included: a server that sends headers and then stalls still times out.
 * Non-2xx -> {@link HttpStatusError}; timeout -> {@link TimeoutError}; connection failure ->
 * {@link NetworkError}; 2xx with a non-JSON body -> {@link MalformedBodyError}.
 */
export async function getJson(url: string, options: GetJsonOptions): Promise<unknown> {
  const fetchImpl = options.fetch ?? fetch
  const now = options.now ?? Date.now
  const timeout = AbortSignal.timeout(options.timeoutMs)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  let status: number
  let text: string
  let headers: Headers
  try {
    const response = await fetchImpl(url, {
      method: 'GET',
      headers: { accept: 'application/json', ...options.headers },
      signal,
    })
    status = response.status
    headers = response.headers
    text = await response.text()
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason
    if (timeout.aborted) throw new TimeoutError(url, options.timeoutMs)
    throw new NetworkError(url, error)
  }
  if (status < 200 || status > 299) {
    throw new HttpStatusError(url, status, retryAfterMs(headers, status, now()), text.slice(0, 200))
  }
  try {
    return parseJsonExact(text)
  } catch (error) {
    throw new MalformedBodyError(url, status, text, error instanceof Error ? error.message : String(error))
  }
}

/**
 * Whether another attempt can succeed: rate limits, server errors, timeouts, dropped
 * connections, and garbled bodies (a proxy cutting a response short). Other 4xx are our fault.
 */
export function isTransientError(error: unknown): boolean {
  if (error instanceof HttpStatusError)
    return error.status === 429 || error.status === 408 || error.status >= 500
  return error instanceof TimeoutError || error instanceof NetworkError || error instanceof MalformedBodyError
}

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number
  /** First backoff; doubles per retry up to `maxDelayMs`, with jitter. */
  baseDelayMs: number
  maxDelayMs: number
  /** Epoch ms: no attempt starts and no wait ends after it. */
  deadline?: number
  isRetryable?: (error: unknown) => boolean
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void
  sleep?: (ms: number) => Promise<void>
  now?: () => number
  /** In [0, 1); injectable so tests are deterministic. */
  random?: () => number
}

export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Runs `attempt` until it succeeds, a non-retryable error, the retry budget, or the deadline.
 * Backoff is exponential with equal jitter (half fixed, half random) so that pollers started by
 * the same schedule do not retry in lockstep; a server-given wait (429 / 503 Retry-After) is
 * honoured plus a little jitter. A wait that would end past the deadline is not taken: the
 * last error is rethrown wrapped in {@link DeadlineExceededError}. `attempt` receives the time
 * left so it can bound its own timeout.
 */
export async function withRetry<T>(
  attempt: (info: { attempt: number; remainingMs: number }) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? realSleep
  const random = options.random ?? Math.random
  const isRetryable = options.isRetryable ?? isTransientError
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY
  for (let number = 1; ; number++) {
    const remainingMs = deadline - now()
    if (remainingMs <= 0) throw new DeadlineExceededError('deadline reached before the request could start')
    try {
      return await attempt({ attempt: number, remainingMs })
    } catch (error) {
      if (!isRetryable(error) || number > options.retries) throw error
      const backoff = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (number - 1))
      const serverWait = error instanceof HttpStatusError ? error.retryAfterMs : undefined
      const delayMs = Math.ceil(
        serverWait === undefined
          ? backoff / 2 + (random() * backoff) / 2
          : serverWait + random() * options.baseDelayMs,
      )
      if (now() + delayMs >= deadline) {
        throw new DeadlineExceededError(
          `gave up after ${number} attempt(s): waiting ${delayMs} ms would pass the deadline (${error instanceof Error ? error.message : String(error)})`,
          error,
        )
      }
      options.onRetry?.({ error, attempt: number, delayMs })
      await sleep(delayMs)
    }
  }
}

/** What every JSON API client takes: one attempt's timeout, the retry policy, and test seams. */
export interface JsonClientOptions {
  timeoutMs: number
  /** Retries after the first attempt. */
  retries?: number
  baseDelayMs?: number
  maxDelayMs?: number
  fetch?: typeof fetch
  sleep?: RetryOptions['sleep']
  now?: () => number
  random?: () => number
  onRetry?: RetryOptions['onRetry']
}

export interface JsonRequest<T> {
  url: string
  headers?: Record<string, string>
  /** Checks the body's shape and returns what the caller needs; a wrong shape throws {@link malformedShape}. */
  read: (body: unknown) => T
  /** What was asked, for a malformed body's record (`icons of size 32, attempt 2`). */
  describe: (attempt: number) => string
  deadline: number
  /** The client's own retry policy, for what the options leave unset. */
  policy: { retries: number; baseDelayMs: number; maxDelayMs: number }
  isRetryable?: (error: unknown) => boolean
}

export type JsonOutcome<T> = {
  /** Every garbled or wrongly shaped body met, one per attempt that got one. */
  malformed: MalformedBody[]
  attempts: number
} & ({ ok: true; value: T } | { ok: false; error: unknown })

/** A 2xx body of the wrong shape: treated like a garbled body (retried, then quarantined). */
export function malformedShape(url: string, body: unknown, why: string): MalformedBodyError {
  return new MalformedBodyError(url, 200, JSON.stringify(body) ?? String(body), why)
}

/**
 * {@link getJson} under {@link withRetry}, each attempt's timeout cut to the time left before
 * the deadline. It does not throw: the final error comes back with the malformed bodies met on
 * the way, because those must be quarantined whether or not a later attempt succeeded.
 */
export async function getJsonWithRetry<T>(
  request: JsonRequest<T>,
  options: JsonClientOptions,
): Promise<JsonOutcome<T>> {
  const malformed: MalformedBody[] = []
  let attempts = 0
  try {
    const value = await withRetry(
      async ({ attempt, remainingMs }) => {
        attempts = attempt
        try {
          const body = await getJson(request.url, {
            timeoutMs: Math.max(1, Math.min(options.timeoutMs, remainingMs)),
            headers: request.headers,
            fetch: options.fetch,
            now: options.now,
          })
          return request.read(body)
        } catch (error) {
          if (error instanceof MalformedBodyError)
            malformed.push({ detail: `${request.describe(attempt)}: ${error.message}`, body: error.body })
          throw error
        }
      },
      {
        retries: options.retries ?? request.policy.retries,
        baseDelayMs: options.baseDelayMs ?? request.policy.baseDelayMs,
        maxDelayMs: options.maxDelayMs ?? request.policy.maxDelayMs,
        deadline: request.deadline,
        isRetryable: request.isRetryable,
        sleep: options.sleep,
        now: options.now,
        random: options.random,
        onRetry: options.onRetry,
      },
    )
    return { ok: true, value, malformed, attempts }
  } catch (error) {
    return { ok: false, error, malformed, attempts }
  }
}
