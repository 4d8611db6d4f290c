/** The Alpaca simulator's realistic timing: minutes published late and recalculated, like Alpaca. */
import { describe, expect, it } from 'vitest'
import { DEFAULT_TIMING, isRecalculated, resolveTiming } from '../../local/simulators/alpaca.ts'
import { type BarsBody, barsPath, simulator } from '../helpers/alpaca-simulator.ts'

describe('alpaca simulator: realistic timing (like Alpaca)', () => {
  const minute = (hhmm: string) =>
    barsPath(`symbols=BTC/USD&start=2026-11-30T${hhmm}:00Z&end=2026-11-30T${hhmm}:00Z`)
  const barOf = async (get: (path: string) => Promise<{ text: string }>, hhmm: string) =>
    (JSON.parse((await get(minute(hhmm))).text) as BarsBody).bars['BTC/USD']?.[0]
  // Seed 1, BTC/USD: 08:01 is one of the recalculated bars, 08:03 is not.
  const PRELIMINARY_0801 = {
    o: 92340.39,
    h: 92345.7,
    l: 92278.91,
    c: 92291.13,
    v: 0.06861805,
    n: 6,
    vw: 92319.61,
  }
  const FINAL_0801 = { o: 92340.39, h: 92360.91, l: 92240.6, c: 92276.43, v: 0.09738049, n: 7, vw: 92269.31 }
  const FINAL_0803 = { o: 92306.13, h: 92351.52, l: 92277.49, c: 92324.66, v: 0.47275126, n: 15, vw: 92346.8 }

  it('is the default: 1 s publication delay, 30 % recalculated 30 s later', async () => {
    expect(DEFAULT_TIMING).toEqual({
      mode: 'realistic',
      publishDelayMs: 1000,
      recalcDelayMs: 30000,
      recalcFraction: 0.3,
    })
    expect(resolveTiming(undefined)).toEqual(DEFAULT_TIMING)
    expect(resolveTiming('ideal')).toEqual({
      mode: 'ideal',
      publishDelayMs: 0,
      recalcDelayMs: 0,
      recalcFraction: 0,
    })
    expect(() => resolveTiming({ mode: 'realistic', recalcFraction: 2 })).toThrow(/recalcFraction/)
  })

  it('serves a bar only publishDelayMs after its minute closed', async () => {
    const { get, setNow } = await simulator({
      seed: 1,
      timing: { mode: 'realistic' },
      at: '2026-11-30T08:04:00.999Z',
    })
    expect(await barOf(get, '08:03')).toBeUndefined()
    setNow('2026-11-30T08:04:01Z')
    expect(await barOf(get, '08:03')).toEqual({ t: '2026-11-30T08:03:00Z', ...FINAL_0803 })
    // Not recalculated: the same bar a minute later.
    setNow('2026-11-30T08:05:10Z')
    expect(await barOf(get, '08:03')).toEqual({ t: '2026-11-30T08:03:00Z', ...FINAL_0803 })
  })

  it('serves a recalculated bar first in its preliminary version, then in its final one', async () => {
    const { sim, get, setNow } = await simulator({
      seed: 1,
      timing: { mode: 'realistic' },
      at: '2026-11-30T08:02:01Z',
    })
    expect(await barOf(get, '08:01')).toEqual({ t: '2026-11-30T08:01:00Z', ...PRELIMINARY_0801 })
    setNow('2026-11-30T08:02:30.999Z')
    expect(await barOf(get, '08:01')).toEqual({ t: '2026-11-30T08:01:00Z', ...PRELIMINARY_0801 })
    setNow('2026-11-30T08:02:31Z')
    expect(await barOf(get, '08:01')).toEqual({ t: '2026-11-30T08:01:00Z', ...FINAL_0801 })
    // The preliminary version is a valid bar too: open and close within [low, high].
    expect(PRELIMINARY_0801.l).toBeLessThanOrEqual(Math.min(PRELIMINARY_0801.o, PRELIMINARY_0801.c))
    expect(PRELIMINARY_0801.h).toBeGreaterThanOrEqual(Math.max(PRELIMINARY_0801.o, PRELIMINARY_0801.c))
    expect(sim.stats()).toMatchObject({ preliminaryBarsServed: 2, recalculatedBarsServed: 1 })
  })

  it('delays and recalculation are options', async () => {
    const { get, setNow } = await simulator({
      seed: 1,
      timing: { mode: 'realistic', publishDelayMs: 3000, recalcDelayMs: 10000 },
      at: '2026-11-30T08:02:02.999Z',
    })
    expect(await barOf(get, '08:01')).toBeUndefined()
    setNow('2026-11-30T08:02:03Z')
    expect(await barOf(get, '08:01')).toMatchObject(PRELIMINARY_0801)
    setNow('2026-11-30T08:02:13Z')
    expect(await barOf(get, '08:01')).toMatchObject(FINAL_0801)
  })

  it('recalculates about the configured fraction of the minutes, the same ones every time', async () => {
    const { get } = await simulator({ seed: 1, timing: { mode: 'realistic' }, at: '2026-11-30T12:00:00Z' })
    const { sim: other } = await simulator({
      seed: 1,
      timing: { mode: 'realistic' },
      at: '2026-11-30T12:00:00Z',
    })
    const body = async (url: string) =>
      JSON.parse(
        await (
          await fetch(
            `${url}${barsPath('symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T11:19:00Z')}`,
          )
        ).text(),
      )
    // All 200 minutes are long past their recalculation: both simulators serve the final bars.
    expect(
      JSON.parse(
        (await get(barsPath('symbols=BTC/USD&start=2026-11-30T08:00:00Z&end=2026-11-30T11:19:00Z'))).text,
      ),
    ).toEqual(await body(other.url))
    const recalculated = Array.from({ length: 200 }, (_, i) => i).filter((i) =>
      isRecalculated(1, 'BTC/USD', Date.parse('2026-11-30T08:00:00Z') / 60_000 + i, 0.3),
    )
    expect(recalculated.length).toBe(61)
  })

  it('latest/bars and latest/quotes follow the version being served', async () => {
    const { get, setNow } = await simulator({
      seed: 1,
      timing: { mode: 'realistic' },
      at: '2026-11-30T08:02:00.500Z',
    })
    // 08:01 is not published yet: the latest bar is 08:00's.
    let latest = JSON.parse((await get('/v1beta3/crypto/us/latest/bars?symbols=BTC/USD')).text)
    expect(latest.bars['BTC/USD'].t).toBe('2026-11-30T08:00:00Z')
    setNow('2026-11-30T08:02:05Z')
    latest = JSON.parse((await get('/v1beta3/crypto/us/latest/bars?symbols=BTC/USD')).text)
    expect(latest.bars['BTC/USD']).toEqual({ t: '2026-11-30T08:01:00Z', ...PRELIMINARY_0801 })
    let quote = JSON.parse((await get('/v1beta3/crypto/us/latest/quotes?symbols=BTC/USD')).text).quotes[
      'BTC/USD'
    ]
    expect(quote.bp).toBeLessThan(PRELIMINARY_0801.c)
    expect(quote.ap).toBeGreaterThan(PRELIMINARY_0801.c)
    setNow('2026-11-30T08:02:40Z')
    latest = JSON.parse((await get('/v1beta3/crypto/us/latest/bars?symbols=BTC/USD')).text)
    expect(latest.bars['BTC/USD']).toEqual({ t: '2026-11-30T08:01:00Z', ...FINAL_0801 })
    quote = JSON.parse((await get('/v1beta3/crypto/us/latest/quotes?symbols=BTC/USD')).text).quotes['BTC/USD']
    expect(quote.bp).toBeLessThan(FINAL_0801.c)
    expect(quote.ap).toBeGreaterThan(FINAL_0801.c)
  })
})
