/**
 * Time as the contracts write it: whole seconds in UTC (`2026-11-30T08:15:00Z`), minutes as
 * their epoch milliseconds. One helper for the producers, the lake window and the runtime.
 */

export const MINUTE = 60_000
export const HOUR = 60 * MINUTE

/** Formats an instant the way ids and partitions expect: `YYYY-MM-DDTHH:MM:SSZ`. */
export function isoSeconds(at: Date | number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The start of the minute `ms` falls in. */
export const floorMinute = (ms: number): number => Math.floor(ms / MINUTE) * MINUTE

/** The start of the hour `ms` falls in. */
export const floorHour = (ms: number): number => Math.floor(ms / HOUR) * HOUR
