/**
 * Reads the schedules from the packaged CloudFormation template — the same EventBridge rules
 * `serverless deploy` creates — and fires them locally with the payload EventBridge sends.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export type ScheduleTarget = { kind: 'function'; name: string } | { kind: 'stateMachine'; logicalId: string }

export interface Schedule {
  rule: string
  expression: string
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

/** `rate(5 minutes)` -> 300000. Cron expressions are not fired locally (none is declared yet). */
export function parseRate(expression: string): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim())
  if (!match) throw new Error(`unsupported schedule expression ${expression}: only rate(...) is emulated`)
  const unit = (match[2] as string).replace(/s$/, '') as keyof typeof UNIT_MS
  return Number(match[1]) * UNIT_MS[unit]
}

/** serverless names a function's resource `<Name>LambdaFunction`, with the first letter upper-cased. */
function functionNameOf(logicalId: string): string | undefined {
  const match = /^(.+)LambdaFunction$/.exec(logicalId)
  return match?.[1] ? match[1].charAt(0).toLowerCase() + match[1].slice(1) : undefined
}

interface Resource {
  Type: string
  Properties?: Record<string, unknown>
}

export function schedulesFromTemplate(template: { Resources: Record<string, Resource> }): Schedule[] {
  const schedules: Schedule[] = []
  for (const [rule, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Events::Rule') continue
    const props = resource.Properties ?? {}
    const expression = props.ScheduleExpression
    if (typeof expression !== 'string' || props.State === 'DISABLED') continue
    for (const target of (props.Targets as Array<Record<string, unknown>> | undefined) ?? []) {
      const arn = target.Arn as { 'Fn::GetAtt'?: [string, string]; Ref?: string } | undefined
      const input = typeof target.Input === 'string' ? JSON.parse(target.Input) : undefined
      const functionName = arn?.['Fn::GetAtt'] ? functionNameOf(arn['Fn::GetAtt'][0]) : undefined
      const common = { rule, expression, periodMs: parseRate(expression), input }
      if (functionName) schedules.push({ ...common, target: { kind: 'function', name: functionName } })
      else if (arn?.Ref) schedules.push({ ...common, target: { kind: 'stateMachine', logicalId: arn.Ref } })
    }
  }
  return schedules
}

export function readSchedules(templatePath: string): Schedule[] {
  return schedulesFromTemplate(JSON.parse(readFileSync(templatePath, 'utf8')))
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

export function fileScheduleState(path: string): ScheduleState {
  let state: Record<string, number> = {}
  try {
    state = JSON.parse(readFileSync(path, 'utf8'))
  } catch {}
  return {
    lastFired: (rule) => state[rule],
    fired(rule, at) {
      state[rule] = at
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`)
    },
  }
}

/**
 * Fires each schedule at the boundaries of its period (plus `offsetMs`, so the minute being
 * polled has closed), never overlapping itself: a slow invocation delays the next, as a
 * single-concurrency function would. A schedule whose last firing is a whole period ago or more
 * (or that never fired) fires once right away — the local machine was off, the daily job is due.
 * `speedup` compresses time for demos (`rate(1 hour)` at speedup 60 fires every minute).
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
  },
): Scheduler {
  const timers = new Set<NodeJS.Timeout>()
  const running = new Set<Promise<void>>()
  let stopped = false
  for (const schedule of schedules) {
    const period = schedule.periodMs / (options.speedup?.(schedule) ?? 1)
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
      const now = Date.now()
      const next = Math.floor(now / period) * period + period
      const timer = setTimeout(
        () => {
          timers.delete(timer)
          run(next)
        },
        next - now + (options.offsetMs ?? 0),
      )
      timers.add(timer)
    }
    const last = options.state?.lastFired(schedule.rule)
    const now = Date.now()
    const due = last === undefined || now - last >= period
    if (due && (options.catchUp?.(schedule) ?? true)) run(Math.floor(now / 60_000) * 60_000)
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
