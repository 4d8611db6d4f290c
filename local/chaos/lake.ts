/**
 * The lake's share of the chaos matrix: the lake read back for the scenarios' events, per scenario
 * that runs the lake itself, and once at the end over every row (a scheduled refresh first).
 */
import type { TopicName } from '../../functions/shared/contracts.ts'
import { lakeCounts } from '../lake/counts.ts'
import { createLakeRunner } from '../lake/runner.ts'
import { newestRevisions, type ProducedEvents } from '../report/report.ts'
import { type ScenarioRow, seconds } from './matrix.ts'

const PROFILE = 'chaos' as const

/** One scenario's row and the events it produced (the lake row reads them all back). */
export interface Measured {
  row: ScenarioRow
  events: Map<TopicName, ProducedEvents>
}

/** The lake read back for these events: merged, lost, duplicates and stale revisions, over the topics. */
export async function lakeFigures(measured: Array<Map<TopicName, ProducedEvents>>) {
  const ids: Record<string, string[]> = {}
  const revisions: Record<string, Record<string, number>> = {}
  for (const events of measured) {
    for (const [topic, produced] of events) {
      ids[topic] = [...(ids[topic] ?? []), ...produced.eventIds]
      revisions[topic] = {
        ...revisions[topic],
        ...Object.fromEntries(newestRevisions(produced.revisionsById ?? new Map())),
      }
    }
  }
  const topics = Object.values((await lakeCounts(PROFILE, ids, undefined, revisions)).topics)
  const sum = (pick: (counts: (typeof topics)[number]) => number) =>
    topics.reduce((total, counts) => total + pick(counts), 0)
  return {
    expected: sum((c) => c.expected),
    merged: sum((c) => c.found),
    lost: sum((c) => c.lost),
    duplicates: sum((c) => c.duplicates),
    stale: sum((c) => c.stale ?? 0),
  }
}

/** The lake once, over every scenario's events: a scheduled refresh (`{}`), then the lake report. */
export async function lakeRow(measured: Measured[], log: (line: string) => void): Promise<ScenarioRow> {
  try {
    return await lakeRefreshRow(measured, log)
  } catch (error) {
    return {
      ...LAKE_ROW,
      produced: 0,
      indexed: 0,
      landedRaw: 0,
      quarantined: 0,
      lost: 0,
      duplicates: 0,
      stale: 0,
      error: error instanceof Error ? error.message : String(error),
    }
  }
}

const LAKE_ROW = { scenario: 'lake (all rows above)', injectedAt: 'after the matrix' }

async function lakeRefreshRow(measured: Measured[], log: (line: string) => void): Promise<ScenarioRow> {
  const started = Date.now()
  const runner = createLakeRunner(PROFILE, (line) => log(`lake: ${line}`))
  const result = await runner.run('lake-refresh', {})
  const lake = await lakeFigures(measured.map((m) => m.events))
  return {
    ...LAKE_ROW,
    produced: lake.expected,
    indexed: measured.reduce((total, m) => total + m.row.indexed, 0),
    landedRaw: measured.reduce((total, m) => total + m.row.landedRaw, 0),
    merged: lake.merged,
    quarantined: 0,
    lost: lake.lost,
    duplicates: lake.duplicates,
    stale: lake.stale,
    recoverSeconds: seconds(Date.now() - started),
    error: result.status === 'SUCCEEDED' ? undefined : `lake-refresh ${result.status}`,
  }
}
