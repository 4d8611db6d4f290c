/**
 * One table for every benchmark: each reports its figures as rows (this project's value, the
 * limit or peer measured in the same run, their ratio, the aim), and the runner `bench/run.ts`
 * prints them together at the end.
 *
 * Hand-off is a file of JSON lines named by BENCH_ROWS_FILE, because benchmarks run as separate
 * processes (tsx and Python alike can append a line). A benchmark run alone (no BENCH_ROWS_FILE)
 * prints its own rows as a table instead.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs'

export interface BenchRow {
  /** What is measured, e.g. "index-events records/s". */
  figure: string
  /** This project's value. */
  project: number
  /** The limit or peer measured in the same run (e.g. plain _bulk), or null if the aim is absolute. */
  peer: number | null
  /** What `peer` is, e.g. "plain _bulk". */
  peerLabel?: string
  /** project / peer (or project / aim for absolute aims); null when there is nothing to divide by. */
  ratio: number | null
  /** The aim, as written in the issue, e.g. ">= 0.8x" or "<= 1 MB". */
  aim: string
  /** Unit of `project` and `peer`, e.g. "records/s", "µs/record", "KiB", "ms". */
  unit: string
  /** Whether the aim is met; undefined when the row has no aim (an informative figure). */
  met?: boolean
}

export const ROWS_FILE_ENV = 'BENCH_ROWS_FILE'

/** Reports rows: appended to BENCH_ROWS_FILE when the runner set it, printed otherwise. */
export function reportRows(rows: BenchRow[]): void {
  const file = process.env[ROWS_FILE_ENV]
  if (file) appendFileSync(file, rows.map((row) => `${JSON.stringify(row)}\n`).join(''))
  else console.log(formatTable(rows))
}

export function readRows(file: string): BenchRow[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as BenchRow)
}

/** Three significant figures at most, no exponent: figures are noisy, more digits would lie. */
export function formatValue(value: number | null): string {
  if (value === null || Number.isNaN(value)) return '-'
  const abs = Math.abs(value)
  if (abs >= 100) return Math.round(value).toLocaleString('en-US')
  if (abs >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

/** A Markdown table (readable in a terminal and pasteable into the README). */
export function formatTable(rows: BenchRow[]): string {
  const header = ['figure', 'this project', 'limit / peer (same run)', 'ratio', 'aim', 'met']
  const body = rows.map((row) => [
    row.figure,
    `${formatValue(row.project)} ${row.unit}`,
    row.peer === null
      ? '-'
      : `${formatValue(row.peer)} ${row.unit}${row.peerLabel ? ` (${row.peerLabel})` : ''}`,
    row.ratio === null ? '-' : `${formatValue(row.ratio)}x`,
    row.aim,
    row.met === undefined ? '' : row.met ? 'yes' : 'NO',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => (cells[i] ?? '').length)))
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n')
}
