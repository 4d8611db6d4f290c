/**
 * Quarantine: every record a stage rejects is kept, with its reason and where it came from,
 * under `quarantine/{topic}/dt=YYYY-MM-DD/`. One object per record, named by its Kafka
 * coordinates (or, for records that never reached Kafka, by a hash of their content), dated
 * by the record's own timestamp: a retried or redelivered batch rewrites the same objects
 * instead of adding copies.
 */
import { createHash } from 'node:crypto'
import type { QuarantineRecord, TopicName } from './contracts.ts'
import { logger, powertoolsCounter } from './observability.ts'
import type { Counter, MalformedBody, ObjectStore, Quarantine, Rejection } from './ports.ts'
import { isoSeconds } from './time.ts'

export const QUARANTINE_PREFIX = 'quarantine/'

/** The rejections of response bodies that were not JSON, for the topic they would have fed. */
export function malformedBodyRejections(topic: TopicName, bodies: MalformedBody[]): Rejection[] {
  return bodies.map((body) => ({
    reason: 'malformed_json',
    detail: body.detail,
    topic,
    key: null,
    value: body.body,
  }))
}

export function quarantineKey(stage: string, rejection: Rejection, now: Date): string {
  const day = (rejection.timestamp ?? now.toISOString()).slice(0, 10)
  const id =
    rejection.partition !== undefined && rejection.offset !== undefined
      ? `p${rejection.partition}-o${rejection.offset}`
      : createHash('sha256')
          .update(JSON.stringify([rejection.reason, rejection.key, rejection.value]))
          .digest('hex')
          .slice(0, 20)
  return `${QUARANTINE_PREFIX}${rejection.topic}/dt=${day}/${stage}-${id}.json`
}

/**
 * Writes each rejection and counts them in `RecordsQuarantined` by stage and reason. Throws if a
 * write fails: a record that cannot be quarantined must fail its batch (and be retried), never
 * vanish.
 */
export async function quarantine(
  store: ObjectStore,
  stage: string,
  rejections: Rejection[],
  now: Date,
  counter?: Counter,
): Promise<string[]> {
  if (rejections.length === 0) return []
  const quarantinedAt = isoSeconds(now)
  const keys = await Promise.all(
    rejections.map(async (rejection) => {
      const key = quarantineKey(stage, rejection, now)
      const record: QuarantineRecord = { ...rejection, stage, quarantined_at: quarantinedAt }
      await store.put(key, `${JSON.stringify(record)}\n`, 'application/json')
      return key
    }),
  )
  for (const [reason, group] of Map.groupBy(rejections, (rejection) => rejection.reason)) {
    counter?.count('RecordsQuarantined', group.length, { Stage: stage, Reason: reason })
  }
  logger.warn('records quarantined', {
    stage,
    count: rejections.length,
    reasons: [...new Set(rejections.map((r) => r.reason))],
  })
  return keys
}

/** A function's quarantine port: its rejections into `store` as `stage`, at the time of writing, counted in its EMF metrics. */
export function quarantineInto(store: ObjectStore, stage: string): Quarantine {
  return (rejections) => quarantine(store, stage, rejections, new Date(), powertoolsCounter)
}
