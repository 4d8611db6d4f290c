/**
 * One progress line format for the local commands: `[<tag> HH:MM:SS] ...` on stderr, so that
 * stdout stays the command's result (a report, a table, the functions' output).
 */

/** `HH:MM:SS` of `date`, UTC: the time of day a progress line carries. */
export const timeOfDay = (date: Date = new Date()): string => date.toISOString().slice(11, 19)

/** A log function writing `[<tag> HH:MM:SS] <line>` to stderr. */
export const progressLog =
  (tag: string) =>
  (line: string): void => {
    process.stderr.write(`[${tag} ${timeOfDay()}] ${line}\n`)
  }
