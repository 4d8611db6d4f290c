import { describe, expect, it } from 'vitest'
import {
  DeadlineExceededError,
  getJson,
  getJsonWithRetry,
  HttpStatusError,
  isTransientError,
  MalformedBodyError,
  malformedShape,
  NetworkError,
  parseJsonExact,
  retryAfterMs,
  TimeoutError,
  withRetry,
} from '../../functions/shared/adapters/http.ts'

/** A fetch that answers from a function, and one that only ever ends by its abort signal. */
const answering =
  (respond: (url: string, init?: RequestInit) => Response): typeof fetch =>
  async (input, init) =>
    respond(String(input), init)

const hanging: typeof fetch = (_input, init) =>
  new Promise((_resolve, reject) => {
    init?.signal?.addEventListener('abort', () => reject(init.signal?.reason))
  })

const NOW = Date.parse('2026-11-30T08:15:00Z')

/** The error a promise rejects with, checked to be of the expected class. */
async function rejection<T extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => T,
): Promise<T> {
  const error = await promise.then(
    () => new Error('expected a rejection'),
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(type)
  return error as T
}

describe('parseJsonExact', () => {
  it('returns every number as its source text, so decimals never round', () => {
    const parsed = parseJsonExact('{"p":90000.123456789012345678,"v":8.473e-05,"n":12,"s":"x","a":[0.1,-2]}')
    expect(parsed).toEqual({
      p: '90000.123456789012345678',
      v: '8.473e-05',
      n: '12',
      s: 'x',
      a: ['0.1', '-2'],
    })
  })

  it('rejects what is not JSON', () => {
    expect(() => parseJsonExact('{"bars": {"BTC/USD": [')).toThrow(SyntaxError)
    expect(() => parseJsonExact('{"o": NaN}')).toThrow(SyntaxError)
  })
})

describe('retryAfterMs', () => {
  it('reads Retry-After in seconds', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '3' }), 429, NOW)).toBe(3000)
  })

  it('reads Retry-After as an HTTP date', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': 'Mon, 30 Nov 2026 08:15:07 GMT' }), 503, NOW)).toBe(7000)
    expect(retryAfterMs(new Headers({ 'retry-after': 'Mon, 30 Nov 2026 08:14:00 GMT' }), 503, NOW)).toBe(0)
  })

  it("reads Alpaca's X-RateLimit-Reset (epoch seconds) on a 429 only", () => {
    const headers = new Headers({ 'x-ratelimit-reset': String(NOW / 1000 + 12) })
    expect(retryAfterMs(headers, 429, NOW)).toBe(12_000)
    expect(retryAfterMs(headers, 200, NOW)).toBeUndefined()
  })

  it('prefers Retry-After over the reset time, and is undefined without either', () => {
    const headers = new Headers({ 'retry-after': '2', 'x-ratelimit-reset': String(NOW / 1000 + 40) })
    expect(retryAfterMs(headers, 429, NOW)).toBe(2000)
    expect(retryAfterMs(new Headers(), 429, NOW)).toBeUndefined()
  })
})

describe('getJson', () => {
  it('sends the headers and parses the body exactly', async () => {
    let seen: Headers | undefined
    const fetch = answering((_url, init) => {
      seen = new Headers(init?.headers)
      return new Response('{"bars":{"BTC/USD":[{"o":90000.10}]},"next_page_token":null}')
    })
    const body = await getJson('http://api/x', {
      timeoutMs: 1000,
      headers: { 'APCA-API-KEY-ID': 'k' },
      fetch,
    })
    expect(body).toEqual({ bars: { 'BTC/USD': [{ o: '90000.10' }] }, next_page_token: null })
    expect(seen?.get('apca-api-key-id')).toBe('k')
    expect(seen?.get('accept')).toBe('application/json')
  })

  it('throws HttpStatusError with the status and the server-given wait', async () => {
    const fetch = answering(
      () =>
        new Response('{"message":"rate limit exceeded"}', { status: 429, headers: { 'retry-after': '5' } }),
    )
    const error = await rejection(
      getJson('http://api/x?token=secret', { timeoutMs: 1000, fetch, now: () => NOW }),
      HttpStatusError,
    )
    expect(error.status).toBe(429)
    expect(error.retryAfterMs).toBe(5000)
    expect(error.message).not.toContain('secret')
  })

  it('throws MalformedBodyError keeping the whole body when a 2xx is not JSON', async () => {
    const fetch = answering(() => new Response('{"bars":{"BTC/USD":[{"t":"2026-'))
    const error = await rejection(getJson('http://api/x', { timeoutMs: 1000, fetch }), MalformedBodyError)
    expect(error.body).toBe('{"bars":{"BTC/USD":[{"t":"2026-')
  })

  it('throws TimeoutError when the server does not answer in time', async () => {
    const started = Date.now()
    const error = await rejection(getJson('http://api/x', { timeoutMs: 30, fetch: hanging }), TimeoutError)
    expect(error.timeoutMs).toBe(30)
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('rethrows the reason of an outside abort as is', async () => {
    const controller = new AbortController()
    const reason = new Error('shutting down')
    const pending = getJson('http://api/x', { timeoutMs: 10_000, fetch: hanging, signal: controller.signal })
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
  })

  it('wraps a connection failure in NetworkError', async () => {
    const fetch: typeof globalThis.fetch = async () => {
      throw new TypeError('fetch failed')
    }
    await expect(getJson('http://api/x', { timeoutMs: 1000, fetch })).rejects.toBeInstanceOf(NetworkError)
  })

  it('times out a real server that stalls after the headers', async () => {
    const { createServer } = await import('node:http')
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"bars":')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    try {
      await rejection(getJson(`http://127.0.0.1:${port}/`, { timeoutMs: 50 }), TimeoutError)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('isTransientError', () => {
  it('retries rate limits, server errors, timeouts, dropped connections and garbled bodies only', () => {
    expect(isTransientError(new HttpStatusError('u', 429, 1000, ''))).toBe(true)
    expect(isTransientError(new HttpStatusError('u', 503, undefined, ''))).toBe(true)
    expect(isTransientError(new HttpStatusError('u', 408, undefined, ''))).toBe(true)
    expect(isTransientError(new TimeoutError('u', 10))).toBe(true)
    expect(isTransientError(new NetworkError('u', new Error('reset')))).toBe(true)
    expect(isTransientError(new MalformedBodyError('u', 200, 'x', 'bad'))).toBe(true)
    expect(isTransientError(new HttpStatusError('u', 400, undefined, ''))).toBe(false)
    expect(isTransientError(new HttpStatusError('u', 403, undefined, ''))).toBe(false)
    expect(isTransientError(new Error('bug'))).toBe(false)
  })
})

/** A fake clock that sleeping advances, so retry timing is checked without waiting. */
function fakeTime(start = 0) {
  let now = start
  const sleeps: number[] = []
  return {
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms)
      now += ms
    },
    advance: (ms: number) => {
      now += ms
    },
    sleeps,
  }
}

describe('withRetry', () => {
  const base = { retries: 4, baseDelayMs: 100, maxDelayMs: 1000 }

  it('retries transient errors with exponential backoff and equal jitter', async () => {
    const time = fakeTime()
    let calls = 0
    const result = await withRetry(
      async () => {
        calls++
        if (calls < 4) throw new HttpStatusError('u', 500, undefined, '')
        return 'ok'
      },
      { ...base, now: time.now, sleep: time.sleep, random: () => 0 },
    )
    expect(result).toBe('ok')
    expect(calls).toBe(4)
    // random() = 0 takes the fixed half of 100, 200, 400.
    expect(time.sleeps).toEqual([50, 100, 200])
  })

  it('caps the backoff at maxDelayMs (random() near 1 gives the full delay)', async () => {
    const time = fakeTime()
    let calls = 0
    await withRetry(
      async () => {
        if (++calls < 6) throw new TimeoutError('u', 1)
        return calls
      },
      { ...base, retries: 5, now: time.now, sleep: time.sleep, random: () => 0.999999 },
    )
    expect(time.sleeps).toEqual([100, 200, 400, 800, 1000])
  })

  it("honours the server's Retry-After plus a little jitter", async () => {
    const time = fakeTime()
    let calls = 0
    await withRetry(
      async () => {
        if (++calls === 1) throw new HttpStatusError('u', 429, 3000, '')
        return calls
      },
      { ...base, now: time.now, sleep: time.sleep, random: () => 0.5 },
    )
    expect(time.sleeps).toEqual([3050])
  })

  it('does not retry errors that are not transient', async () => {
    const time = fakeTime()
    let calls = 0
    const error = new HttpStatusError('u', 400, undefined, 'invalid symbol')
    await expect(
      withRetry(
        async () => {
          calls++
          throw error
        },
        { ...base, now: time.now, sleep: time.sleep },
      ),
    ).rejects.toBe(error)
    expect(calls).toBe(1)
    expect(time.sleeps).toEqual([])
  })

  it('gives up after the retry budget with the last error', async () => {
    const time = fakeTime()
    let calls = 0
    const error = await rejection(
      withRetry(
        async () => {
          calls++
          throw new HttpStatusError('u', 502, undefined, String(calls))
        },
        { ...base, retries: 2, now: time.now, sleep: time.sleep, random: () => 0 },
      ),
      HttpStatusError,
    )
    expect(calls).toBe(3)
    expect(error.bodySnippet).toBe('3')
  })

  it('never sleeps past the deadline: it stops instead', async () => {
    const time = fakeTime(10_000)
    let calls = 0
    const error = await rejection(
      withRetry(
        async () => {
          calls++
          time.advance(100)
          throw new HttpStatusError('u', 429, 2000, '')
        },
        { ...base, deadline: 13_000, now: time.now, sleep: time.sleep, random: () => 0 },
      ),
      DeadlineExceededError,
    )
    // 10000 -> attempt (100 ms) -> sleep 2000 -> attempt (100 ms) at 12200: another 2000 ms would end at 14200.
    expect(calls).toBe(2)
    expect(time.sleeps).toEqual([2000])
    expect(time.now()).toBeLessThanOrEqual(13_000)
    expect(error.cause).toBeInstanceOf(HttpStatusError)
  })

  it('passes the time left to the attempt and starts none after the deadline', async () => {
    const time = fakeTime(1000)
    const remaining: number[] = []
    await expect(
      withRetry(
        async ({ remainingMs }) => {
          remaining.push(remainingMs)
          time.advance(remainingMs)
          throw new TimeoutError('u', remainingMs)
        },
        { ...base, deadline: 1500, now: time.now, sleep: time.sleep },
      ),
    ).rejects.toBeInstanceOf(DeadlineExceededError)
    expect(remaining).toEqual([500])
  })
})

describe('getJsonWithRetry', () => {
  const URL = 'https://api.example.com/v1/things'
  const read = (body: unknown) => {
    if (!Array.isArray(body)) throw malformedShape(URL, body, 'the body is not a list')
    return body
  }
  const request = {
    url: URL,
    read,
    describe: (attempt: number) => `things, attempt ${attempt}`,
    deadline: NOW + 60_000,
    policy: { retries: 2, baseDelayMs: 10, maxDelayMs: 100 },
  }
  const seams = { timeoutMs: 1_000, now: () => NOW, sleep: async () => {}, random: () => 0 }

  it('keeps every garbled or wrongly shaped body, also when a later attempt succeeds', async () => {
    const bodies = ['[1, 2', '{"things": []}', '[1,2]']
    const fetch = answering(() => new Response(bodies.shift(), { status: 200 }))
    const outcome = await getJsonWithRetry(request, { ...seams, fetch })
    expect(outcome).toEqual({
      ok: true,
      value: ['1', '2'],
      attempts: 3,
      malformed: [
        {
          detail: expect.stringMatching(/^things, attempt 1: GET .* returned a body that is not JSON/),
          body: '[1, 2',
        },
        {
          detail: `things, attempt 2: GET ${URL} returned a body that is not JSON: the body is not a list`,
          body: '{"things":[]}',
        },
      ],
    })
  })

  it('returns the last error with the attempts made once the policy runs out, instead of throwing', async () => {
    const fetch = answering(() => new Response('busy', { status: 503 }))
    const outcome = await getJsonWithRetry(request, { ...seams, fetch })
    expect(outcome.ok).toBe(false)
    expect(outcome.attempts).toBe(3)
    expect(outcome.malformed).toEqual([])
    if (!outcome.ok) expect((outcome.error as HttpStatusError).status).toBe(503)
  })

  it('lets the options override the client policy, and the request decide what is retryable', async () => {
    const fetch = answering(() => new Response('busy', { status: 503 }))
    const once = await getJsonWithRetry(request, { ...seams, fetch, retries: 0 })
    expect(once.attempts).toBe(1)
    const never = await getJsonWithRetry({ ...request, isRetryable: () => false }, { ...seams, fetch })
    expect(never.attempts).toBe(1)
  })
})
