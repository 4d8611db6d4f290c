import { describe, expect, it } from 'vitest'
import { onFirstUse } from '../../functions/shared/on-first-use.ts'

describe('onFirstUse', () => {
  it('builds once for concurrent and later calls', async () => {
    let builds = 0
    const get = onFirstUse(async () => ++builds)
    expect(await Promise.all([get(), get()])).toEqual([1, 1])
    expect(await get()).toBe(1)
    expect(builds).toBe(1)
  })

  it('forgets a failed build, so the next call tries again', async () => {
    let builds = 0
    const get = onFirstUse(async () => {
      builds++
      if (builds === 1) throw new Error('node unreachable')
      return 'client'
    })
    await expect(get()).rejects.toThrow('node unreachable')
    expect(await get()).toBe('client')
    expect(builds).toBe(2)
  })
})
