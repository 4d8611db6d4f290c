/**
 * `make invoke FN=pollBars [EVENT=event.json]`: one function, once, on the local runtime, with
 * the environment of the packaged service. `serverless invoke local` cannot resolve the template's
 * CloudFormation references (the MSK brokers, the buckets, the secrets); here, as in `make run`,
 * the literal values of the packaged function's environment are kept and the references become
 * the local stand-ins of `localStandIns` (the profile's Kafka, OpenSearch, buckets, PII key)
 * and the bundled market simulators.
 *
 * Without EVENT a function gets what its trigger would send: a scheduled function the rule's
 * input or an EventBridge scheduled event; an MSK consumer a batch of the newest records of its
 * topics (the sinks are idempotent, so re-delivering them is safe); anything else `{}`. A
 * CloudFormation custom resource (a request with a response URL) and a state machine's task (an
 * event built from the state's Parameters) have no default: EVENT is required.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import type { MskEvent } from '../../functions/shared/msk.ts'
import { captureFunctionOutput, localPaths, readOrCreateKey } from '../run.ts'
import { toMskEvent } from '../runtime/delivery.ts'
import {
  type FunctionSpec,
  functionSpec,
  invokeEnvironment,
  loadPackagedFunction,
  localStandIns,
  upstreamStandIns,
} from '../runtime/environment.ts'
import { toMskRecord } from '../runtime/event-source.ts'
import { earliestOffsets, endOffsets, readRange } from '../runtime/kafka-read.ts'
import { type LocalServices, localKafka, provisionLocalSinks } from '../runtime/local-sinks.ts'
import { scheduledEvent } from '../runtime/schedules.ts'
import {
  type CfnTemplate,
  eventSourceMappings,
  functionTimeouts,
  packageService,
  schedules,
} from '../runtime/template.ts'
import { type Profile, projectRoot, startServices } from '../services/index.ts'

/** Records per partition in the default MSK batch: enough to exercise a consumer, small to read. */
export const DEFAULT_BATCH_PER_PARTITION = 10n

/** `poll-bars`, `PollBars` or `pollBars` -> the function key of the template, or undefined. */
export function resolveFunctionName(template: CfnTemplate, wanted: string): string | undefined {
  const key = wanted.replace(/[-_]/g, '').toLowerCase()
  return Object.keys(functionTimeouts(template)).find((name) => name.toLowerCase() === key)
}

export type EventPlan =
  | { kind: 'scheduled'; rule: string; input: unknown }
  | { kind: 'msk'; topics: string[] }
  | { kind: 'empty' }
  | { kind: 'needs-event'; reason: string }

/** What a function's trigger would send it, from the packaged template. */
export function defaultEventPlan(template: CfnTemplate, name: string): EventPlan {
  const schedule = schedules(template).find(
    (candidate) => candidate.target.kind === 'function' && candidate.target.name === name,
  )
  if (schedule) return { kind: 'scheduled', rule: schedule.rule, input: schedule.input }
  // One mapping per topic group: the default batch takes from every topic the function consumes.
  const topics = eventSourceMappings(template)
    .filter((candidate) => candidate.functionName === name)
    .flatMap((mapping) => mapping.topics)
  if (topics.length > 0) return { kind: 'msk', topics: [...new Set(topics)] }
  const logicalId = functionSpec(template, name).logicalId
  const customResource = Object.entries(template.Resources).find(
    ([, resource]) =>
      resource.Type.startsWith('Custom::') &&
      JSON.stringify(resource.Properties?.ServiceToken ?? null).includes(`"${logicalId}"`),
  )
  if (customResource)
    return {
      kind: 'needs-event',
      reason: `${name} serves the CloudFormation custom resource ${customResource[0]}: give it a request with EVENT=<file.json>`,
    }
  const stateMachine = Object.entries(template.Resources).find(
    ([, resource]) =>
      resource.Type === 'AWS::StepFunctions::StateMachine' &&
      JSON.stringify(resource.Properties?.DefinitionString ?? null).includes(logicalId),
  )
  if (stateMachine)
    return {
      kind: 'needs-event',
      reason: `${name} is a task of the state machine ${stateMachine[0]}, which builds its event from the state's Parameters: give it one with EVENT=<file.json>`,
    }
  return { kind: 'empty' }
}

/** Whether the function talks to Kafka or OpenSearch (then the profile's services must run). */
export function needsServices(spec: FunctionSpec): boolean {
  return 'KAFKA_BROKERS' in spec.environment || 'OPENSEARCH_URL' in spec.environment
}

export interface InvokeOptions {
  fn: string
  /** A JSON file with the event; without it, {@link defaultEventPlan}. */
  eventFile?: string
  profile: Profile
  stage: string
  log: (line: string) => void
}

export interface InvokeOutcome {
  name: string
  event: unknown
  ok: boolean
  result?: unknown
  error?: string
  durationMs: number
  /** The function log file and where this invocation's lines start in it. */
  logFile: string
  logOffset: number
}

async function newestRecords(kafka: KafkaConnection, topics: string[], name: string): Promise<MskEvent> {
  const [starts, ends] = await Promise.all([earliestOffsets(kafka, topics), endOffsets(kafka, topics)])
  const records = []
  for (const topic of topics) {
    const end = ends.get(topic) ?? []
    const start = starts.get(topic) ?? []
    const from = end.map((offset, partition) => {
      const floor = start[partition] ?? 0n
      return offset - DEFAULT_BATCH_PER_PARTITION > floor ? offset - DEFAULT_BATCH_PER_PARTITION : floor
    })
    records.push(...(await readRange(kafka, topic, from, end)).map(toMskRecord))
  }
  return toMskEvent(records, {
    eventSourceArn: `arn:aws:kafka:local:000000000000:cluster/local/${name}`,
    bootstrapServers: kafka.KAFKA_BROKERS.join(','),
  })
}

type Cleanups = Array<() => Promise<void> | void>

/** Runs the function once; never throws for the function's own failure (that is the outcome). */
export async function invokeOnce(options: InvokeOptions): Promise<InvokeOutcome> {
  const { log } = options
  const paths = localPaths(options.profile)
  const template = await packageService(
    projectRoot,
    join(paths.packageDir, options.stage),
    options.stage,
    log,
  )
  const name = resolveFunctionName(template, options.fn)
  if (!name)
    throw new Error(
      `no function "${options.fn}" in the ${options.stage} package; functions: ${Object.keys(functionTimeouts(template)).join(', ')}`,
    )
  const spec = functionSpec(template, name)
  const plan: EventPlan = options.eventFile ? { kind: 'empty' } : defaultEventPlan(template, name)
  if (plan.kind === 'needs-event') throw new Error(plan.reason)

  const cleanups: Cleanups = []
  try {
    const services = await servicesFor(spec, options)
    const standIns = await invokeStandIns(spec, services, options.profile, cleanups, log)
    const event = await eventFor(plan, options.eventFile, services, name)
    log(`event: ${describeEvent(plan, options.eventFile, event)}`)
    const fn = await loadPackagedFunction(template, name, standIns, projectRoot)
    const logOffset = existsSync(paths.functionLog) ? statSync(paths.functionLog).size : 0
    const restore = captureFunctionOutput(paths.functionLog)
    const started = Date.now()
    const outcome = { name, event, logFile: paths.functionLog, logOffset }
    try {
      const result = await fn.invoke(event)
      return { ...outcome, ok: true, result, durationMs: Date.now() - started }
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
      return { ...outcome, ok: false, error: message, durationMs: Date.now() - started }
    } finally {
      await restore()
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
  }
}

/** The profile's services when the function talks to them (started, and left running), else unreachable stand-ins. */
async function servicesFor(spec: FunctionSpec, options: InvokeOptions): Promise<LocalServices> {
  if (!needsServices(spec)) return { kafka: '127.0.0.1:0', opensearch: 'http://127.0.0.1:0' }
  options.log(
    `${spec.name} talks to Kafka or OpenSearch: starting the ${options.profile} profile's services (they keep running; make services-down stops them)...`,
  )
  const services = await startServices(options.profile, { log: options.log })
  await provisionLocalSinks(services, () => {})
  return services
}

/** The local stand-ins of `make run`, with the market simulators only for a function that names them. */
async function invokeStandIns(
  spec: FunctionSpec,
  services: LocalServices,
  profile: Profile,
  cleanups: Cleanups,
  log: (line: string) => void,
): Promise<Record<string, string>> {
  const paths = localPaths(profile)
  const local = {
    ...localStandIns(services, paths, readOrCreateKey(paths.piiKey)),
    ...(await upstreamStandIns((key) => key in spec.environment, cleanups, log)),
  }
  const { unresolved } = invokeEnvironment(spec.environment, local)
  if (unresolved.length > 0)
    log(`not set locally (CloudFormation references with a local equivalent): ${unresolved.join(', ')}`)
  return local
}

async function eventFor(
  plan: EventPlan,
  eventFile: string | undefined,
  services: LocalServices,
  name: string,
): Promise<unknown> {
  if (eventFile) return JSON.parse(readFileSync(eventFile, 'utf8'))
  if (plan.kind === 'scheduled') return plan.input ?? scheduledEvent(plan.rule, new Date())
  if (plan.kind === 'msk') return newestRecords(localKafka(services), plan.topics, name)
  return {}
}

function describeEvent(plan: EventPlan, file: string | undefined, event: unknown): string {
  if (file) return `from ${file}`
  if (plan.kind === 'scheduled')
    return plan.input === undefined ? `a scheduled event of ${plan.rule}` : `the input of ${plan.rule}`
  if (plan.kind === 'msk') {
    const count = Object.values((event as MskEvent).records).flat().length
    return `an MSK batch of the newest ${count} records of ${plan.topics.join(', ')}${count === 0 ? ' (the topics are empty)' : ''}`
  }
  return '{}'
}
