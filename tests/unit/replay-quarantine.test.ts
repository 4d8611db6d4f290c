import { describe, expect, it } from 'vitest'
import type { MskEvent } from '../../functions/shared/msk.ts'
import type { ObjectStore, Rejection } from '../../functions/shared/ports.ts'
import { quarantine } from '../../functions/shared/quarantine.ts'
import { REPLAYED_PREFIX, replayQuarantine } from '../../local/replay-quarantine.ts'
import { memoryObjectStore } from '../helpers/fakes.ts'

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64')

/** A consumer's rejection of a Kafka record: coordinates, key as text, value as base64. */
const consumerRejection = (offset: number, value: string): Rejection => ({
  reason: 'schema_violation',
  detail: 'close: must be a positive decimal string',
  topic: 'crypto.bars',
  partition: 0,
  offset: String(offset),
  timestamp: '2026-12-01T10:00:00Z',
  key: 'BTC/USD',
  value: base64(value),
})

async function seeded(): Promise<ObjectStore> {
  const store = memoryObjectStore()
  const then = new Date('2026-12-01T10:00:05Z')
  await quarantine(store, 'index-events', [consumerRejection(5, '{"fixed":true}')], then)
  await quarantine(store, 'index-events', [consumerRejection(6, '{"still":"bad"}')], then)
  await quarantine(store, 'land-raw', [{ ...consumerRejection(7, '{"fixed":true}'), partition: 1 }], then)
  // A producer's rejection: an upstream answer that never reached Kafka.
  await quarantine(
    store,
    'poll-bars',
    [
      {
        reason: 'upstream_malformed',
        detail: 'high 1 < low 2',
        topic: 'crypto.bars',
        key: 'BTC/USD',
        value: '{}',
      },
    ],
    then,
  )
  await store.put('quarantine/crypto.bars/dt=2026-12-01/not-a-record.json', 'garbage\n')
  return store
}

/**
 * The functions as a replay meets them: each takes its batch and quarantines again, as the real
 * ones do, what it still cannot use (here: a value that says "bad").
 */
function functions(store: ObjectStore) {
  const calls: Array<{ name: string; event: MskEvent }> = []
  const invoke = async (name: string, event: unknown) => {
    const msk = event as MskEvent
    calls.push({ name, event: msk })
    const stage = name === 'indexEvents' ? 'index-events' : 'land-raw'
    const rejected = Object.values(msk.records)
      .flat()
      .filter((record) =>
        Buffer.from(record.value ?? '', 'base64')
          .toString()
          .includes('bad'),
      )
      .map((record) => ({
        ...consumerRejection(record.offset, Buffer.from(record.value ?? '', 'base64').toString()),
        detail: 'close: still not a decimal',
      }))
    await quarantine(store, stage, rejected, new Date())
    return { batchItemFailures: [] }
  }
  return { calls, invoke }
}

describe('quarantine replay', () => {
  it('delivers consumer rejections again to their function, marks what was taken, keeps what was not', async () => {
    const store = await seeded()
    const { calls, invoke } = functions(store)
    const report = await replayQuarantine({ store, invoke, log: () => undefined }, { dryRun: false })

    expect(report).toMatchObject({ found: 4, replayed: 3, accepted: 2, already_replayed: 0 })
    expect(report.not_replayable).toEqual({ 'poll-bars': 1 })
    expect(report.failed.map((f) => f.key)).toEqual([
      'quarantine/crypto.bars/dt=2026-12-01/not-a-record.json',
    ])
    expect(report.still_rejected).toEqual([
      {
        key: 'quarantine/crypto.bars/dt=2026-12-01/index-events-p0-o6.json',
        reason: 'schema_violation',
        detail: 'close: still not a decimal',
      },
    ])
    // As the event source delivers them: coordinates kept, the key as base64, the value as received.
    expect(calls.map((call) => call.name).sort()).toEqual(['indexEvents', 'landRaw'])
    const indexed = calls.find((call) => call.name === 'indexEvents')?.event.records['crypto.bars-0'] ?? []
    expect(indexed.map((record) => [record.offset, record.key, record.value])).toEqual([
      [5, base64('BTC/USD'), base64('{"fixed":true}')],
      [6, base64('BTC/USD'), base64('{"still":"bad"}')],
    ])
    expect(await store.list(REPLAYED_PREFIX)).toEqual([
      `${REPLAYED_PREFIX}quarantine/crypto.bars/dt=2026-12-01/index-events-p0-o5.json`,
      `${REPLAYED_PREFIX}quarantine/crypto.bars/dt=2026-12-01/land-raw-p1-o7.json`,
    ])
  })

  it('run again, replays only what is still rejected', async () => {
    const store = await seeded()
    const { invoke } = functions(store)
    await replayQuarantine({ store, invoke, log: () => undefined }, { dryRun: false })
    const again = functions(store)
    const report = await replayQuarantine(
      { store, invoke: again.invoke, log: () => undefined },
      { dryRun: false },
    )
    expect(report).toMatchObject({ replayed: 1, accepted: 0, already_replayed: 2 })
    expect(again.calls.map((call) => call.name)).toEqual(['indexEvents'])
  })

  it('a dry run counts and invokes nothing; filters narrow by topic and reason', async () => {
    const store = await seeded()
    const { calls, invoke } = functions(store)
    const dry = await replayQuarantine({ store, invoke, log: () => undefined }, { dryRun: true })
    expect(dry).toMatchObject({ dry_run: true, found: 4, replayed: 3, accepted: 0 })
    expect(calls).toEqual([])
    const other = await replayQuarantine(
      { store, invoke, log: () => undefined },
      { dryRun: true, topic: 'crypto.trades' },
    )
    expect(other).toMatchObject({ found: 0, replayed: 0 })
    const byReason = await replayQuarantine(
      { store, invoke, log: () => undefined },
      { dryRun: true, reason: 'upstream_malformed' },
    )
    expect(byReason).toMatchObject({ found: 1, replayed: 0, not_replayable: { 'poll-bars': 1 } })
  })

  it('a failed invocation leaves its records unmarked, for the next run', async () => {
    const store = await seeded()
    const invoke = async () => {
      throw new Error('indexEvents: Unhandled error: OpenSearch is down')
    }
    const report = await replayQuarantine({ store, invoke, log: () => undefined }, { dryRun: false })
    expect(report.accepted).toBe(0)
    expect(report.failed.filter((f) => f.error.includes('OpenSearch is down'))).toHaveLength(3)
    expect(await store.list(REPLAYED_PREFIX)).toEqual([])
  })
})
