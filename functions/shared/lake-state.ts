/**
 * What the lake-refresh planner knows about the raw zone, kept in the raw bucket next to it:
 *
 * - a landing marker per topic and event-time partition, `raw/_lake/landed/{topic}/dt=YYYY-MM-DD/hour=HH.json`,
 *   rewritten by land-raw after every batch that landed records there: its last-modified time
 *   is the partition's last landing (late records and backfills included);
 * - the checkpoint of the last successful scheduled refresh, written by the state machine only
 *   after Refresh and Quality succeeded.
 *
 * Under `raw/` so land-raw's existing grant on `raw/*` covers the markers and the raw zone's
 * lifecycle expires them with the data; `_lake` is no topic name, so nothing that reads
 * `raw/{topic}/` sees them.
 */
export const LANDED_PREFIX = 'raw/_lake/landed/'
export const CHECKPOINT_KEY = 'raw/_lake/refresh-checkpoint.json'

const HOUR_MS = 3_600_000

/** The marker key of the event-time hour holding `eventTime` (ISO-8601, UTC). */
export function landedMarkerKey(topic: string, eventTime: string): string {
  const at = new Date(eventTime)
  if (Number.isNaN(at.getTime())) throw new Error(`invalid event time: ${eventTime}`)
  const iso = at.toISOString()
  return `${LANDED_PREFIX}${topic}/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}.json`
}

const MARKER_PATTERN = /^raw\/_lake\/landed\/([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\.json$/

/** The topic and hour start (epoch ms) of a marker key, or undefined for any other key. */
export function parseLandedMarkerKey(key: string): { topic: string; hourStart: number } | undefined {
  const match = MARKER_PATTERN.exec(key)
  if (!match) return undefined
  const hourStart = Date.parse(`${match[2]}T${match[3]}:00:00Z`)
  if (Number.isNaN(hourStart) || hourStart % HOUR_MS !== 0) return undefined
  return { topic: match[1] ?? '', hourStart }
}

/**
 * The checkpoint of the last successful scheduled refresh.
 * - `listed_at`: when the planner listed the markers (before the refresh read anything), so a
 *   partition that lands while the refresh runs is newer than it and goes to the next run;
 * - `seen`: the markers listed within the lookback before `listed_at` with their last-modified
 *   times, so the next plan re-reads a marker from that margin only when it changed again;
 * - `judged_until`: where the refresh's quality window ended; the next one starts no later.
 */
export interface RefreshCheckpoint {
  listed_at: string
  judged_until: string
  seen: Record<string, string>
}
