import { describe, expect, it } from 'vitest'
import {
  InvalidWindow,
  isGivenWindow,
  type LandedMarker,
  markerChanged,
  planWindow,
  resolveWindow,
} from '../../functions/lake-window/core.ts'
import { tokenize } from '../../functions/shared/pii.ts'

const marker = (topic: string, hour: string, lastModified: string): LandedMarker => ({
  key: `raw/_lake/landed/${topic}/dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}.json`,
  topic,
  hourStart: Date.parse(hour),
  lastModified: new Date(lastModified),
})

describe('resolveWindow (a given window)', () => {
  it('keeps a given window for the refresh and quality, and derives the token from it (and a rerun number)', () => {
    expect(
      resolveWindow({
        input: { window: { start: '2026-11-01T00:00:00Z', end: '2026-11-08T00:00:00Z' }, rerun: 2 },
        now: '2026-11-30T10:15:42Z',
      }),
    ).toEqual({
      start: '2026-11-01T00:00:00Z',
      end: '2026-11-08T00:00:00Z',
      quality: { start: '2026-11-01T00:00:00Z', end: '2026-11-08T00:00:00Z' },
      token: 'lake-20261101T0000Z-20261108T0000Z-r2',
      skip: false,
    })
  })

  it.each([
    [{ start: '2026-11-30T11:00:00Z', end: '2026-11-30T10:00:00Z' }, 'must be before end'],
    [{ start: '2026-11-30T10:00:00Z', end: '2026-11-30T10:00:00Z' }, 'must be before end'],
    [{ start: '2026-11-01T00:00:00Z', end: '2026-11-08T00:00:01Z' }, 'longer than 7 days'],
    [{ start: 'yesterday', end: '2026-11-08T00:00:00Z' }, 'window.start'],
    [{ start: '2026-11-01T00:00:00Z' }, 'window.end'],
  ])('refuses %j', (window, message) => {
    const attempt = () => resolveWindow({ input: { window }, now: '2026-11-30T10:15:42Z' })
    expect(attempt).toThrow(InvalidWindow)
    expect(attempt).toThrow(message)
  })

  it('tells a given window from a scheduled input', () => {
    expect(isGivenWindow({ input: {}, now: '2026-11-30T10:07:03Z' })).toBe(false)
    expect(
      isGivenWindow({
        input: { window: { start: '2026-11-30T09:00:00Z', end: '2026-11-30T10:00:00Z' } },
        now: '2026-11-30T10:07:03Z',
      }),
    ).toBe(true)
  })
})

describe('planWindow (a scheduled run)', () => {
  // The previous success listed at 09:07:05 and judged until 09:04.
  const checkpoint = {
    listed_at: '2026-11-30T09:07:05.000Z',
    judged_until: '2026-11-30T09:04:00Z',
    seen: { 'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=09.json': '2026-11-30T09:06:59.000Z' },
  }
  const now = '2026-11-30T10:07:02.120Z'
  const listedAt = new Date('2026-11-30T10:07:03.500Z')

  it('refreshes the partitions changed since the checkpoint, from the hour quality last reached, and judges up to the settled minute', () => {
    const window = planWindow({
      now,
      listedAt,
      checkpoint,
      markers: [
        marker('crypto.bars', '2026-11-30T09:00:00Z', '2026-11-30T10:00:04Z'),
        marker('crypto.bars', '2026-11-30T10:00:00Z', '2026-11-30T10:06:05Z'),
        marker('crypto.trades', '2026-11-30T10:00:00Z', '2026-11-30T10:06:01Z'),
        // untouched since long before the checkpoint
        marker('crypto.assets', '2026-11-30T00:00:00Z', '2026-11-30T00:00:09Z'),
      ],
    })
    expect(window).toEqual({
      start: '2026-11-30T09:00:00Z',
      end: '2026-11-30T11:00:00Z',
      quality: { start: '2026-11-30T09:00:00Z', end: '2026-11-30T10:04:00Z' },
      token: 'lake-20261130T0900Z-20261130T1100Z-p1007',
      skip: false,
      partitions: 3,
      outside: 0,
      checkpoint: expect.any(Object),
    })
    // The margin of this listing (from 09:57:03.5 on) is remembered with its dates.
    expect(window.checkpoint).toEqual({
      listed_at: '2026-11-30T10:07:03.500Z',
      judged_until: '2026-11-30T10:04:00Z',
      seen: {
        'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=09.json': '2026-11-30T10:00:04.000Z',
        'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json': '2026-11-30T10:06:05.000Z',
        'raw/_lake/landed/crypto.trades/dt=2026-11-30/hour=10.json': '2026-11-30T10:06:01.000Z',
      },
    })
  })

  it('reaches back to a backfilled partition 20 h old, and counts what lies beyond the 48 h bound', () => {
    const window = planWindow({
      now,
      listedAt,
      checkpoint,
      markers: [
        marker('crypto.bars', '2026-11-29T14:00:00Z', '2026-11-30T09:50:00Z'),
        marker('crypto.bars', '2026-11-28T09:00:00Z', '2026-11-30T09:50:00Z'),
        marker('crypto.bars', '2026-11-28T10:00:00Z', '2026-11-30T09:50:00Z'),
      ],
    })
    // Bound: floor(10:07:02 - 48 h) = 2026-11-28T10:00; 09:00 that day is out, 10:00 is in.
    expect(window).toMatchObject({
      start: '2026-11-28T10:00:00Z',
      end: '2026-11-30T11:00:00Z',
      quality: { start: '2026-11-28T10:00:00Z', end: '2026-11-30T10:04:00Z' },
      partitions: 2,
      outside: 1,
      skip: false,
    })
  })

  it('takes a marker dated inside the lookback before the last listing unless that listing saw it so', () => {
    const markers = [
      // seen at 09:06:59 by the last listing: not again
      marker('crypto.bars', '2026-11-30T09:00:00Z', '2026-11-30T09:06:59Z'),
      // dated 09:06:30, before the last listing at 09:07:05, but not in it (its PUT was in flight)
      marker('crypto.trades', '2026-11-30T08:00:00Z', '2026-11-30T09:06:30Z'),
      // dated before the lookback (08:57:05): an old, already refreshed landing
      marker('crypto.assets', '2026-11-30T00:00:00Z', '2026-11-30T08:57:00Z'),
    ]
    expect(planWindow({ now, listedAt, checkpoint, markers })).toMatchObject({
      start: '2026-11-30T08:00:00Z',
      end: '2026-11-30T11:00:00Z',
      partitions: 1,
    })
  })

  it('skips when nothing landed since the last success', () => {
    const window = planWindow({
      now,
      listedAt,
      checkpoint,
      markers: [
        marker('crypto.bars', '2026-11-30T09:00:00Z', '2026-11-30T09:06:59Z'),
        marker('crypto.assets', '2026-11-30T00:00:00Z', '2026-11-30T00:00:09Z'),
      ],
    })
    expect(window).toMatchObject({ skip: true, partitions: 0, outside: 0 })
    expect(window.checkpoint).toBeUndefined()
  })

  it('picks up, on the next run, a partition that landed while the previous refresh ran', () => {
    const first = planWindow({
      now,
      listedAt,
      checkpoint,
      markers: [marker('crypto.bars', '2026-11-30T10:00:00Z', '2026-11-30T10:06:05Z')],
    })
    // While that refresh runs, hour 10 of trades lands (10:09) and hour 10 of bars again (10:11).
    const next = planWindow({
      now: '2026-11-30T11:07:01Z',
      listedAt: new Date('2026-11-30T11:07:02Z'),
      checkpoint: first.checkpoint,
      markers: [
        marker('crypto.bars', '2026-11-30T10:00:00Z', '2026-11-30T10:11:00Z'),
        marker('crypto.trades', '2026-11-30T10:00:00Z', '2026-11-30T10:09:00Z'),
      ],
    })
    expect(next).toMatchObject({
      start: '2026-11-30T10:00:00Z',
      end: '2026-11-30T12:00:00Z',
      quality: { start: '2026-11-30T10:00:00Z', end: '2026-11-30T11:04:00Z' },
      token: 'lake-20261130T1000Z-20261130T1200Z-p1107',
      partitions: 2,
    })
  })

  it('plans every marker within the bound on the first run (no checkpoint yet)', () => {
    expect(
      planWindow({
        now,
        listedAt,
        checkpoint: undefined,
        markers: [
          marker('crypto.bars', '2026-11-30T10:00:00Z', '2026-11-30T10:06:05Z'),
          marker('crypto.assets', '2026-11-30T00:00:00Z', '2026-11-30T00:00:09Z'),
        ],
      }),
    ).toMatchObject({
      start: '2026-11-30T00:00:00Z',
      end: '2026-11-30T11:00:00Z',
      quality: { start: '2026-11-30T00:00:00Z', end: '2026-11-30T10:04:00Z' },
      partitions: 2,
    })
  })

  it('keeps client tokens inside the EMR pattern with room for the state suffix', () => {
    const { token } = planWindow({
      now,
      listedAt,
      checkpoint: undefined,
      rerun: 999,
      markers: [marker('crypto.bars', '2026-11-28T10:00:00Z', '2026-11-30T10:06:05Z')],
    })
    expect(token).toBe('lake-20261128T1000Z-20261130T1100Z-p1007-r999')
    expect(`${token}-quality-a99`.length).toBeLessThanOrEqual(64)
  })
})

describe('markerChanged (S3 LastModified has whole seconds)', () => {
  const key = 'raw/_lake/landed/crypto.bars/dt=2026-11-30/hour=10.json'
  const checkpoint = {
    listed_at: '2026-11-30T10:07:05.400Z',
    judged_until: '2026-11-30T10:04:00Z',
    seen: { [key]: '2026-11-30T10:07:05.000Z' },
  }

  it('takes a marker of the listing second as changed, even as the listing saw it (a later rewrite in that second shows the same time)', () => {
    expect(markerChanged({ key, lastModified: new Date('2026-11-30T10:07:05Z') }, checkpoint)).toBe(true)
  })

  it('takes a marker listed with the same time in an earlier second as unchanged', () => {
    const earlier = { ...checkpoint, seen: { [key]: '2026-11-30T10:07:04.000Z' } }
    expect(markerChanged({ key, lastModified: new Date('2026-11-30T10:07:04Z') }, earlier)).toBe(false)
  })
})

describe('PII token vector shared with emr/tests/test_transforms.py', () => {
  it('is the HMAC-SHA256 hex the Spark jobs compute', () => {
    // `printf %s VALUE | openssl dgst -sha256 -hmac KEY`
    const key = 'test-pii-key-0123456789abcdef0123456789abcdef'
    expect(tokenize(key, '52998224725')).toBe(
      '129fe0ebd6ec8305c34d47ff5f87bf8fd3f1dd70ff5d15107a1110a471c86420',
    )
    expect(tokenize(key, 'João Ñandú')).toBe(
      'c30ce26790857feb8b2ad6e044389e133a416d408e912ee6719302ce2350ebc1',
    )
  })
})
