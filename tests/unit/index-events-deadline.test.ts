/**
 * index-events against the Lambda deadline: it retries failed bulk items only while a whole bulk
 * request still fits before the function's time runs out, and reports the rest as batch item
 * failures, on a fake clock that moves only when the code sleeps or a request takes its time.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { indexEvents } from '../../functions/index-events/core.ts'
import { bar } from '../helpers/events.ts'
import { type RecordingCounter, recordingCounter, recordingIndex } from '../helpers/fakes.ts'
import { mskEvent, mskRecord } from '../helpers/msk.ts'

let counter: RecordingCounter
beforeEach(() => {
  counter = recordingCounter()
})

describe('indexEvents against the Lambda deadline', () => {
  const key = 'k'.repeat(32)

  /** A clock that only moves when the code sleeps or a bulk request takes its time. */
  function fakeClock() {
    const clock = {
      now: 0,
      async sleep(ms: number) {
        clock.now += ms
      },
    }
    return clock
  }

  it('stops retrying while a whole bulk request still fits, and reports the rest as batch item failures', async () => {
    const clock = fakeClock()
    // A hung node: every bulk request runs to the client's 30 s timeout, then fails.
    const index = recordingIndex(() => {
      clock.now += 30_000
      throw new Error('Request timed out')
    })
    const response = await indexEvents(
      mskEvent([
        mskRecord('crypto.bars', 0, 5, bar('BTC/USD', '2026-11-30T10:00:00Z')),
        mskRecord('crypto.bars', 1, 8, bar('LTC/USD', '2026-11-30T10:00:00Z')),
      ]),
      {
        index,
        piiKey: key,
        counter,
        sleep: clock.sleep,
        attempts: 10,
        clock: () => clock.now,
        // 120 s of Lambda timeout less 5 s kept to finish.
        deadline: 115_000,
        requestTimeoutMs: 30_000,
        quarantine: async () => {},
      },
    )
    // Attempts start at 0 s, ~30.2 s and ~60.6 s; a fourth at ~91.4 s could run until ~121.4 s.
    expect(index.calls).toHaveLength(3)
    expect(clock.now).toBeLessThanOrEqual(115_000)
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'crypto.bars-0', offset: 5 } },
      { itemIdentifier: { partition: 'crypto.bars-1', offset: 8 } },
    ])
    expect(counter.totals()).toMatchObject({
      RetriesStoppedByDeadline: 1,
      BatchItemFailures: 2,
      IndexRetries: 4,
    })
  })

  it('keeps what was indexed and fails only the records still pending when time runs out', async () => {
    const clock = fakeClock()
    const index = recordingIndex((docs) => {
      clock.now += 2_000
      return docs.map((doc) =>
        doc.id.includes('LTC')
          ? { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'busy' } }
          : { status: 201 },
      )
    })
    const response = await indexEvents(
      mskEvent([
        mskRecord('crypto.bars', 0, 1, bar('BTC/USD', '2026-11-30T10:00:00Z')),
        mskRecord('crypto.bars', 0, 2, bar('LTC/USD', '2026-11-30T10:00:00Z')),
      ]),
      {
        index,
        piiKey: key,
        counter,
        sleep: clock.sleep,
        attempts: 10,
        baseDelayMs: 1_000,
        clock: () => clock.now,
        deadline: 10_000,
        requestTimeoutMs: 5_000,
        quarantine: async () => {},
      },
    )
    // 0-2 s: BTC indexed, LTC throttled; a retry after 0.5-1.5 s fits (<= 8.5 s) and ends by 5.5 s;
    // the next waits 1-3 s, and with a 5 s request no longer fits before 10 s.
    expect(index.calls.map((call) => call.map((d) => d.id.split(':')[1]))).toEqual([
      ['BTC/USD', 'LTC/USD'],
      ['LTC/USD'],
    ])
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'crypto.bars-0', offset: 2 } },
    ])
  })

  it('retries as before when the deadline leaves room', async () => {
    const clock = fakeClock()
    const index = recordingIndex((docs, call) => {
      clock.now += 1_000
      return docs.map(() =>
        call < 3 ? { status: 503, error: { type: 'unavailable', reason: 'x' } } : { status: 201 },
      )
    })
    const response = await indexEvents(
      mskEvent([mskRecord('crypto.bars', 0, 1, bar('BTC/USD', '2026-11-30T10:00:00Z'))]),
      {
        index,
        piiKey: key,
        counter,
        sleep: clock.sleep,
        clock: () => clock.now,
        deadline: 115_000,
        requestTimeoutMs: 30_000,
        quarantine: async () => {},
      },
    )
    expect(index.calls).toHaveLength(3)
    expect(response.batchItemFailures).toEqual([])
  })
})
