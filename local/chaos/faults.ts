/**
 * Fault injection into the LOCAL runtime only, for `make chaos`: read from the `LOCAL_FAULTS`
 * environment variable (JSON) by local/runtime/lambda.ts, which hosts the functions on one machine. Unset
 * (always, outside `make chaos`), nothing is installed. Nothing of it is deployed: production code
 * has no hook at all.
 *
 * - `failWrite: { path, after?, times? }` — an object write (the local object store writes a
 *   temporary file, then renames it into place) whose destination path contains `path` fails with
 *   EIO, after `after` such writes succeeded, `times` times (default 1). With `watermarks.json`:
 *   poll-bars dies between its produce and its watermark write; with the raw zone's topic
 *   prefix and `after: 1`: land-raw's object write fails mid-batch.
 * - `failAfterReturn: { function, times? }` — the function's handler ran to the end, then the
 *   invocation fails as if the sandbox died before returning (index-events: its bulk request
 *   succeeded, the event source never hears it): the batch is delivered again.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { z } from 'zod'

const LocalFaults = z.strictObject({
  failWrite: z
    .strictObject({
      path: z.string().min(1),
      after: z.number().int().min(0).default(0),
      times: z.number().int().min(1).default(1),
    })
    .optional(),
  failAfterReturn: z
    .strictObject({ function: z.string().min(1), times: z.number().int().min(1).default(1) })
    .optional(),
})
export type LocalFaults = z.infer<typeof LocalFaults>

export interface InstalledFaults {
  /** Called by the local Lambda host once a handler has returned: throws while the fault lasts. */
  afterReturn(functionName: string): void
  /** What was injected so far. */
  injected: { failedWrites: number; failedReturns: number }
}

export function parseLocalFaults(text: string): LocalFaults {
  return LocalFaults.parse(JSON.parse(text))
}

/**
 * Installs the faults `text` describes in this process. The object-store write is caught at
 * `fs/promises.rename` (the local adapter's atomic write), patched and re-exported to the ES
 * modules that imported it (`syncBuiltinESMExports`).
 */
export function installLocalFaults(
  text: string | undefined,
  log: (line: string) => void = console.error,
): InstalledFaults | undefined {
  if (!text) return undefined
  const faults = parseLocalFaults(text)
  const injected = { failedWrites: 0, failedReturns: 0 }
  if (faults.failWrite) {
    const { path, after, times } = faults.failWrite
    const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises')
    const rename = fsp.rename
    let seen = 0
    fsp.rename = async (from, to) => {
      if (String(to).includes(path) && !String(to).endsWith('.partial')) {
        seen++
        if (seen > after && injected.failedWrites < times) {
          injected.failedWrites++
          log(`LOCAL_FAULTS: write of ${String(to)} failed (injected ${injected.failedWrites}/${times})`)
          throw Object.assign(new Error(`EIO: injected write failure, rename '${String(to)}'`), {
            code: 'EIO',
          })
        }
      }
      return rename(from, to)
    }
    syncBuiltinESMExports()
  }
  return {
    injected,
    afterReturn(functionName) {
      const fault = faults.failAfterReturn
      if (!fault || fault.function !== functionName || injected.failedReturns >= fault.times) return
      injected.failedReturns++
      log(
        `LOCAL_FAULTS: ${functionName} died after its handler returned (injected ${injected.failedReturns}/${fault.times})`,
      )
      throw new Error(`${functionName}: injected: the invocation died after its handler returned`)
    },
  }
}
