/**
 * One Alpaca latest quote (`{t, bp, bs, ap, as}`, numbers as their JSON source text) read by a
 * zod schema into the bid, ask and time that price a symbol's trades, and whether it is recent
 * enough to price them.
 */
import type Big from 'big.js'
import * as z from 'zod'
import { alpacaDecimal, alpacaTime, issueMessages } from '../shared/upstream-fields.ts'

/** A refinement's input is the parsed decimal: written out in full, never in exponent form. */
const fixed = (value: unknown) => (value as Big).toFixed()

/**
 * A usable quote: both prices positive and the book neither crossed nor locked (bid < ask), so a
 * BUY never pays less than a SELL receives. The sizes (`bs`, `as`) do not price anything.
 */
export const AlpacaQuoteSchema = z
  .object(
    {
      t: alpacaTime('t'),
      bp: alpacaDecimal('bp').refine((bid) => bid.gt(0), {
        error: (issue) => `bid ${fixed(issue.input)} is not positive`,
      }),
      ap: alpacaDecimal('ap').refine((ask) => ask.gt(0), {
        error: (issue) => `ask ${fixed(issue.input)} is not positive`,
      }),
    },
    { error: 'quote is not an object' },
  )
  .refine((quote) => quote.bp.lt(quote.ap), {
    error: (issue) => {
      const { bp, ap } = issue.input as { bp: Big; ap: Big }
      return `bid ${fixed(bp)} >= ask ${fixed(ap)}`
    },
  })
  .transform(({ t, bp, ap }) => ({ bid: bp.toFixed(), ask: ap.toFixed(), at: t }))

/** Prices as exact decimal text; `at` is the epoch ms of the quote. */
export type Quote = z.output<typeof AlpacaQuoteSchema>

/**
 * The quote, or why it cannot be used: a missing or non-numeric price, a non-positive price, a
 * crossed or locked book (bid >= ask), or a time that is not RFC-3339. Every issue is named.
 */
export function readQuote(raw: unknown): { quote: Quote } | { invalid: string } {
  const parsed = AlpacaQuoteSchema.safeParse(raw)
  return parsed.success ? { quote: parsed.data } : { invalid: issueMessages(parsed.error) }
}

/**
 * Whether a quote may price the trades of `minute`: at most `maxAgeMs` old when fetched (the
 * feed has not stalled) and within `maxAgeMs` of the scheduled minute (a schedule replayed
 * long after its minute must not price that minute at today's quote).
 */
export function isFreshQuote(quoteAt: number, minute: Date, fetchedAt: Date, maxAgeMs: number): boolean {
  return fetchedAt.getTime() - quoteAt <= maxAgeMs && Math.abs(quoteAt - minute.getTime()) <= maxAgeMs
}
