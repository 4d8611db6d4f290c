/**
 * The two dead-letter formats redrive reads (local/redrive.ts): the local event source's
 * `<function>/<topic>-<partition>-<offset>.json` (`{reason, records}`, local/run.ts) and the
 * invocation record Lambda writes to an S3 on-failure destination for a Kafka event source
 * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html; a sample, modeled on that
 * page, in tests/fixtures/aws-on-failure/). Pure: an object's key and body in, a batch or why not out.
 */
import { z } from 'zod'
import { describeIssues } from '../functions/shared/contracts.ts'
import type { MskRecord } from '../functions/shared/msk.ts'

/** A record exactly as Lambda delivers it; fields this schema does not name are kept, not dropped. */
const MskRecordSchema = z.looseObject({
  topic: z.string().min(1),
  partition: z.int().nonnegative(),
  offset: z.int().nonnegative(),
  timestamp: z.number(),
  timestampType: z.enum(['CREATE_TIME', 'LOG_APPEND_TIME']),
  key: z.string().optional(),
  value: z.string().nullable(),
  headers: z.array(z.record(z.string(), z.array(z.int()))),
})

const MskEventSchema = z.looseObject({
  eventSource: z.literal('aws:kafka'),
  eventSourceArn: z.string().min(1),
  bootstrapServers: z.string(),
  records: z.record(z.string(), z.array(MskRecordSchema)),
})

/** What the local event source writes to `<function>/<topic>-<partition>-<offset>.json` (local/run.ts). */
const LocalFailedBatchSchema = z.object({
  reason: z.string(),
  records: z.array(MskRecordSchema),
})

/** The documented form of `payload` is an escaped JSON string: parsed here, then checked. */
const jsonText = (value: unknown, ctx: z.core.$RefinementCtx) => {
  if (typeof value !== 'string') return value
  try {
    return JSON.parse(value) as unknown
  } catch {
    ctx.addIssue({ code: 'custom', message: 'a string that is not JSON' })
    return z.NEVER
  }
}

/**
 * Lambda's invocation record for a Kafka batch it gave up on, as written to an S3 on-failure
 * destination (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html, "S3
 * destination example invocation record"). Only what a replay needs is required; the other
 * documented fields are optional, so a change in them cannot block a redrive. The documented
 * `payload` is the whole original event "as an escaped JSON string"; an already parsed object
 * (the form a Kafka-topic destination carries) is read too.
 */
export const KafkaOnFailureRecordSchema = z.object({
  version: z.string().optional(),
  timestamp: z.string().optional(),
  requestContext: z.object({
    requestId: z.string().optional(),
    /** `arn:aws:lambda:<region>:<account>:function:<name>`, possibly with a `:<qualifier>`. */
    functionArn: z.string().regex(/:function:[^:]+(:[^:]+)?$/, 'expected a Lambda function ARN'),
    /** `RetryAttemptsExhausted` or `MaximumPayloadSizeExceeded`, as documented. */
    condition: z.string(),
    approximateInvokeCount: z.int().optional(),
  }),
  /** Null for `MaximumPayloadSizeExceeded`: the function was never invoked. */
  responseContext: z
    .object({
      statusCode: z.int().optional(),
      executedVersion: z.string().optional(),
      functionError: z.string().optional(),
    })
    .nullish(),
  KafkaBatchInfo: z.object({
    batchSize: z.int().optional(),
    eventSourceArn: z.string().optional(),
    bootstrapServers: z.string().optional(),
    payloadSize: z.int().optional(),
    /** Keyed `<topic>-<partition>`; offsets are strings. */
    recordsInfo: z
      .record(
        z.string(),
        z.object({
          firstRecordOffset: z.string(),
          lastRecordOffset: z.string(),
          firstRecordTimestamp: z.string(),
          lastRecordTimestamp: z.string(),
        }),
      )
      .optional(),
  }),
  payload: z.preprocess(jsonText, MskEventSchema),
})

/** One dead-lettered batch, whichever destination wrote it. */
export interface DeadLetteredBatch {
  /** The function's key in serverless.yml (`indexEvents`), as the local runtime and the report name it. */
  functionName: string
  records: MskRecord[]
  reason: string
  /** The event source the records came from, when the dead letter names it (Lambda's does). */
  source?: { eventSourceArn: string; bootstrapServers: string }
}

/**
 * The dead-lettered batch in one object of the on-failure destination, or why it is none. The
 * local format names its function in the key (`<function>/...`); Lambda's record names it in
 * `requestContext.functionArn`, and its records are the original event's, all partitions in one.
 */
export function parseDeadLetter(
  key: string,
  body: Uint8Array,
  functionPrefix = '',
): { batch: DeadLetteredBatch } | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(body))
  } catch (error) {
    return { error: `not JSON (${(error as Error).message})` }
  }
  if (typeof value === 'object' && value !== null && ('requestContext' in value || 'KafkaBatchInfo' in value))
    return lambdaDeadLetter(value, functionPrefix)
  return localDeadLetter(key, value)
}

/** Lambda's invocation record: the deployed function must be this stage's, its event must hold records. */
function lambdaDeadLetter(
  value: object,
  functionPrefix: string,
): { batch: DeadLetteredBatch } | { error: string } {
  const parsed = KafkaOnFailureRecordSchema.safeParse(value)
  if (!parsed.success)
    return {
      error: `not a Kafka on-failure invocation record of Lambda: ${describeIssues(parsed.error, '(root)')}`,
    }
  const { requestContext, responseContext, payload } = parsed.data
  // The regex of the schema guarantees the match: `<name>` after `:function:`, no qualifier.
  const deployed = /:function:([^:]+)/.exec(requestContext.functionArn)?.[1] ?? ''
  if (!deployed.startsWith(functionPrefix))
    return { error: `function ${deployed} is not one of ${functionPrefix}*: another stage's or service's` }
  const records: MskRecord[] = Object.values(payload.records).flat()
  if (records.length === 0) return { error: 'the invocation record carries no records' }
  const invocations = requestContext.approximateInvokeCount
  const functionError = responseContext?.functionError
  return {
    batch: {
      functionName: deployed.slice(functionPrefix.length),
      records,
      reason: [
        requestContext.condition,
        invocations === undefined ? '' : ` after ${invocations} invocations`,
        functionError ? `, ${functionError} function error` : '',
      ].join(''),
      source: { eventSourceArn: payload.eventSourceArn, bootstrapServers: payload.bootstrapServers },
    },
  }
}

/** The local event source's `{reason, records}`, its function named by the key's folder. */
function localDeadLetter(key: string, value: unknown): { batch: DeadLetteredBatch } | { error: string } {
  const local = LocalFailedBatchSchema.safeParse(value)
  if (!local.success)
    return {
      error: `neither a dead letter of the local event source ({reason, records}) nor Lambda's Kafka invocation record: ${describeIssues(local.error, '(root)')}`,
    }
  const functionName = key.includes('/') ? key.slice(0, key.indexOf('/')) : ''
  if (!functionName) return { error: 'a local dead letter outside a <function>/ folder' }
  if (local.data.records.length === 0) return { error: 'the dead letter carries no records' }
  return { batch: { functionName, records: local.data.records, reason: local.data.reason } }
}
