import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fileObjectStore } from '../../functions/shared/adapters/object-store.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import { DIGITS, memoryObjectStore, recordingCounter, recordingProducer, runId } from '../helpers/fakes.ts'

/** One sequence of reads and conditional writes; the fake must answer it as the file store does. */
async function conditionalWrites(store: ObjectStore) {
  const created = await store.putIfVersion('state/doc.json', '{"a":1}', undefined)
  const refusedCreate = await store.putIfVersion('state/doc.json', '{"a":2}', undefined)
  const stale = await store.putIfVersion('state/doc.json', '{"a":3}', 'not-the-version')
  const updated = await store.putIfVersion('state/doc.json', '{"a":4}', created)
  await store.put('state/other.json', 'x')
  const read = await store.getVersioned('state/doc.json')
  return {
    created,
    refusedCreate,
    stale,
    updated,
    body: read && Buffer.from(read.body).toString('utf8'),
    etag: read?.etag,
    keys: await store.list('state/'),
    missing: await store.get('state/none.json'),
  }
}

describe('memoryObjectStore', () => {
  it('answers conditional writes exactly as the file store does (version = content hash)', async () => {
    const onFile = await conditionalWrites(fileObjectStore(mkdtempSync(join(tmpdir(), 'fakes-'))))
    const inMemory = await conditionalWrites(memoryObjectStore())
    expect(inMemory).toEqual(onFile)
    expect(inMemory.refusedCreate).toBeUndefined()
    expect(inMemory.stale).toBeUndefined()
    expect(inMemory.body).toBe('{"a":4}')
    expect(inMemory.keys).toEqual(['state/doc.json', 'state/other.json'])
  })

  it('throws the error failWrite names for a key, and keeps nothing of that write', async () => {
    const store = memoryObjectStore({
      failWrite: (key) => (key.endsWith('.gz') ? new Error('SlowDown') : undefined),
    })
    await expect(store.put('raw/a.gz', 'x')).rejects.toThrow('SlowDown')
    await store.put('raw/a.json', 'y')
    expect(await store.list('raw/')).toEqual(['raw/a.json'])
    expect(store.text('raw/a.json')).toBe('y')
  })
})

describe('recordingProducer', () => {
  it('records acknowledged sends only, and fails the calls it is told to', async () => {
    const producer = recordingProducer((_records, call) => call === 2)
    const record = { topic: 'crypto.bars' as const, key: 'BTC/USD', value: '{"n":1}' }
    await producer.send([record])
    await expect(producer.send([record])).rejects.toThrow('broker unavailable (call 2)')
    await producer.send([record, record])
    expect(producer.batches.map((batch) => batch.length)).toEqual([1, 2])
    expect(producer.values()).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }])
  })
})

describe('recordingCounter', () => {
  it('totals a metric over the counts carrying the given dimensions', () => {
    const counter = recordingCounter()
    counter.count('Rejected', 2, { Reason: 'stale' })
    counter.count('Rejected', 3, { Reason: 'invalid' })
    counter.count('Rejected', 1)
    expect(counter.total('Rejected')).toBe(6)
    expect(counter.total('Rejected', { Reason: 'stale' })).toBe(2)
  })
})

describe('runId', () => {
  it('is always the length asked for, in the alphabet asked for', () => {
    expect(runId()).toMatch(/^[A-Z0-9]{4}$/)
    expect(runId(12, DIGITS)).toMatch(/^[0-9]{12}$/)
  })
})
