import { describe, expect, it } from 'vitest'
import type { KafkaBatchResponse, MskEvent, MskRecord } from '../../functions/shared/msk.ts'
import { type DeliveryPorts, deliver, remainingAfter } from '../../local/runtime/delivery.ts'
import { mskRecord } from '../helpers/msk.ts'

const config = {
  maximumRetryAttempts: 2,
  bisectBatchOnFunctionError: false,
  eventSourceArn: 'arn:aws:kafka:local:000000000000:cluster/local/test',
  bootstrapServers: '127.0.0.1:9092',
}

const offsets = (records: MskRecord[]) => records.map((r) => `${r.partition}:${r.offset}`)

function recorder(invoke: (event: MskEvent, call: number) => Promise<KafkaBatchResponse | undefined>) {
  const calls: string[][] = []
  const committed: string[][] = []
  const failed: Array<{ records: string[]; reason: string }> = []
  const ports: DeliveryPorts = {
    invoke: async (event) => {
      const records = Object.values(event.records).flat()
      calls.push(offsets(records))
      return invoke(event, calls.length)
    },
    commit: async (records) => {
      committed.push(offsets(records))
    },
    onFailure: async (records, reason) => {
      failed.push({ records: offsets(records), reason })
    },
    sleep: async () => {},
    log: () => {},
  }
  return { ports, calls, committed, failed }
}

const stats = () => ({ invocations: 0, retries: 0, bisections: 0, discarded: 0 })
const batch = [
  mskRecord('t', 0, 10, 'a'),
  mskRecord('t', 0, 11, 'b'),
  mskRecord('t', 0, 12, 'c'),
  mskRecord('t', 1, 5, 'd'),
]

describe('remainingAfter', () => {
  it('resumes a reported partition from the reported offset and keeps the other partitions done', () => {
    const remaining = remainingAfter(batch, {
      batchItemFailures: [{ itemIdentifier: { partition: 't-0', offset: 11 } }],
    })
    expect(remaining && offsets(remaining)).toEqual(['0:11', '0:12'])
  })

  it('treats an identifier outside the batch as an invalid response', () => {
    expect(
      remainingAfter(batch, { batchItemFailures: [{ itemIdentifier: { partition: 't-0', offset: 99 } }] }),
    ).toBe(undefined)
  })

  it('treats an empty or missing response as full success', () => {
    expect(remainingAfter(batch, undefined)).toEqual([])
    expect(remainingAfter(batch, { batchItemFailures: [] })).toEqual([])
  })
})

describe('deliver', () => {
  it('commits everything after a successful invocation', async () => {
    const r = recorder(async () => ({ batchItemFailures: [] }))
    await deliver(batch, config, r.ports, stats())
    expect(r.calls).toEqual([['0:10', '0:11', '0:12', '1:5']])
    expect(r.committed).toEqual([['0:10', '0:11', '0:12', '1:5']])
  })

  it('commits the successes, then redelivers from the failed offset until it succeeds', async () => {
    const r = recorder(async (_, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: { partition: 't-0', offset: 11 } }] } : undefined,
    )
    const s = stats()
    await deliver(batch, config, r.ports, s)
    expect(r.calls).toEqual([
      ['0:10', '0:11', '0:12', '1:5'],
      ['0:11', '0:12'],
    ])
    expect(r.committed).toEqual([
      ['0:10', '1:5'],
      ['0:11', '0:12'],
    ])
    expect(s.retries).toBe(1)
  })

  it('sends the records to the on-failure destination once retries are exhausted, and moves on', async () => {
    const r = recorder(async () => {
      throw new Error('boom')
    })
    const s = stats()
    await deliver(batch, config, r.ports, s)
    expect(r.calls).toHaveLength(3)
    expect(r.failed).toEqual([
      { records: ['0:10', '0:11', '0:12', '1:5'], reason: 'retries exhausted after 3 attempts' },
    ])
    expect(r.committed).toEqual([['0:10', '0:11', '0:12', '1:5']])
    expect(s.discarded).toBe(4)
  })

  it('treats -1 (infinite) retries as the 10 Lambda applies with an on-failure destination', async () => {
    const r = recorder(async () => {
      throw new Error('boom')
    })
    await deliver(batch, { ...config, maximumRetryAttempts: -1 }, r.ports, stats())
    expect(r.calls).toHaveLength(11)
    expect(r.failed.map((f) => f.reason)).toEqual(['retries exhausted after 11 attempts'])
  })

  it('bisects a failing batch to isolate the record that fails the function', async () => {
    const r = recorder(async (event) => {
      if (
        Object.values(event.records)
          .flat()
          .some((record) => record.offset === 12)
      )
        throw new Error('poison')
      return undefined
    })
    await deliver(
      batch,
      { ...config, bisectBatchOnFunctionError: true, maximumRetryAttempts: 0 },
      r.ports,
      stats(),
    )
    expect(r.failed.map((f) => f.records)).toEqual([['0:12']])
    expect(r.committed.flat().sort()).toEqual(['0:10', '0:11', '0:12', '1:5'])
  })
})
