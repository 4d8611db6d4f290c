import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import { installLocalFaults, parseLocalFaults } from '../../local/chaos/faults.ts'

describe('LOCAL_FAULTS (the local Lambda host of make chaos)', () => {
  it('installs nothing when unset', () => {
    expect(installLocalFaults(undefined)).toBeUndefined()
    expect(installLocalFaults('')).toBeUndefined()
  })

  it('fills the defaults and refuses unknown faults', () => {
    expect(parseLocalFaults('{"failWrite":{"path":"watermarks.json"}}')).toEqual({
      failWrite: { path: 'watermarks.json', after: 0, times: 1 },
    })
    expect(() => parseLocalFaults('{"dropRecords":true}')).toThrow(/unrecognized_keys[\s\S]*"dropRecords"/)
    expect(() => parseLocalFaults('{"failAfterReturn":{"function":"indexEvents","times":0}}')).toThrow(
      /too_small[\s\S]*"failAfterReturn",\s*"times"/,
    )
  })

  it('fails the named function after its handler returned, as many times as asked, then lets it be', () => {
    const lines: string[] = []
    const faults = installLocalFaults('{"failAfterReturn":{"function":"indexEvents","times":2}}', (line) =>
      lines.push(line),
    )
    expect(() => faults?.afterReturn('landRaw')).not.toThrow()
    expect(() => faults?.afterReturn('indexEvents')).toThrow(/died after its handler returned/)
    expect(() => faults?.afterReturn('indexEvents')).toThrow(/died after its handler returned/)
    expect(() => faults?.afterReturn('indexEvents')).not.toThrow()
    expect(faults?.injected).toEqual({ failedWrites: 0, failedReturns: 2 })
    expect(lines).toHaveLength(2)
  })

  it('fails the local object store write of a matching key after `after` such writes, `times` times', async () => {
    const store = fileObjectStore(mkdtempSync(join(tmpdir(), 'chaos-faults-')))
    const faults = installLocalFaults('{"failWrite":{"path":"raw/crypto.","after":1,"times":1}}', () => {})
    await store.put('state/poll-bars/watermarks.json', '{}')
    await store.put('raw/crypto.bars/a.ndjson.gz', 'a')
    await expect(store.put('raw/crypto.bars/b.ndjson.gz', 'b')).rejects.toThrow(/EIO: injected/)
    await store.put('raw/crypto.bars/b.ndjson.gz', 'b')
    expect(await store.list('raw/')).toEqual(['raw/crypto.bars/a.ndjson.gz', 'raw/crypto.bars/b.ndjson.gz'])
    expect(faults?.injected.failedWrites).toBe(1)
  })
})
