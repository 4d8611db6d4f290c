import { type QuarantineRecord, QuarantineRecordSchema } from '../../functions/shared/contracts.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'

/**
 * The quarantine records under `prefix` of a raw-zone store, in key order, each checked against
 * the contract: a test that reads them back also proves what was written is a valid record.
 */
export async function quarantineRecords(
  store: ObjectStore,
  prefix = 'quarantine/',
): Promise<QuarantineRecord[]> {
  const records: QuarantineRecord[] = []
  for (const key of await store.list(prefix)) {
    const body = await store.get(key)
    if (body === undefined) continue
    records.push(QuarantineRecordSchema.parse(JSON.parse(Buffer.from(body).toString('utf8'))))
  }
  return records
}
