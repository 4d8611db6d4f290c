/**
 * Reading the upstream APIs' raw payloads with zod: the fields Alpaca's quotes and bars share,
 * and one formatter for the issues. Numbers arrive as their JSON source text
 * (shared/adapters/http.ts), so a price is read into big.js from that text and never passes
 * through binary floating point. Each issue message names its field, so a rejection's detail says
 * which field of the payload was wrong without a path prefix.
 */
import Big from 'big.js'
import * as z from 'zod'

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

/** An API number as an exact decimal; any finite notation big.js reads (`8.473e-05` too). */
export const alpacaDecimal = (field: string) =>
  z
    .string({ error: (issue) => `${field} is not a number: ${JSON.stringify(issue.input)}` })
    .transform((text, ctx) => {
      try {
        return new Big(text)
      } catch {
        ctx.issues.push({
          code: 'custom',
          input: text,
          message: `${field} is not a finite number: ${JSON.stringify(text)}`,
        })
        return z.NEVER
      }
    })

/** An RFC-3339 timestamp as epoch milliseconds. */
export const alpacaTime = (field: string) =>
  z
    .string({ error: (issue) => `${field} is not an RFC-3339 timestamp: ${JSON.stringify(issue.input)}` })
    .regex(RFC3339, {
      error: (issue) => `${field} is not an RFC-3339 timestamp: ${JSON.stringify(issue.input)}`,
    })
    .transform((text, ctx) => {
      const ms = Date.parse(text)
      if (!Number.isNaN(ms)) return ms
      ctx.issues.push({ code: 'custom', input: text, message: `${field} is not a valid time: ${text}` })
      return z.NEVER
    })

/** The issues of a failed read as one line; the messages above already name their field. */
export const issueMessages = (error: z.ZodError): string =>
  error.issues.map((issue) => issue.message).join('; ')
