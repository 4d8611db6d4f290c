/**
 * pollBars when something fails: a symbol's send, a chunk, a fetch, a rejected request, the
 * deadline. What was acknowledged stays emitted and saved; the run throws with its summary.
 */
import { describe, expect, it } from 'vitest'
import { PollBarsError } from '../../functions/poll-bars/summary.ts'
import { HttpStatusError, TimeoutError } from '../../functions/shared/adapters/http.ts'
import type { FetchBars, FetchedBars } from '../../functions/shared/ports.ts'
import { at, btcAndLtc, harness, minutes, raw } from '../helpers/poll-bars.ts'

describe('pollBars', () => {
  it('one failing symbol does not block the other: it is emitted and saved, then the run throws', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '08:20'),
      now: '2026-11-30T08:15:30Z',
      producerFails: (records) => records[0]?.key === 'BTC/USD',
    })
    const error = await h.run().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PollBarsError)
    const summary = (error as PollBarsError).summary
    expect(summary.perSymbol['BTC/USD']).toMatchObject({
      status: 'failed',
      emitted: 0,
      error: 'broker unavailable (call 1)',
    })
    expect(summary.perSymbol['LTC/USD']).toMatchObject({ status: 'ok', emitted: 5, watermark: at('08:14') })
    expect(h.events().map((e) => e.symbol)).toEqual(Array(5).fill('LTC/USD'))
    expect(h.watermarks.current()).toEqual({ 'LTC/USD': at('08:14') })
    expect(h.counter.counts.filter((c) => c.name === 'SymbolPollFailures')).toEqual([
      { name: 'SymbolPollFailures', value: 1, dimensions: { Symbol: 'BTC/USD' } },
    ])
  })

  it('the watermark moves only past acknowledged sends', async () => {
    const h = harness({
      market: btcAndLtc('08:00', '08:20'),
      now: '2026-11-30T08:15:30Z',
      config: { symbols: ['BTC/USD'], produceChunkSize: 2 },
      producerFails: (_records, call) => call === 2,
    })
    await expect(h.run()).rejects.toBeInstanceOf(PollBarsError)
    // Chunk 1 (08:10, 08:11) acknowledged; chunk 2 failed; chunk 3 never sent.
    expect(h.events().map((e) => e.start)).toEqual([at('08:10'), at('08:11')])
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:11') })
    h.setNow('2026-11-30T08:16:00Z')
    await h.run()
    expect(h.events().map((e) => e.start)).toEqual(minutes('08:10', '08:15'))
  })

  it('emits the pages received before a fetch failure and resumes after them', async () => {
    const fetchBars: FetchBars = async () => ({
      bars: { 'BTC/USD': minutes('08:10', '08:12').map((t) => raw(t)) },
      malformed: [],
      error: new TimeoutError('http://api/bars', 10_000),
    })
    const h = harness({ fetchBars, now: '2026-11-30T08:15:30Z', config: { symbols: ['BTC/USD'] } })
    const error = (await h.run().catch((e: unknown) => e)) as PollBarsError
    expect(error.summary.perSymbol['BTC/USD']).toMatchObject({ status: 'failed', emitted: 3 })
    expect(error.message).toContain('timed out')
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:12') })
  })

  it('tries each symbol alone when the API rejects a request, so one bad symbol does not block the others', async () => {
    const calls: string[][] = []
    const fetchBars: FetchBars = async (symbols): Promise<FetchedBars> => {
      calls.push(symbols)
      if (symbols.includes('BAD/USD'))
        return { bars: {}, malformed: [], error: new HttpStatusError('u', 400, undefined, 'invalid symbol') }
      return { bars: { 'BTC/USD': [raw(at('08:14'))] }, malformed: [] }
    }
    const h = harness({
      fetchBars,
      now: '2026-11-30T08:15:30Z',
      config: { symbols: ['BTC/USD', 'BAD/USD'], initialLookbackMinutes: 1 },
    })
    const error = (await h.run().catch((e: unknown) => e)) as PollBarsError
    expect(calls).toEqual([['BTC/USD', 'BAD/USD'], ['BTC/USD'], ['BAD/USD']])
    expect(error.summary.perSymbol['BTC/USD']).toMatchObject({ status: 'ok', emitted: 1 })
    expect(error.summary.perSymbol['BAD/USD']?.status).toBe('failed')
    expect(h.watermarks.current()).toEqual({ 'BTC/USD': at('08:14') })
  })

  it('does not start a fetch it has no time for', async () => {
    const h = harness({ market: btcAndLtc('08:00', '08:20'), now: '2026-11-30T08:15:30Z' })
    const error = (await h
      .run({ deadline: Date.parse('2026-11-30T08:15:31Z') })
      .catch((e: unknown) => e)) as PollBarsError
    expect(h.api.calls).toEqual([])
    expect(error.summary.perSymbol['BTC/USD']).toMatchObject({
      status: 'failed',
      error: 'no time left before the deadline',
    })
  })
})
