/**
 * Reads the local lake back for reports and tests: rows per table, and per topic how many of
 * the given event ids reached the lake (lost = expected - found) and how many keys repeat.
 * Runs emr/jobs/report.py with the same local spark-submit as the state machines' EMR tasks.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { sparkSubmitCommand } from './emr.ts'
import type { Profile } from './services/paths.ts'
import { emrOptions, type LocalLake, localLake } from './step-functions.ts'

const execFileAsync = promisify(execFile)

export interface LakeCounts {
  tables: Record<string, { rows: number }>
  topics: Record<string, { expected: number; found: number; lost: number; duplicates: number }>
}

export async function lakeCounts(
  profile: Profile,
  eventIdsByTopic: Record<string, string[]>,
  lake: LocalLake = localLake(profile),
): Promise<LakeCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'lake-report-'))
  try {
    const idsFile = join(dir, 'event-ids.json')
    writeFileSync(idsFile, JSON.stringify(eventIdsByTopic))
    const { bin, args, env } = sparkSubmitCommand(
      {
        ApplicationId: 'local-lake',
        ClientToken: 'report',
        JobDriver: {
          SparkSubmit: {
            EntryPoint: 's3://local-code/emr/jobs/report.py',
            EntryPointArguments: ['--event-ids', idsFile],
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
