/**
 * Vitest setup file: what the functions write straight to stdout and stderr (Powertools JSON log
 * lines, INFO to stdout and WARN/ERROR to stderr, and EMF metrics) goes to
 * .local/test/logs/functions.ndjson, as `make run` writes it to its profile's log, so the test
 * output shows the tests. A failing test still shows what was written while it ran. (What goes
 * through `console` is vitest's: `silent: 'passed-only'` in vitest.config.ts keeps it to failures.)
 */
import { createWriteStream, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { beforeAll, beforeEach } from 'vitest'

export const FUNCTION_OUTPUT = join(
  import.meta.dirname,
  '..',
  '..',
  '.local',
  'test',
  'logs',
  'functions.ndjson',
)

const streams = [process.stdout, process.stderr]
const originals = streams.map((stream) => stream.write)
let duringTest: string[] = []

beforeAll(() => {
  mkdirSync(dirname(FUNCTION_OUTPUT), { recursive: true })
  const file = createWriteStream(FUNCTION_OUTPUT, { flags: 'a' })
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
      duringTest.push(text)
      const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined
      file.write(text, callback)
      // Nothing waits on these streams' drain: the file absorbs the output, as in `make run`.
      return true
    }) as typeof stream.write
  }
  return async () => {
    streams.forEach((stream, i) => {
      stream.write = originals[i] as typeof stream.write
    })
    await new Promise<void>((resolve) => file.end(resolve))
  }
})

beforeEach(({ onTestFailed }) => {
  duringTest = []
  onTestFailed(() => {
    if (duringTest.length === 0) return
    console.error(`function output during this test (all of it: ${FUNCTION_OUTPUT}):\n${duringTest.join('')}`)
  })
})
