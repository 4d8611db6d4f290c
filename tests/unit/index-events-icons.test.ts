import { describe, expect, it } from 'vitest'
import { indexEvents, toBulkDoc } from '../../functions/index-events/core.ts'
import { baseAssetOf, cachedIconSource } from '../../functions/index-events/icons.ts'
import { asset, trade } from '../helpers/events.ts'
import { recordingIndex } from '../helpers/fakes.ts'
import { mskEvent, mskRecord } from '../helpers/msk.ts'

const key = 'k'.repeat(32)
const counter = { count() {} }

describe('asset icons on trades', () => {
  it('takes the base asset of a pair', () => {
    expect(baseAssetOf('BTC/USD')).toBe('BTC')
    expect(baseAssetOf('DOGE/USDT')).toBe('DOGE')
  })

  it('attaches the icon URL to a trade document only when there is one', () => {
    expect(
      toBulkDoc('crypto.trades', trade(), key, 'https://icons.example.com/BTC.png').doc.asset_icon_url,
    ).toBe('https://icons.example.com/BTC.png')
    expect(toBulkDoc('crypto.trades', trade(), key).doc).not.toHaveProperty('asset_icon_url')
  })

  it('asks the lookup once per asset within the TTL, misses included', async () => {
    let now = 0
    const asked: string[][] = []
    const icons = cachedIconSource(
      async (ids) => {
        asked.push(ids)
        return new Map(ids.filter((id) => id === 'BTC').map((id) => [id, `https://i/${id}.png`]))
      },
      { ttlMs: 1000, now: () => now },
    )
    expect(await icons.iconsFor(['BTC', 'ETH', 'BTC'])).toEqual(new Map([['BTC', 'https://i/BTC.png']]))
    now = 999
    expect(await icons.iconsFor(['ETH', 'BTC'])).toEqual(new Map([['BTC', 'https://i/BTC.png']]))
    now = 1000
    await icons.iconsFor(['BTC'])
    expect(asked).toEqual([['BTC', 'ETH'], ['BTC']])
  })

  it('uses the icon of an asset event in the same batch, and indexes trades without icons when the lookup fails', async () => {
    const index = recordingIndex()
    const failing = cachedIconSource(
      async () => {
        throw new Error('connect ECONNREFUSED')
      },
      { ttlMs: 60_000 },
    )
    const lookupErrors: unknown[] = []
    const deps = {
      index,
      piiKey: key,
      counter,
      sleep: async () => {},
      quarantine: async () => {},
      icons: failing,
      onIconLookupError: (error: unknown) => lookupErrors.push(error),
    }
    const ethTrade = { ...trade('202611301000-0002'), symbol: 'ETH/USD' }
    const response = await indexEvents(
      mskEvent([
        mskRecord('crypto.assets', 0, 1, asset('BTC')),
        mskRecord('crypto.trades', 0, 1, trade()),
        mskRecord('crypto.trades', 0, 2, { ...ethTrade, event_id: 'sim:202611301000-0002' }),
      ]),
      deps,
    )
    expect(response.batchItemFailures).toEqual([])
    expect(lookupErrors).toHaveLength(1)
    const byId = Object.fromEntries(index.calls.flat().map((d) => [d.id, d.doc.asset_icon_url]))
    expect(byId).toEqual({
      BTC: undefined,
      'sim:202611301000-0001': undefined,
      'sim:202611301000-0002': undefined,
    })
  })
})
