import { describe, expect, it } from 'vitest'
import { InvalidWindow, resolveWindow } from '../../functions/lake-window/core.ts'
import { tokenize } from '../../functions/shared/pii.ts'

describe('resolveWindow', () => {
  it('defaults to the previous full hour of the execution start', () => {
    expect(resolveWindow({ input: {}, now: '2026-11-30T10:15:42.123Z' })).toEqual({
      start: '2026-11-30T09:00:00Z',
      end: '2026-11-30T10:00:00Z',
      token: 'lake-20261130T0900Z-20261130T1000Z',
    })
  })

  it('crosses midnight and month ends', () => {
    expect(resolveWindow({ input: {}, now: '2026-12-01T00:00:05Z' })).toMatchObject({
      start: '2026-11-30T23:00:00Z',
      end: '2026-12-01T00:00:00Z',
    })
  })

  it('keeps a given window and derives the token from it (and a rerun number)', () => {
    expect(
      resolveWindow({
        input: { window: { start: '2026-11-01T00:00:00Z', end: '2026-11-08T00:00:00Z' }, rerun: 2 },
        now: '2026-11-30T10:15:42Z',
      }),
    ).toEqual({
      start: '2026-11-01T00:00:00Z',
      end: '2026-11-08T00:00:00Z',
      token: 'lake-20261101T0000Z-20261108T0000Z-r2',
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

  it('keeps client tokens inside the EMR pattern with room for the state suffix', () => {
    const { token } = resolveWindow({ input: { rerun: 999 }, now: '2026-11-30T10:15:42Z' })
    expect(token).toMatch(/^[A-Za-z0-9._-]+$/)
    expect(`${token}-quality-a99`.length).toBeLessThanOrEqual(64)
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
