/**
 * The live status of `make run` in the terminal: per topic produced, lag, indexed, landed and
 * quarantined, and the lake refresh in progress or the last one. On a TTY it is redrawn in place
 * under the progress lines (log-update); piped, redirected or on a terminal of unknown width, it
 * becomes a plain line now and then, only when something changed.
 */
import { createLogUpdate } from 'log-update'
import type { LakeRunStatus, PipelineStatus } from '../dashboard/pipeline-status.ts'

const clock = (date: Date) => date.toISOString().slice(11, 19)

function describeLake(run: LakeRunStatus): string {
  const window = run.window ? ` ${run.window.start.slice(11, 16)}-${run.window.end.slice(11, 16)}` : ''
  return `${run.name}${window} ${run.status} ${run.seconds} s${run.error ? ` (${run.error})` : ''}`
}

/** The status as lines of text (pure: the tests read it). */
export function formatStatus(status: PipelineStatus): string[] {
  const topics = Object.entries(status.topics)
  const width = Math.max(0, ...topics.map(([topic]) => topic.length))
  const lines = topics.map(([topic, t]) => {
    const lag = Object.entries(t.lag)
      .map(([consumer, value]) => `${consumer} ${value}`)
      .join(', ')
    return `  ${topic.padEnd(width)}  produced ${t.produced}  lag ${lag || '-'}  indexed ${t.indexed}  landed ${t.landed}  quarantined ${t.quarantined}${t.lost > 0 ? `  LOST ${t.lost}` : ''}`
  })
  const lake = status.lake.current
    ? `lake: ${describeLake(status.lake.current)}${status.lake.last ? `; last ${describeLake(status.lake.last)}` : ''}`
    : status.lake.last
      ? `lake: last ${describeLake(status.lake.last)}`
      : 'lake: no refresh yet'
  const lost = status.lost === 0 ? 'nothing lost so far' : `${status.lost} LOST`
  return [`[status ${clock(new Date(status.sampled_at))}] ${lost}; ${lake}`, ...lines]
}

export interface StatusLine {
  /** Writes a progress line above the status (the status stays at the bottom). */
  log(line: string): void
  update(status: PipelineStatus): void
  /** Leaves the last status in the scrollback and stops redrawing. */
  done(): void
}

export function createStatusLine(
  stream: NodeJS.WriteStream = process.stderr,
  options: { plainEveryMs?: number } = {},
): StatusLine {
  // A terminal that reports no width (`script`, some CI runners) cannot be redrawn in place.
  if (!stream.isTTY || !stream.columns) {
    const plainEveryMs = options.plainEveryMs ?? 15_000
    let lastText = ''
    let lastAt = 0
    return {
      log: (line) => stream.write(`${line}\n`),
      update(status) {
        const lines = formatStatus(status)
        const text = lines.slice(1).join('\n') + lines[0]?.replace(/^\[status \S+\] /, '')
        if (text === lastText || Date.now() - lastAt < plainEveryMs) return
        lastText = text
        lastAt = Date.now()
        stream.write(`${lines.join('\n')}\n`)
      },
      done() {},
    }
  }
  const live = createLogUpdate(stream)
  let current = ''
  let finished = false
  return {
    log(line) {
      if (finished || current === '') stream.write(`${line}\n`)
      else {
        // persist() erases the status and writes the line; the status is drawn again below it.
        live.persist(line)
        live(current)
      }
    },
    update(status) {
      if (finished) return
      current = formatStatus(status).join('\n')
      live(current)
    },
    done() {
      if (finished) return
      finished = true
      if (current) live.done()
    },
  }
}
