/**
 * The pure parts of `make chaos`: one row per scenario, the verdict, and the table printed at
 * the end. Every figure in a row is read back from the sinks by the runner (local/chaos/cli.ts).
 */

/** Milliseconds as the table's seconds, to a tenth. */
export const seconds = (ms: number) => Math.round(ms / 100) / 10

export interface ScenarioRow {
  scenario: string
  /** Seconds from the scenario's start to the fault, or a description ("before the run"). */
  injectedAt: string
  /** Distinct contract-valid event ids produced to the topics during the scenario. */
  produced: number
  /** Of those, how many OpenSearch holds (by the id its index is keyed by). */
  indexed: number
  /** Of those, how many the raw zone holds. */
  landedRaw: number
  /** Of those, how many the lake holds; undefined when the lake was not run for this row. */
  merged?: number
  /** Quarantine records written during the scenario (poison, bad bars). */
  quarantined: number
  /** The fewest quarantine records the scenario must leave (poison: each record it produced). */
  expectedQuarantined?: number
  /** Produced ids (or bar revisions) missing from a sink, summed over the sinks. */
  lost: number
  /** Ids an index holds twice, or Kafka records the raw zone holds twice, or lake keys repeated. */
  duplicates: number
  /** Sinks holding an older bar revision than the newest produced. */
  stale: number
  /** Seconds from the fault's end until OpenSearch held every event produced so far; undefined: never. */
  recoverSeconds?: number
  /** Why a scenario could not be measured (the runtime failed to start, a timeout...). */
  error?: string
}

/**
 * A row fails on any loss, duplicate, stale revision, error, a pipeline that never recovered, or
 * poison that was not quarantined.
 */
export function rowFailed(row: ScenarioRow): boolean {
  return (
    row.lost > 0 ||
    row.duplicates > 0 ||
    row.stale > 0 ||
    row.error !== undefined ||
    row.recoverSeconds === undefined ||
    row.quarantined < (row.expectedQuarantined ?? 0)
  )
}

/** The matrix fails when any row does. */
export function matrixFailed(rows: ScenarioRow[]): boolean {
  return rows.some(rowFailed)
}

export const COLUMNS = [
  'scenario',
  'injected at',
  'produced',
  'indexed',
  'landed raw',
  'merged in the lake',
  'quarantined',
  'lost',
  'duplicates',
  'time to recover',
  'verdict',
] as const

function cells(row: ScenarioRow): string[] {
  return [
    row.scenario,
    row.injectedAt,
    String(row.produced),
    String(row.indexed),
    String(row.landedRaw),
    row.merged === undefined ? 'not run' : String(row.merged),
    String(row.quarantined),
    String(row.lost),
    String(row.duplicates),
    row.recoverSeconds === undefined ? 'never' : `${row.recoverSeconds} s`,
    row.error ? `FAILED: ${row.error}` : rowFailed(row) ? 'FAILED' : 'OK',
  ]
}

/** A Markdown table (it reads in a terminal and pastes into the README as is). */
export function renderTable(rows: ScenarioRow[]): string {
  const body = rows.map(cells)
  const widths = COLUMNS.map((column, i) =>
    Math.max(column.length, ...body.map((line) => line[i]?.length ?? 0)),
  )
  const numeric = (i: number) => i >= 2 && i <= 8
  const line = (values: readonly string[]) =>
    `| ${values.map((value, i) => (numeric(i) ? value.padStart(widths[i] ?? 0) : value.padEnd(widths[i] ?? 0))).join(' | ')} |`
  const rule = `| ${widths.map((width, i) => (numeric(i) ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width))).join(' | ')} |`
  return [line(COLUMNS), rule, ...body.map(line)].join('\n')
}
