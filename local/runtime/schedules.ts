/**
 * Reads the schedules from the packaged CloudFormation template — the same EventBridge rules
 * `serverless deploy` creates — and fires them locally with the payload EventBridge sends, when
 * EventBridge would: a `rate(...)` rule at a fixed but arbitrary second of its period (its
 * creation), a `cron(...)` rule at second 0 of each matching minute, both plus a delivery delay.
 */
import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { type CfnTemplate, functionKeyOf, getAttOf, refOf, resourcesOfType } from './cfn.ts'

export type ScheduleTarget = { kind: 'function'; name: string } | { kind: 'stateMachine'; logicalId: string }

export interface Schedule {
  rule: string
  expression: string
  /** Nominal period (for compression and catch-up); firing times come from {@link nextScheduledTime}. */
  periodMs: number
  target: ScheduleTarget
  input?: unknown
}

export interface ScheduledEvent {
  version: '0'
  id: string
  'detail-type': 'Scheduled Event'
  source: 'aws.events'
  account: string
  time: string
  region: string
  resources: string[]
  detail: Record<string, never>
}

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const
const MINUTE_MS = 60_000

/** `rate(5 minutes)` -> 300000. */
export function parseRate(expression: string): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim())
  if (!match) throw new Error(`not a rate expression: ${expression}`)
  const unit = (match[2] as string).replace(/s$/, '') as keyof typeof UNIT_MS
  return Number(match[1]) * UNIT_MS[unit]
}

/** The values each field of an EventBridge cron expression allows. */
const CRON_FIELDS = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day-of-week', min: 1, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
  { name: 'year', min: 1970, max: 2199 },
] as const

/** A parsed cron expression: the allowed values of each field; `undefined` day field = `?`. */
export interface Cron {
  minutes: Set<number>
  hours: Set<number>
  daysOfMonth: Set<number> | undefined
  months: Set<number>
  daysOfWeek: Set<number> | undefined
  years: Set<number>
}

function parseCronField(text: string, field: (typeof CRON_FIELDS)[number], expression: string): Set<number> {
  const names: readonly string[] = 'names' in field ? field.names : []
  const value = (token: string) => {
    const named = names.indexOf(token.toUpperCase())
    const number = named >= 0 ? named + field.min : Number(token)
    if (!/^\d+$/.test(token) && named < 0)
      throw new Error(`${expression}: ${field.name} ${token} is not supported`)
    if (number < field.min || number > field.max)
      throw new Error(`${expression}: ${field.name} ${token} out of range`)
    return number
  }
  const values = new Set<number>()
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/')
    const step = stepText === undefined ? 1 : Number(stepText)
    if (!Number.isInteger(step) || step < 1) throw new Error(`${expression}: ${field.name} step ${stepText}`)
    let low: number
    let high: number
    if (range === '*') [low, high] = [field.min, field.max]
    else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-')
      ;[low, high] = [value(a), value(b)]
    } else {
      low = value(range)
      // `5/15`: from 5, every 15 to the end of the range, as EventBridge reads it.
      high = stepText === undefined ? low : field.max
    }
    for (let v = low; v <= high; v += step) values.add(v)
  }
  return values
}

/**
 * EventBridge's 6-field `cron(minutes hours day-of-month month day-of-week year)`, UTC: `*`, `?`,
 * numbers and names, ranges `a-b`, lists `a,b` and increments `a/n`. `L`, `W` and `#` are not
 * emulated (no schedule of this service uses them): they are refused rather than misread.
 */
export function parseCron(expression: string): Cron {
  const match = /^cron\((.*)\)$/.exec(expression.trim())
  const parts = match?.[1]?.trim().split(/\s+/) ?? []
  if (parts.length !== 6) throw new Error(`${expression}: a cron expression has 6 fields`)
  const [minutes, hours, dom, month, dow, year] = parts as [string, string, string, string, string, string]
  if ((dom === '?') === (dow === '?'))
    throw new Error(`${expression}: exactly one of day-of-month and day-of-week must be ?`)
  const field = (text: string, index: number) => parseCronField(text, CRON_FIELDS[index] as never, expression)
  return {
    minutes: field(minutes, 0),
    hours: field(hours, 1),
    daysOfMonth: dom === '?' ? undefined : field(dom, 2),
    months: field(month, 3),
    daysOfWeek: dow === '?' ? undefined : field(dow, 4),
    years: field(year, 5),
  }
}

/** The first minute strictly after `afterMs` that the cron matches (epoch ms, second 0). */
export function nextCronTime(cron: Cron, afterMs: number): number {
  let t = Math.floor(afterMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS
  const limit = Date.UTC(2200, 0, 1)
  while (t < limit) {
    const at = new Date(t)
    const dayMatches =
      cron.years.has(at.getUTCFullYear()) &&
      cron.months.has(at.getUTCMonth() + 1) &&
      (cron.daysOfMonth?.has(at.getUTCDate()) ?? true) &&
      (cron.daysOfWeek?.has(at.getUTCDay() + 1) ?? true)
    if (!dayMatches) {
      t = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + 1)
      continue
    }
    if (!cron.hours.has(at.getUTCHours())) {
      t = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate(), at.getUTCHours() + 1)
      continue
    }
    if (cron.minutes.has(at.getUTCMinutes())) return t
    t += MINUTE_MS
  }
  throw new Error('the cron expression matches no time before 2200')
}

/**
 * The phase of a rate rule within its period. EventBridge starts a rate rule when the rule is
 * created, so it fires at a fixed but arbitrary second of its period; locally that second is
 * derived from the rule's name (stable across runs, different between rules).
 */
export function ratePhaseMs(rule: string, periodMs: number): number {
  const hash = createHash('sha256').update(rule).digest().readUIntBE(0, 6)
  return (hash % Math.max(1, Math.floor(periodMs / 1000))) * 1000
}

/**
 * The first scheduled instant of the rule strictly after `afterMs`: a rate rule at its phase of
 * each period, a cron rule at second 0 of each matching minute. Delivery delay comes on top.
 */
export function nextScheduledTime(schedule: Pick<Schedule, 'rule' | 'expression'>, afterMs: number): number {
  const expression = schedule.expression.trim()
  if (expression.startsWith('cron(')) return nextCronTime(parseCron(expression), afterMs)
  const period = parseRate(expression)
  const phase = ratePhaseMs(schedule.rule, period)
  return Math.floor((afterMs - phase) / period) * period + phase + period
}

/** The nominal period: the gap between two consecutive firings (rate), or after a fixed Monday 00:00 (cron). */
export function periodOf(rule: string, expression: string): number {
  const first = nextScheduledTime({ rule, expression }, Date.UTC(2026, 0, 5) - 1)
  return nextScheduledTime({ rule, expression }, first) - first
}

/** The enabled EventBridge rules of the template with their targets: a function (its `Arn`) or a state machine (its `Ref`). */
export function schedulesFromTemplate(template: CfnTemplate): Schedule[] {
  const schedules: Schedule[] = []
  for (const [rule, resource] of resourcesOfType(template, 'AWS::Events::Rule')) {
    const props = resource.Properties ?? {}
    const expression = props.ScheduleExpression
    if (typeof expression !== 'string' || props.State === 'DISABLED') continue
    for (const target of (props.Targets as Array<Record<string, unknown>> | undefined) ?? []) {
      const input = typeof target.Input === 'string' ? JSON.parse(target.Input) : undefined
      const getAtt = getAttOf(target.Arn)
      const functionName = getAtt ? functionKeyOf(getAtt[0]) : undefined
      const stateMachine = refOf(target.Arn)
      const common = { rule, expression, periodMs: periodOf(rule, expression), input }
      if (functionName) schedules.push({ ...common, target: { kind: 'function', name: functionName } })
      else if (stateMachine)
        schedules.push({ ...common, target: { kind: 'stateMachine', logicalId: stateMachine } })
    }
  }
  return schedules
}

export function scheduledEvent(rule: string, time: Date): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'local',
    resources: [`arn:aws:events:local:000000000000:rule/${rule}`],
    detail: {},
  }
}

export interface Scheduler {
  stop(): Promise<void>
}

/** When each rule last fired, kept across runs so a missed run is caught up at start. */
export interface ScheduleState {
  lastFired(rule: string): number | undefined
  fired(rule: string, at: number): void
}

/** The state in a file; `forget` makes the rules `match` picks due at the next start. */
export function fileScheduleState(
  path: string,
): ScheduleState & { forget(match: (rule: string) => boolean): void } {
  let state: Record<string, number> = {}
  try {
    state = JSON.parse(readFileSync(path, 'utf8'))
  } catch {}
  const save = () => {
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`)
  }
  return {
    lastFired: (rule) => state[rule],
    fired(rule, at) {
      state[rule] = at
      save()
    },
    forget(match) {
      for (const rule of Object.keys(state)) if (match(rule)) delete state[rule]
      save()
    },
  }
}

/**
 * Fires each schedule at its next scheduled time ({@link nextScheduledTime}) plus `offsetMs`
 * (EventBridge delivers some seconds late; the minute being polled has closed), never
 * overlapping itself: a slow invocation skips the firings it overran, as a single-concurrency
 * function would. A schedule that missed a firing since it last fired (or never fired) fires
 * once right away if `catchUp` allows — the local machine was off, the daily job is due.
 * `speedup` compresses a schedule's time around the scheduler's start (`cron(7 * * * ? *)` at
 * speedup 30 fires every 2 minutes, 14 s into each): the same phase, compressed.
 */
export function startScheduler(
  schedules: Schedule[],
  fire: (schedule: Schedule, event: ScheduledEvent) => Promise<void>,
  options: {
    offsetMs?: number
    speedup?: (schedule: Schedule) => number
    state?: ScheduleState
    /** Whether a due schedule fires at start (default: every schedule). */
    catchUp?: (schedule: Schedule) => boolean
    log: (line: string) => void
    /** The clock (tests). */
    now?: () => number
  },
): Scheduler {
  const timers = new Set<NodeJS.Timeout>()
  const running = new Set<Promise<void>>()
  const now = options.now ?? Date.now
  const started = now()
  let stopped = false
  for (const schedule of schedules) {
    const k = Math.max(1, options.speedup?.(schedule) ?? 1)
    // Compressed time runs k times faster from the scheduler's start; k = 1 is real time.
    const next = (afterMs: number) => {
      const virtual = nextScheduledTime(schedule, started + (afterMs - started) * k)
      return Math.max(afterMs + 1, Math.ceil(started + (virtual - started) / k))
    }
    const run = (at: number) => {
      options.state?.fired(schedule.rule, at)
      const invocation = fire(schedule, scheduledEvent(schedule.rule, new Date(at)))
        .catch((error) => options.log(`${schedule.rule}: ${(error as Error).message}`))
        .finally(() => {
          running.delete(invocation)
          arm()
        })
      running.add(invocation)
    }
    const arm = () => {
      if (stopped) return
      const at = next(now())
      const timer = setTimeout(
        () => {
          timers.delete(timer)
          run(at)
        },
        at - now() + (options.offsetMs ?? 0),
      )
      timers.add(timer)
    }
    const last = options.state?.lastFired(schedule.rule)
    const missed = last === undefined || next(last) <= now()
    if (missed && (options.catchUp?.(schedule) ?? true)) run(Math.floor(now() / MINUTE_MS) * MINUTE_MS)
    else arm()
  }
  return {
    async stop() {
      stopped = true
      for (const timer of timers) clearTimeout(timer)
      await Promise.all(running)
    },
  }
}
