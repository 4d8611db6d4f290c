/**
 * Redrive's core over both dead-letter formats: Lambda's Kafka invocation record as an S3
 * on-failure destination holds it (tests/fixtures/aws-on-failure/, modeled on the documentation)
 * and the local event source's `{reason, records}`; and the AWS invoke adapter's own requests.
 * The store is the real local object store in a temporary directory (the S3 one is tested in
 * tests/unit/object-store.test.ts and tests/integration/s3.test.ts).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, describe, expect, it } from 'vitest'
import type { MskEvent } from '../../functions/shared/msk.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import { lambdaInvoke, REDRIVEN_PREFIX, type RedrivePorts, redrive } from '../../local/redrive.ts'
import { bar } from '../helpers/events.ts'
import { memoryObjectStore } from '../helpers/fakes.ts'
import { mskRecord } from '../helpers/msk.ts'

const FIXTURE = readFileSync(
  join(import.meta.dirname, '../fixtures/aws-on-failure/index-events-bars.json'),
  'utf8',
)
/** Where Lambda would put it: the Kinesis/DynamoDB layout, `<topic>-<partition>` for the shard. */
const AWS_KEY =
  'aws/lambda/0f3c9a4e-58b1-4d2a-9c7e-1b6d2f8a0c55/crypto.bars-0/2026/11/30/2026-11-30T10.47.12-6a1d3e9b-2c4f-4b8a-8e5d-7f0a9c1b3e24'
const PREFIX = 'crypto-data-lake-dev-'
const MSK_ARN =
  'arn:aws:kafka:us-east-1:123456789012:cluster/crypto-data-lake-dev/5f0e1c2a-7b3d-4e9f-8a61-2c4d6e8f0a1b-s1'
const BOOTSTRAP = 'boot-x7k2m9qp.c1.kafka-serverless.us-east-1.amazonaws.com:9098'

/** The fixture's three bars, written out: what the function must receive again. */
const FIXTURE_BARS = [
  bar('BTC/USD', '2026-11-30T10:00:00Z', '97000.5'),
  bar('BTC/USD', '2026-11-30T10:01:00Z', '97001.5'),
  bar('LTC/USD', '2026-11-30T10:00:00Z', '96999.5'),
]

const emptyStore = (): ObjectStore => memoryObjectStore()

/** An invoke port that records every call and answers with `respond` (default: took everything). */
function recorder(respond: (name: string, event: MskEvent) => unknown = () => ({ batchItemFailures: [] })) {
  const calls: Array<{ name: string; event: MskEvent }> = []
  const lines: string[] = []
  const ports = (store: ObjectStore): RedrivePorts => ({
    store,
    log: (line) => lines.push(line),
    now: () => new Date('2026-11-30T12:00:00Z'),
    async invoke(name, event) {
      calls.push({ name, event })
      return respond(name, event)
    },
  })
  return { calls, lines, ports }
}

const decode = (text: string | null | undefined) =>
  text == null ? null : Buffer.from(text, 'base64').toString('utf8')

describe('redrive: Lambda S3 on-failure invocation record (Kafka)', () => {
  it('dry run: counts the batch under the serverless function key and invokes nothing', async () => {
    const store = emptyStore()
    await store.put(AWS_KEY, FIXTURE)
    const { calls, lines, ports } = recorder()
    const report = await redrive(ports(store), { dryRun: true, functionPrefix: PREFIX })
    expect(report).toEqual({
      dry_run: true,
      batches: 1,
      records: 3,
      replayed: 0,
      failed: [],
      already_redriven: 0,
      by_function: { indexEvents: { batches: 1, records: 3, replayed: 0 } },
    })
    expect(calls).toEqual([])
    expect(lines).toEqual([
      `${AWS_KEY}: would replay 3 records into indexEvents (RetryAttemptsExhausted after 101 invocations, Unhandled function error)`,
    ])
    expect(await store.list(REDRIVEN_PREFIX)).toEqual([])
  })

  it("replays the payload's records, from its own event source, and marks the batch", async () => {
    const store = emptyStore()
    await store.put(AWS_KEY, FIXTURE)
    const { calls, ports } = recorder()
    const report = await redrive(ports(store), { dryRun: false, functionPrefix: PREFIX })
    expect([report.batches, report.records, report.replayed, report.failed]).toEqual([1, 3, 1, []])
    expect(calls.map((call) => call.name)).toEqual(['indexEvents'])
    const event = calls[0]?.event as MskEvent
    expect([event.eventSource, event.eventSourceArn, event.bootstrapServers]).toEqual([
      'aws:kafka',
      MSK_ARN,
      BOOTSTRAP,
    ])
    expect(Object.keys(event.records)).toEqual(['crypto.bars-0', 'crypto.bars-1'])
    const records = Object.values(event.records).flat()
    expect(records.map((r) => [r.topic, r.partition, r.offset, r.timestamp, r.timestampType])).toEqual([
      ['crypto.bars', 0, 1041, Date.parse('2026-11-30T10:01:05.120Z'), 'CREATE_TIME'],
      ['crypto.bars', 0, 1042, Date.parse('2026-11-30T10:02:05.087Z'), 'CREATE_TIME'],
      ['crypto.bars', 1, 877, Date.parse('2026-11-30T10:01:05.133Z'), 'CREATE_TIME'],
    ])
    expect(records.map((r) => decode(r.key))).toEqual(['BTC/USD', 'BTC/USD', 'LTC/USD'])
    expect(records.map((r) => JSON.parse(decode(r.value) ?? 'null'))).toEqual(FIXTURE_BARS)
    expect(await store.list(REDRIVEN_PREFIX)).toEqual([`${REDRIVEN_PREFIX}${AWS_KEY}`])
    expect(JSON.parse(new TextDecoder().decode(await store.get(`${REDRIVEN_PREFIX}${AWS_KEY}`)))).toEqual({
      redriven_at: '2026-11-30T12:00:00.000Z',
      records: 3,
    })
  })

  it('a second run replays nothing', async () => {
    const store = emptyStore()
    await store.put(AWS_KEY, FIXTURE)
    const first = recorder()
    await redrive(first.ports(store), { dryRun: false, functionPrefix: PREFIX })
    const second = recorder()
    const report = await redrive(second.ports(store), { dryRun: false, functionPrefix: PREFIX })
    expect(report).toEqual({
      dry_run: false,
      batches: 0,
      records: 0,
      replayed: 0,
      failed: [],
      already_redriven: 1,
      by_function: {},
    })
    expect(second.calls).toEqual([])
  })

  it('reads a qualified function ARN and a payload already parsed, as a Kafka-topic destination carries it', async () => {
    const record = JSON.parse(FIXTURE)
    record.requestContext.functionArn =
      'arn:aws:lambda:us-east-1:123456789012:function:crypto-data-lake-dev-landRaw:$LATEST'
    record.payload = JSON.parse(record.payload)
    const store = emptyStore()
    await store.put('aws/lambda/x/crypto.bars-0/2026/11/30/2026-11-30T10.47.12-y', JSON.stringify(record))
    const { calls, ports } = recorder()
    const report = await redrive(ports(store), { dryRun: false, functionPrefix: PREFIX })
    expect(report.by_function).toEqual({ landRaw: { batches: 1, records: 3, replayed: 1 } })
    expect(calls.map((call) => call.name)).toEqual(['landRaw'])
    const values = Object.values(calls[0]?.event.records ?? {})
      .flat()
      .map((r) => JSON.parse(decode(r.value) ?? 'null'))
    expect(values).toEqual(FIXTURE_BARS)
  })

  it('a batch the function still fails keeps no marker and is tried again next run', async () => {
    const store = emptyStore()
    await store.put(AWS_KEY, FIXTURE)
    const failing = recorder(() => ({
      batchItemFailures: [{ itemIdentifier: { partition: 'crypto.bars-1', offset: 877 } }],
    }))
    const report = await redrive(failing.ports(store), { dryRun: false, functionPrefix: PREFIX })
    expect([report.replayed, report.failed]).toEqual([0, [{ key: AWS_KEY, error: '1 batch item failures' }]])
    expect(await store.list(REDRIVEN_PREFIX)).toEqual([])
    const fixed = recorder()
    expect((await redrive(fixed.ports(store), { dryRun: false, functionPrefix: PREFIX })).replayed).toBe(1)
  })

  it('reports, never skips, an object that is no dead letter, and replays the good ones beside it', async () => {
    const store = emptyStore()
    await store.put(AWS_KEY, FIXTURE)
    const withoutPayload = JSON.parse(FIXTURE)
    delete withoutPayload.payload
    const otherStage = JSON.parse(FIXTURE)
    otherStage.requestContext.functionArn =
      'arn:aws:lambda:us-east-1:123456789012:function:crypto-data-lake-prod-indexEvents'
    const badPayload = JSON.parse(FIXTURE)
    badPayload.payload = '{"eventSource":"aws:kafka",'
    await store.put('aws/lambda/a/no-payload', JSON.stringify(withoutPayload))
    await store.put('aws/lambda/b/other-stage', JSON.stringify(otherStage))
    await store.put('aws/lambda/c/bad-payload', JSON.stringify(badPayload))
    await store.put('notes.txt', 'not json at all')
    await store.put('indexEvents/crypto.bars-0-1.json', JSON.stringify({ records: 'none' }))
    const { calls, ports } = recorder()
    const report = await redrive(ports(store), { dryRun: false, functionPrefix: PREFIX })
    expect(report.replayed).toBe(1)
    expect(calls.map((call) => call.name)).toEqual(['indexEvents'])
    expect(report.failed.map((f) => f.key)).toEqual([
      'aws/lambda/a/no-payload',
      'aws/lambda/b/other-stage',
      'aws/lambda/c/bad-payload',
      'indexEvents/crypto.bars-0-1.json',
      'notes.txt',
    ])
    const errors = Object.fromEntries(report.failed.map((f) => [f.key, f.error]))
    expect(errors['aws/lambda/a/no-payload']).toMatch(
      /^not a Kafka on-failure invocation record of Lambda: payload: /,
    )
    expect(errors['aws/lambda/b/other-stage']).toBe(
      "function crypto-data-lake-prod-indexEvents is not one of crypto-data-lake-dev-*: another stage's or service's",
    )
    expect(errors['aws/lambda/c/bad-payload']).toBe(
      'not a Kafka on-failure invocation record of Lambda: payload: a string that is not JSON',
    )
    expect(errors['indexEvents/crypto.bars-0-1.json']).toMatch(
      /^neither a dead letter of the local event source \(\{reason, records\}\) nor Lambda's Kafka invocation record: /,
    )
    expect(errors['notes.txt']).toMatch(/^not JSON \(/)
  })
})

describe('redrive: the local event source format', () => {
  it('replays `<function>/<topic>-<partition>-<offset>.json` into its function, once', async () => {
    const store = emptyStore()
    const records = [
      mskRecord('crypto.bars', 0, 40, bar('BTC/USD', '2026-11-30T10:00:00Z'), 'BTC/USD'),
      mskRecord('crypto.bars', 0, 41, bar('BTC/USD', '2026-11-30T10:01:00Z'), 'BTC/USD'),
    ]
    await store.put(
      'indexEvents/crypto.bars-0-40.json',
      JSON.stringify({ reason: 'retries exhausted after 101 attempts', records }),
    )
    const { calls, ports } = recorder()
    const report = await redrive(ports(store), { dryRun: false, functionPrefix: PREFIX })
    expect(report).toEqual({
      dry_run: false,
      batches: 1,
      records: 2,
      replayed: 1,
      failed: [],
      already_redriven: 0,
      by_function: { indexEvents: { batches: 1, records: 2, replayed: 1 } },
    })
    expect(calls).toEqual([
      {
        name: 'indexEvents',
        event: {
          eventSource: 'aws:kafka',
          eventSourceArn: 'arn:aws:kafka:local:000000000000:cluster/local/redrive',
          bootstrapServers: 'redrive',
          records: { 'crypto.bars-0': records },
        },
      },
    ])
    const again = recorder()
    expect((await redrive(again.ports(store), { dryRun: false })).already_redriven).toBe(1)
    expect(again.calls).toEqual([])
  })
})

describe('lambdaInvoke (the AWS invoke port)', () => {
  const lambda = mockClient(LambdaClient)
  afterEach(() => {
    lambda.reset()
  })
  const event: MskEvent = {
    eventSource: 'aws:kafka',
    eventSourceArn: MSK_ARN,
    bootstrapServers: BOOTSTRAP,
    records: { 'crypto.bars-0': [mskRecord('crypto.bars', 0, 40, bar('BTC/USD', '2026-11-30T10:00:00Z'))] },
  }
  // The SDK hands back a Uint8Array with string helpers; the adapter reads it as the bytes it is.
  const bytes = (value: unknown) =>
    new TextEncoder().encode(JSON.stringify(value)) as InvokeCommandOutput['Payload']

  it('invokes the deployed function synchronously with the event, and returns its batch response', async () => {
    const response = { batchItemFailures: [{ itemIdentifier: { partition: 'crypto.bars-0', offset: 40 } }] }
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: bytes(response) })
    const invoke = lambdaInvoke(new LambdaClient({ region: 'us-east-1' }), PREFIX)
    expect(await invoke('indexEvents', event)).toEqual(response)
    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input
    expect([input?.FunctionName, input?.InvocationType]).toEqual([
      'crypto-data-lake-dev-indexEvents',
      'RequestResponse',
    ])
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual(event)
  })

  it('a function error fails the invocation, with the error the function reported', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: bytes({ errorType: 'ConnectionError', errorMessage: 'connect ECONNREFUSED', trace: [] }),
    })
    const invoke = lambdaInvoke(new LambdaClient({ region: 'us-east-1' }), PREFIX)
    await expect(invoke('indexEvents', event)).rejects.toThrow(
      'crypto-data-lake-dev-indexEvents: Unhandled error: ConnectionError: connect ECONNREFUSED',
    )
  })

  it('through the core: the batch stays, failed with that error', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: bytes({ errorMessage: 'Task timed out after 120.00 seconds' }),
    })
    const store = emptyStore()
    await store.put(AWS_KEY, FIXTURE)
    const report = await redrive(
      {
        store,
        log: () => undefined,
        invoke: lambdaInvoke(new LambdaClient({ region: 'us-east-1' }), PREFIX),
      },
      { dryRun: false, functionPrefix: PREFIX },
    )
    expect(report.failed).toEqual([
      {
        key: AWS_KEY,
        error: 'crypto-data-lake-dev-indexEvents: Unhandled error: Task timed out after 120.00 seconds',
      },
    ])
    expect(await store.list(REDRIVEN_PREFIX)).toEqual([])
    const payload = lambda.commandCalls(InvokeCommand)[0]?.args[0].input.Payload as Uint8Array
    const sent = JSON.parse(new TextDecoder().decode(payload)) as MskEvent
    expect(
      Object.values(sent.records)
        .flat()
        .map((r) => JSON.parse(decode(r.value) ?? 'null')),
    ).toEqual(FIXTURE_BARS)
  })
})
