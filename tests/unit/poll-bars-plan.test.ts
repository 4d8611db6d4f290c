/**
 * When pollBars polls: the last closed minute, the request windows per symbol from the
 * watermarks (bounded by the backfill limit), and the wait for the poll second.
 */
import { describe, expect, it } from 'vitest'
import { waitForPollSecond } from '../../functions/poll-bars/core.ts'
import { closedMinuteEnd, planBarRequests } from '../../functions/poll-bars/plan.ts'
import type { Watermarks } from '../../functions/poll-bars/watermark.ts'
import { at, config } from '../helpers/poll-bars.ts'

describe('closedMinuteEnd', () => {
  it('is the start of the current minute: every bar before it is complete', () => {
    expect(closedMinuteEnd(new Date('2026-11-30T08:15:42.123Z')).toISOString()).toBe(
      '2026-11-30T08:15:00.000Z',
    )
    expect(closedMinuteEnd(new Date('2026-11-30T08:15:00.000Z')).toISOString()).toBe(
      '2026-11-30T08:15:00.000Z',
    )
  })
})

describe('planBarRequests', () => {
  const plan = (watermarks: Watermarks, now: string, backfillMaxMinutes = 1440) =>
    planBarRequests({
      symbols: ['BTC/USD', 'LTC/USD'],
      watermarks,
      now: new Date(now),
      backfillMaxMinutes,
      initialLookbackMinutes: 5,
    })

  it('without a watermark, polls the initial lookback up to the last closed minute', () => {
    const { requests, plans, upToDate } = plan({}, '2026-11-30T08:15:30Z')
    expect(requests).toEqual([{ symbols: ['BTC/USD', 'LTC/USD'], start: at('08:10'), end: at('08:14') }])
    expect(plans.map((p) => p.truncatedMinutes)).toEqual([0, 0])
    expect(upToDate).toEqual([])
  })

  it('resumes after each watermark; symbols with different windows get different requests', () => {
    const { requests } = plan({ 'BTC/USD': at('08:12'), 'LTC/USD': at('08:03') }, '2026-11-30T08:15:00Z')
    expect(requests).toEqual([
      { symbols: ['BTC/USD'], start: at('08:13'), end: at('08:14') },
      { symbols: ['LTC/USD'], start: at('08:04'), end: at('08:14') },
    ])
  })

  it('a symbol whose watermark is the last closed minute is up to date', () => {
    const { requests, upToDate } = plan(
      { 'BTC/USD': at('08:14'), 'LTC/USD': at('08:13') },
      '2026-11-30T08:15:59Z',
    )
    expect(upToDate).toEqual(['BTC/USD'])
    expect(requests).toEqual([{ symbols: ['LTC/USD'], start: at('08:14'), end: at('08:14') }])
  })

  it('never reaches further back than the backfill bound, and says how much it skipped', () => {
    const { requests, plans } = plan(
      { 'BTC/USD': at('06:00'), 'LTC/USD': at('07:30') },
      '2026-11-30T08:15:10Z',
      60,
    )
    // Bound: 08:15 - 60 min = 07:15. BTC wanted 06:01 -> 74 minutes (06:01..07:14) are skipped.
    expect(requests).toEqual([
      { symbols: ['BTC/USD'], start: at('07:15'), end: at('08:14') },
      { symbols: ['LTC/USD'], start: at('07:31'), end: at('08:14') },
    ])
    expect(plans.map((p) => [p.symbol, p.truncatedMinutes])).toEqual([
      ['BTC/USD', 74],
      ['LTC/USD', 0],
    ])
  })

  it('a first poll is bounded too, without counting minutes as lost', () => {
    const { requests, plans } = planBarRequests({
      symbols: ['BTC/USD'],
      watermarks: {},
      now: new Date('2026-11-30T08:15:10Z'),
      backfillMaxMinutes: 10,
      initialLookbackMinutes: 30,
    })
    expect(requests).toEqual([{ symbols: ['BTC/USD'], start: at('08:05'), end: at('08:14') }])
    expect(plans[0]?.truncatedMinutes).toBe(0)
  })

  it('the default bound is 24 hours', () => {
    const { requests, plans } = plan(
      { 'BTC/USD': at('08:00', '2026-11-27'), 'LTC/USD': at('08:14') },
      '2026-11-30T08:15:00Z',
    )
    expect(requests).toEqual([{ symbols: ['BTC/USD'], start: at('08:15', '2026-11-29'), end: at('08:14') }])
    expect(plans[0]?.truncatedMinutes).toBe(2 * 1440 + 14)
  })
})

describe('waitForPollSecond', () => {
  const wait = async (now: string, scheduledAt: string, deadline = Number.POSITIVE_INFINITY) => {
    const sleeps: number[] = []
    await waitForPollSecond(new Date(scheduledAt), deadline, {
      clock: () => new Date(now),
      sleep: async (ms) => {
        sleeps.push(ms)
      },
      config: { ...config, pollAtSecond: 3 },
    })
    return sleeps
  }

  it('waits until the configured second of the scheduled minute', async () => {
    expect(await wait('2026-11-30T08:16:00.400Z', '2026-11-30T08:16:00Z')).toEqual([2600])
  })

  it('never for more than half the time left before the deadline', async () => {
    const deadline = Date.parse('2026-11-30T08:16:02.400Z')
    expect(await wait('2026-11-30T08:16:00.400Z', '2026-11-30T08:16:00Z', deadline)).toEqual([1000])
  })

  it('not at all when already past it, or when the clock is behind the scheduled minute', async () => {
    expect(await wait('2026-11-30T08:16:05Z', '2026-11-30T08:16:00Z')).toEqual([])
    expect(await wait('2026-11-30T08:15:58Z', '2026-11-30T08:16:00Z')).toEqual([])
  })
})
