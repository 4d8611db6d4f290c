/**
 * The small text machines the day-two commands share: a plain-text table, byte sizes, and
 * colours that switch off when the output is not a terminal (or NO_COLOR is set).
 */

/** Left-aligned columns separated by two spaces; the header underlined with dashes. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(visibleLength(title), ...rows.map((row) => visibleLength(row[column] ?? ''))),
  )
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - visibleLength(cell)),
      )
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n')
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour sequences are what it strips.
const ANSI = /\u001b\[[0-9;]*m/g

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '')
}

function visibleLength(text: string): number {
  return stripAnsi(text).length
}

/** 1536 -> "1.5 KiB"; binary units, as `du -h` and the OpenSearch/Kafka docs count them. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

export type Colour = 'red' | 'yellow' | 'green' | 'cyan' | 'grey' | 'bold'

const CODES: Record<Colour, string> = {
  red: '31',
  yellow: '33',
  green: '32',
  cyan: '36',
  grey: '90',
  bold: '1',
}

export type Paint = (colour: Colour, text: string) => string

export const paintWith =
  (enabled: boolean): Paint =>
  (colour, text) =>
    enabled ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text

/** Colours for a stream: only on a terminal, never with NO_COLOR (https://no-color.org). */
export function paintFor(stream: NodeJS.WriteStream): Paint {
  return paintWith(Boolean(stream.isTTY) && !process.env.NO_COLOR)
}
