/** The scheduled minute the simulate-trades unit tests run. */
export const MINUTE = new Date('2026-11-30T10:07:00Z')

/** A raw quote as shared/adapters/http.ts hands it over: numbers as their JSON source text. */
export const rawQuote = (bid: string, ask: string, t = '2026-11-30T10:07:01.250Z') => ({
  t,
  bp: bid,
  bs: '0.5',
  ap: ask,
  as: '0.4',
})
