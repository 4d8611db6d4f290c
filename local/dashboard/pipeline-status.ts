/**
 * The live accounting of a run, for the status line and the dashboard page: the same numbers
 * the final report reads back from the sinks (produced, indexed, landed, quarantined), sampled
 * every few seconds while the run goes on. Topics are read incrementally from the run's start
 * offsets; the sinks are asked for the ids produced so far.
 */
import type { Client } from '@opensearch-project/opensearch'
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import type { TopicName } from '../../functions/shared/contracts.ts'
import type { ObjectStore } from '../../functions/shared/ports.ts'
import type { LakeRunner } from '../lake/runner.ts'
import {
  endOffsets,
  type ProducedEvents,
  producedBetween,
  quarantineSince,
  quarantineSummary,
  searchSinkCounts,
} from '../report/report.ts'
import { rawSinkCounts } from '../report/stream.ts'
import type { EventSource } from '../runtime/event-source.ts'

export interface TopicStatus {
  /** Distinct contract-valid event ids appended since the run started. */
  produced: number
  /** Raw records appended, redeliveries and poison records included. */
  records: number
  /** Produced ids OpenSearch holds. */
  indexed: number
  /** Produced ids the raw zone holds. */
  landed: number
  /** Records quarantined since the run started, by any stage. */
  quarantined: number
  /** Records not yet committed, per consumer (function name). */
  lag: Record<string, number>
  /** Produced ids a sink misses although its consumer has committed past them. */
  lost: number
}

export interface LakeRunStatus {
  name: string
  window?: { start: string; end: string }
  status: 'RUNNING' | 'QUEUED' | string
  seconds: number
  error?: string
}

export interface PipelineStatus {
  sampled_at: string
  started_at: string
  topics: Record<string, TopicStatus>
  quarantined: { total: number; by_reason: Record<string, number> }
  /** Sum of the topics' `lost`: what the final report would call lost if the run stopped now. */
  lost: number
  lake: { current?: LakeRunStatus; last?: LakeRunStatus; runs: number }
  functions: Record<string, { invocations: number; errors: number }>
}

/** Which consumer feeds which sink: a produced id missing from a sink is lost only once its consumer is past it. */
const SINK_CONSUMERS = { indexed: 'indexEvents', landed: 'landRaw' } as const

export interface LakeActivity {
  current(): LakeRunStatus | undefined
  last(): LakeRunStatus | undefined
  runs(): number
}

/**
 * Watches a lake runner's queue without changing it: wraps `run` so the refresh in progress
 * (and how long it has been at it) is known while Spark works, not only once it ends.
 */
export function observeLakeRuns(runner: LakeRunner): LakeActivity {
  const pending: Array<{ name: string; input: Record<string, unknown>; since: number }> = []
  const windowOf = (value: unknown) => (value as { window?: LakeRunStatus['window'] } | undefined)?.window
  // The window a run resolved for itself (a scheduled run's input is `{}`), and whether it skipped.
  let resolved: { window?: LakeRunStatus['window']; skipped: boolean } | undefined
  const original = runner.run.bind(runner)
  runner.run = (name, input) => {
    pending.push({ name, input, since: Date.now() })
    return original(name, input)
      .then((result) => {
        const output = result.output as
          | { window?: { start?: string; end?: string; skip?: boolean } }
          | undefined
        const window = output?.window
        resolved = {
          window: window?.start && window.end ? { start: window.start, end: window.end } : windowOf(input),
          skipped: window?.skip === true,
        }
        return result
      })
      .finally(() => {
        pending.shift()
        // The runner is a queue: the next one starts when this one ends.
        if (pending[0]) pending[0].since = Date.now()
      })
  }
  return {
    current() {
      const running = pending[0]
      if (!running) return undefined
      return {
        name: running.name,
        window: windowOf(running.input),
        status: pending.length > 1 ? `RUNNING (${pending.length - 1} queued)` : 'RUNNING',
        seconds: Math.round((Date.now() - running.since) / 1000),
      }
    },
    last() {
      const run = runner.runs.at(-1)
      if (!run) return undefined
      return {
        name: run.name,
        window: resolved?.window ?? windowOf(run.input),
        status: resolved?.skipped ? `${run.status} (nothing new)` : run.status,
        seconds: run.seconds,
        ...(run.error ? { error: run.error } : {}),
      }
    },
    runs: () => runner.runs.length,
  }
}

export interface PipelineMonitorOptions {
  kafka: KafkaConnection
  search: Client
  rawStore: ObjectStore
  topics: TopicName[]
  startOffsets: Map<string, bigint[]>
  startedAt: Date
  /** Event sources by the function they feed. */
  sources: Array<{ functionName: string; source: EventSource }>
  lake?: LakeActivity
  functions?: () => Record<string, { invocations: number; errors: number }>
}

export interface PipelineMonitor {
  /** Takes a new sample (one at a time: a call during a sample shares it). */
  sample(): Promise<PipelineStatus>
  /** The newest sample, if any. */
  readonly latest: PipelineStatus | undefined
}

/** The topics read incrementally from the run's start offsets: what has been produced so far. */
function topicReader(options: PipelineMonitorOptions) {
  const readUpTo = new Map(options.topics.map((topic) => [topic, options.startOffsets.get(topic) ?? []]))
  const produced = new Map<TopicName, ProducedEvents>(
    options.topics.map((topic) => [
      topic,
      { records: 0, eventIds: new Set<string>(), searchIds: new Set<string>(), eventTimes: [] },
    ]),
  )
  async function readNewRecords() {
    const ends = await endOffsets(options.kafka, options.topics)
    for (const topic of options.topics) {
      const from = readUpTo.get(topic) ?? []
      const to = ends.get(topic) ?? []
      const events = await producedBetween(options.kafka, topic, from, to)
      const total = produced.get(topic)
      if (!total) continue
      total.records += events.records
      for (const id of events.eventIds) total.eventIds.add(id)
      for (const id of events.searchIds) total.searchIds.add(id)
      readUpTo.set(topic, to)
    }
  }
  return { produced, readNewRecords }
}

/** Topic -> consumer (function name) -> records not yet committed, over every event source. */
function lagReader(sources: PipelineMonitorOptions['sources']) {
  // The last lag each source reported: once a stopping run has drained and closed its sources,
  // their final lag (0) stays on show while the last lake refresh runs.
  const lastLags = new Map<EventSource, Record<string, number>>()
  async function lagOf(source: EventSource): Promise<Record<string, number>> {
    try {
      const lags = await source.lagByTopic()
      lastLags.set(source, lags)
      return lags
    } catch (error) {
      const last = lastLags.get(source)
      if (last) return last
      throw error
    }
  }
  return async function lags(): Promise<Record<string, Record<string, number>>> {
    const byTopic: Record<string, Record<string, number>> = {}
    for (const { functionName, source } of sources) {
      for (const [topic, lag] of Object.entries(await lagOf(source))) {
        byTopic[topic] ??= {}
        byTopic[topic][functionName] = (byTopic[topic][functionName] ?? 0) + lag
      }
    }
    return byTopic
  }
}

/**
 * One topic's sinks asked for the ids produced so far. An id a sink misses is lost only once its
 * consumer has committed past everything read (lag 0); before that it is in flight.
 */
async function topicStatus(
  options: PipelineMonitorOptions,
  topic: TopicName,
  events: ProducedEvents,
  topicLag: Record<string, number>,
  quarantine: Array<{ topic?: string }>,
): Promise<TopicStatus> {
  const search = await searchSinkCounts(options.search, topic, events.searchIds)
  const raw = await rawSinkCounts(options.rawStore, topic, events.eventIds)
  const settled = (consumer: string) => topicLag[consumer] === 0
  return {
    produced: events.eventIds.size,
    records: events.records,
    indexed: search.documents,
    landed: events.eventIds.size - raw.lost,
    quarantined: quarantine.filter((record) => record.topic === topic).length,
    lag: topicLag,
    lost:
      (settled(SINK_CONSUMERS.indexed) ? search.lost : 0) + (settled(SINK_CONSUMERS.landed) ? raw.lost : 0),
  }
}

export function createPipelineMonitor(options: PipelineMonitorOptions): PipelineMonitor {
  const topics = topicReader(options)
  const lags = lagReader(options.sources)
  let latest: PipelineStatus | undefined
  let inFlight: Promise<PipelineStatus> | undefined

  async function take(): Promise<PipelineStatus> {
    await topics.readNewRecords()
    // Lag after reading: a consumer at lag 0 now has committed every record read above.
    const lag = await lags()
    const quarantine = await quarantineSince(options.rawStore, options.startedAt)
    const status: PipelineStatus = {
      sampled_at: new Date().toISOString(),
      started_at: options.startedAt.toISOString(),
      topics: {},
      quarantined: quarantineSummary(quarantine),
      lost: 0,
      lake: {
        current: options.lake?.current(),
        last: options.lake?.last(),
        runs: options.lake?.runs() ?? 0,
      },
      functions: options.functions?.() ?? {},
    }
    for (const topic of options.topics) {
      const events = topics.produced.get(topic)
      if (!events) continue
      const figures = await topicStatus(options, topic, events, lag[topic] ?? {}, quarantine)
      status.topics[topic] = figures
      status.lost += figures.lost
    }
    latest = status
    return status
  }

  return {
    sample() {
      inFlight ??= take().finally(() => {
        inFlight = undefined
      })
      return inFlight
    },
    get latest() {
      return latest
    },
  }
}
