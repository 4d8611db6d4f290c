import * as z from 'zod'
import { EXPORTED_CONTRACTS } from './contracts.ts'

/** The JSON Schema text of every exported contract, keyed by file name; deterministic output. */
export function renderContracts(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(EXPORTED_CONTRACTS).map(([file, schema]) => [
      file,
      `${JSON.stringify({ $id: file, ...z.toJSONSchema(schema, { target: 'draft-2020-12' }) }, null, 2)}\n`,
    ]),
  )
}
