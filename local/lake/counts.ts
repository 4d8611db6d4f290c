/**
 * Reads the local lake back for reports and tests: rows per table, and per topic how many of
 * the given event ids reached the lake (lost = expected - found), how many keys repeat and, given
 * the newest revision produced of each revised event, how many rows hold an older one (stale).
 * Runs emr/jobs/report.py with the same local spark-submit as the state machines' EMR tasks.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Profile } from '../services/paths.ts'
import { sparkSubmitCommand } from './emr.ts'
import { emrOptions, type LocalLake, localLake } from './step-functions.ts'

const execFileAsync = promisify(execFile)

export interface LakeCounts {
  tables: Record<string, { rows: number }>
  /** `stale` only for the topics given revisions. */
  topics: Record<
    string,
    { expected: number; found: number; lost: number; duplicates: number; stale?: number }
  >
  /** Given store ids: the same per topic for them, with the first lost ids (sorted). */
  store_topics?: Record<
    string,
    { expected: number; found: number; lost: number; duplicates: number; stale?: number; lost_ids: string[] }
  >
}

export async function lakeCounts(
  profile: Profile,
  eventIdsByTopic: Record<string, string[]>,
  lake: LocalLake = localLake(profile),
  /** Per topic, the newest revision produced of each revised event (bars). */
  newestRevisions: Record<string, Record<string, number>> = {},
  /** The whole store's ids the lake is judged on, and their newest revisions (the report's `store`). */
  store?: { ids: Record<string, string[]>; newestRevisions: Record<string, Record<string, number>> },
): Promise<LakeCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'lake-report-'))
  try {
    const idsFile = join(dir, 'event-ids.json')
    writeFileSync(idsFile, JSON.stringify(eventIdsByTopic))
    const revisionsFile = join(dir, 'revisions.json')
    writeFileSync(revisionsFile, JSON.stringify(newestRevisions))
    const storeArgs: string[] = []
    if (store) {
      const storeIds = join(dir, 'store-ids.json')
      const storeRevisions = join(dir, 'store-revisions.json')
      writeFileSync(storeIds, JSON.stringify(store.ids))
      writeFileSync(storeRevisions, JSON.stringify(store.newestRevisions))
      storeArgs.push('--store-ids', storeIds, '--store-revisions', storeRevisions)
    }
    const { bin, args, env } = sparkSubmitCommand(
      {
        ApplicationId: 'local-lake',
        ClientToken: 'report',
        JobDriver: {
          SparkSubmit: {
            EntryPoint: 's3://local-code/emr/jobs/report.py',
            EntryPointArguments: ['--event-ids', idsFile, '--revisions', revisionsFile, ...storeArgs],
          },
        },
      },
      emrOptions(lake),
    )
    const { stdout } = await execFileAsync(bin, args, { env, maxBuffer: 64 * 1024 * 1024 })
    const line = stdout.split('\n').find((text) => text.startsWith('LAKE_REPORT='))
    if (!line) throw new Error('emr/jobs/report.py printed no LAKE_REPORT line')
    return JSON.parse(line.slice('LAKE_REPORT='.length)) as LakeCounts
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
