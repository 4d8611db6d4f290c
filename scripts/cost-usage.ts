/**
 * What the stack does in a month, read from the template itself plus the load assumptions: event
 * volumes from the producers' configuration, invocations from schedules and event sources, the raw
 * zone from its lifecycle, which function writes to which log group, the poller groups. Pure.
 */
import { asArray, referencedResource, refOf } from '../local/runtime/cfn.ts'
import { nextScheduledTime } from '../local/runtime/schedules.ts'
import type { CfnResource, CfnTemplate, LoadAssumptions } from './cost-types.ts'

export const GB = 1024 ** 3
const MINUTES_PER_HOUR = 60
const WEEK_MS = 7 * 24 * 3_600_000

/**
 * Average firings per hour of an EventBridge schedule expression, `rate(...)` or `cron(...)`:
 * counted over one week with the local scheduler's own reading of the expression (one parser).
 * Throws for an expression it cannot read, so a schedule cannot silently cost nothing.
 */
export function firingsPerHour(expression: string): number {
  const rule = { rule: 'cost-model', expression }
  const from = Date.UTC(2026, 0, 5)
  let firings = 0
  for (let at = nextScheduledTime(rule, from - 1); at < from + WEEK_MS; at = nextScheduledTime(rule, at))
    firings++
  return firings / (WEEK_MS / 3_600_000)
}

/** One poller group of Kafka event source mappings, billed once on its first mapping. */
export interface PollerGroup {
  first: string
  pollers: number
  mappings: number
}

export interface Usage {
  template: CfnTemplate
  load: LoadAssumptions
  hours: number
  gbInPerMonth: number
  /** Invocations per month of each function, and executions of each state machine. */
  invocations: Map<string, number>
  rawStoredGb: number
  rawNewGbPerMonth: number
  /** Log group logical id -> the function that writes to it. */
  logGroupOf: Map<string, string>
  /** Poller group name -> its mappings; a mapping without a group is a group of its own. */
  pollerGroups: Map<string, PollerGroup>
}

type Events = { bars: number; trades: number; assets: number }

/** Events per month from the producers' own configuration (SYMBOLS, TRADES_PER_MINUTE). */
function eventsPerMonth(template: CfnTemplate, load: LoadAssumptions, hours: number): Events {
  const minutesPerMonth = hours * MINUTES_PER_HOUR
  const envOf = (id: string) =>
    ((template.Resources[id]?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}) as Record<string, unknown>
  const has = (id: string) => Object.hasOwn(template.Resources, id)
  const symbols = has('PollBarsLambdaFunction')
    ? String(envOf('PollBarsLambdaFunction').SYMBOLS ?? '')
        .split(',')
        .filter(Boolean).length
    : 0
  const tradesPerMinute = has('SimulateTradesLambdaFunction')
    ? Number(envOf('SimulateTradesLambdaFunction').TRADES_PER_MINUTE ?? 0)
    : 0
  return {
    bars: symbols * minutesPerMonth,
    trades: tradesPerMinute * minutesPerMonth,
    assets: load.assetsPerDay * (hours / 24),
  }
}

/** Invocations per month of each function: its schedules, or its event source mappings. */
function invocationsPerMonth(
  template: CfnTemplate,
  load: LoadAssumptions,
  hours: number,
): Map<string, number> {
  const invocations = new Map<string, number>()
  const count = (target: string, perMonth: number) =>
    invocations.set(target, (invocations.get(target) ?? 0) + perMonth)
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== 'AWS::Events::Rule' || typeof r.Properties?.ScheduleExpression !== 'string') continue
    const perHour = firingsPerHour(r.Properties.ScheduleExpression)
    for (const target of asArray(r.Properties.Targets as Array<{ Arn: unknown }> | undefined)) {
      // A function target names its Arn attribute; a state machine target is its Ref (the ARN).
      const fn = referencedResource(target.Arn)
      if (fn) count(fn, perHour * hours)
    }
  }
  for (const [fn, perMinute] of Object.entries(load.batchesPerMinute))
    if (template.Resources[fn]) count(fn, perMinute * (hours * MINUTES_PER_HOUR))
  for (const [fn, perMonth] of Object.entries(load.invocationsPerMonth))
    if (template.Resources[fn]) count(fn, perMonth)
  return invocations
}

/** Raw zone: every valid event lands once; trades and quarantine expire with the PII retention. */
function rawZone(template: CfnTemplate, load: LoadAssumptions, hours: number, events: Events) {
  const rules = (
    template.Resources.RawBucket?.Properties?.LifecycleConfiguration as
      | { Rules?: Array<{ Id?: string; ExpirationInDays?: number }> }
      | undefined
  )?.Rules
  const rawRetentionDays = rules?.find((rule) => rule.Id === 'ExpireRawZone')?.ExpirationInDays ?? 365
  const piiRetentionDays =
    rules?.find((rule) => rule.Id === 'ExpireTradesPersonalData')?.ExpirationInDays ?? 30
  const gbPerDay = (count: number) => ((count / (hours / 24)) * load.rawLineBytes) / GB
  return {
    rawStoredGb:
      gbPerDay(events.bars + events.assets) * rawRetentionDays +
      gbPerDay(events.trades) * Math.min(piiRetentionDays, rawRetentionDays),
    rawNewGbPerMonth: ((events.bars + events.trades + events.assets) * load.rawLineBytes) / GB,
  }
}

/** Log groups: where each function writes (its LoggingConfig, else the group of its default name). */
function logGroupWriters(resources: Array<[string, CfnResource]>): Map<string, string> {
  const logGroupOf = new Map<string, string>()
  for (const [id, r] of resources) {
    if (r.Type !== 'AWS::Lambda::Function') continue
    const configured = refOf((r.Properties?.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup)
    const byName = resources.find(
      ([, g]) =>
        g.Type === 'AWS::Logs::LogGroup' &&
        g.Properties?.LogGroupName === `/aws/lambda/${String(r.Properties?.FunctionName)}`,
    )?.[0]
    const group = configured ?? byName
    if (group) logGroupOf.set(group, id)
  }
  return logGroupOf
}

/** The Kafka event source mappings by poller group, in template order. */
function pollerGroupsOf(resources: Array<[string, CfnResource]>): Map<string, PollerGroup> {
  const groups = new Map<string, PollerGroup>()
  for (const [id, r] of resources) {
    if (r.Type !== 'AWS::Lambda::EventSourceMapping') continue
    const config = (r.Properties?.ProvisionedPollerConfig ?? {}) as {
      MinimumPollers?: number
      PollerGroupName?: string
    }
    const name = config.PollerGroupName ?? id
    const group = groups.get(name) ?? { first: id, pollers: 0, mappings: 0 }
    group.pollers += config.MinimumPollers ?? 1
    group.mappings++
    groups.set(name, group)
  }
  return groups
}

/** Everything the per-resource rules need to know about the month, derived once. */
export function deriveUsage(template: CfnTemplate, load: LoadAssumptions, hours: number): Usage {
  const resources = Object.entries(template.Resources)
  const events = eventsPerMonth(template, load, hours)
  const bytesInPerMonth =
    events.bars * load.eventBytes.bars +
    events.trades * load.eventBytes.trades +
    events.assets * load.eventBytes.assets
  return {
    template,
    load,
    hours,
    gbInPerMonth: bytesInPerMonth / GB,
    invocations: invocationsPerMonth(template, load, hours),
    ...rawZone(template, load, hours, events),
    logGroupOf: logGroupWriters(resources),
    pollerGroups: pollerGroupsOf(resources),
  }
}
