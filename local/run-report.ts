/**
 * The accounting of `make run`, once its event sources have drained: the topics read back, then
 * every sink (OpenSearch, the raw zone, the lake) counted against what the run produced and
 * against the whole store. Each section is one step; `accountRun` puts them in the report.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { fileWatermarkStore, WATERMARK_KEY } from '../functions/poll-bars/watermark.ts'
import type { KafkaConnection } from '../functions/shared/adapters/kafka.ts'
import { TOPICS, type TopicName } from '../functions/shared/contracts.ts'
import type { ObjectStore } from '../functions/shared/ports.ts'
import { lakeCounts } from './lake/counts.ts'
import type { LakeRunner } from './lake/runner.ts'
import {
  newestRevisions,
  type ProducedEvents,
  producerRejections,
  quarantineSince,
  quarantineSummary,
  type Report,
  searchSinkCounts,
  summarizeRecords,
} from './report/report.ts'
import { lakeFigures, lakeJudgement, storeSection } from './report/store.ts'
import {
  type CommittedOffsets,
  committedOffsets,
  readStoreTopics,
  recordsBetween,
  type StoreTopic,
} from './report/store-topics.ts'
import { rawSinkCounts } from './report/stream.ts'
import type { EventSource } from './runtime/event-source.ts'
import { endOffsets, type Offsets } from './runtime/kafka-read.ts'
import type { LocalFunction } from './runtime/lambda.ts'
import type { EventSourceMappingSpec } from './runtime/template.ts'
import type { Profile } from './services/index.ts'

export const CONTRACT_TOPICS = Object.values(TOPICS)

/** The report's name of each topic's search sink (its alias). */
export const sinkName = (topic: TopicName) =>
  ({ [TOPICS.bars]: 'crypto-bars', [TOPICS.trades]: 'crypto-trades', [TOPICS.assets]: 'crypto-assets' })[
    topic
  ]

/** The topics as the run leaves them: each read once, whole, and the run's share of each. */
export interface TopicsRead {
  startOffsets: Map<string, Offsets>
  finalOffsets: Map<string, Offsets>
  storeTopics: StoreTopic[]
  produced: Map<TopicName, ProducedEvents>
}

export async function readTopicsBack(
  kafka: KafkaConnection,
  startOffsets: Map<string, Offsets>,
): Promise<TopicsRead> {
  const finalOffsets = await endOffsets(kafka, CONTRACT_TOPICS)
  const storeTopics = await readStoreTopics(kafka, CONTRACT_TOPICS)
  const produced = new Map<TopicName, ProducedEvents>()
  for (const { topic, records } of storeTopics) {
    const from = startOffsets.get(topic) ?? []
    produced.set(topic, summarizeRecords(recordsBetween(records, from, finalOffsets.get(topic) ?? [])))
  }
  return { startOffsets, finalOffsets, storeTopics, produced }
}

export interface RunAccounts {
  profile: Profile
  startedAt: Date
  services: { kafka: string; opensearch: string }
  kafka: KafkaConnection
  search: Client
  rawStore: ObjectStore
  stateBucket: string
  topics: TopicsRead
  functions: Iterable<LocalFunction>
  sources: Array<{ name: string; source: EventSource }>
  mappings: EventSourceMappingSpec[]
  lakeRuns: LakeRunner['runs']
  /** Whether the run refreshed the lake (the template schedules lake-refresh). */
  lake: boolean
}

export function functionCounts(functions: Iterable<LocalFunction>) {
  return Object.fromEntries(
    [...functions].map((f) => [f.name, { invocations: f.invocations, errors: f.errors }]),
  )
}

export async function accountRun(run: RunAccounts): Promise<Report> {
  const quarantined = await quarantineSince(run.rawStore, run.startedAt)
  const report: Report = {
    started_at: run.startedAt.toISOString(),
    ended_at: new Date().toISOString(),
    services: { kafka: run.services.kafka, opensearch: run.services.opensearch },
    topics: {},
    opensearch: {},
    raw: {},
    quarantined: quarantineSummary(quarantined),
    lost: 0,
    duplicates: 0,
    stale: 0,
    functions: functionCounts(run.functions),
    event_sources: Object.fromEntries(run.sources.map(({ name, source }) => [name, { ...source.stats }])),
    state_machines: run.lakeRuns,
  }
  await countStreamSinks(report, run, producerRejections(quarantined))
  const consumers = consumersOf(run.mappings)
  const committed = await committedOffsets(
    run.kafka,
    consumers.map((consumer) => consumer.groupId),
  )
  const lake = run.lake ? await countLake(report, run, consumers, committed) : undefined
  report.run = runScope(report, run.topics)
  report.store = {
    lake_judged_until: lake?.checkpoint ?? null,
    ...(await storeSection({
      topics: run.topics.storeTopics,
      search: run.search,
      rawStore: run.rawStore,
      consumers,
      committed,
      searchIndex: (topic) => ({ name: sinkName(topic) ?? topic }),
      lake: lake?.figures,
      settle: await fileWatermarkStore(join(run.stateBucket, WATERMARK_KEY))
        .load()
        .then((loaded) => loaded.settle),
    })),
  }
  return report
}

/** Per topic: what was produced, and what OpenSearch and the raw zone hold of it. */
async function countStreamSinks(report: Report, run: RunAccounts, rejected: Record<string, number>) {
  for (const [topic, events] of run.topics.produced) {
    report.topics[topic] = {
      produced: events.eventIds.size,
      records: events.records,
      revisions: events.revisions ?? 0,
      rejected: rejected[topic] ?? 0,
    }
    const sink = await searchSinkCounts(run.search, topic, events.searchIds, events.revisionsById)
    report.opensearch[sinkName(topic)] = sink
    const { events: _events, ...raw } = await rawSinkCounts(
      run.rawStore,
      topic,
      events.eventIds,
      events.revisionsById,
    )
    report.raw[topic] = raw
    report.lost += sink.lost + raw.lost
    report.duplicates += sink.duplicates + raw.duplicates
    report.stale += sink.stale
  }
}

type Consumer = { sink: 'opensearch' | 'raw'; groupId: string; topic: string }

/** Which consumer group feeds which sink from which topic, per the event source mappings. */
function consumersOf(mappings: EventSourceMappingSpec[]): Consumer[] {
  return mappings.flatMap((mapping) =>
    mapping.topics.map((topic) => ({
      sink: mapping.functionName === 'landRaw' ? ('raw' as const) : ('opensearch' as const),
      groupId: mapping.consumerGroupId ?? `${mapping.functionName}-local`,
      topic,
    })),
  )
}

/** The lake's tables counted against the run's events and the store's, judged on what landed. */
async function countLake(
  report: Report,
  run: RunAccounts,
  consumers: Consumer[],
  committed: CommittedOffsets,
) {
  const landRawCommitted = (topic: string) => {
    const group = consumers.find((c) => c.sink === 'raw' && c.topic === topic)?.groupId
    return group ? committed.get(group)?.get(topic) : undefined
  }
  const { produced, storeTopics } = run.topics
  const judged = await lakeJudgement(run.rawStore, storeTopics, landRawCommitted)
  const lake = await lakeCounts(
    run.profile,
    Object.fromEntries([...produced].map(([topic, events]) => [topic, [...events.eventIds]])),
    undefined,
    Object.fromEntries(
      [...produced].map(([topic, events]) => [
        topic,
        Object.fromEntries(newestRevisions(events.revisionsById ?? new Map())),
      ]),
    ),
    judged,
  )
  report.lake = { ...lake.tables, topics: lake.topics }
  for (const counts of Object.values(lake.topics)) {
    report.lost += counts.lost
    report.duplicates += counts.duplicates
    report.stale += counts.stale ?? 0
  }
  return {
    checkpoint: judged.checkpoint,
    figures: lakeFigures(lake.store_topics ?? {}, storeTopics, judged.pending ?? {}),
  }
}

/** The run's three figures, labelled with the offsets they cover. */
function runScope(report: Report, topics: TopicsRead): NonNullable<Report['run']> {
  return {
    scope: 'the event ids appended to the topics during this run (offsets from..to)',
    offsets: Object.fromEntries(
      CONTRACT_TOPICS.map((topic) => [
        topic,
        {
          from: (topics.startOffsets.get(topic) ?? []).map(String),
          to: (topics.finalOffsets.get(topic) ?? []).map(String),
        },
      ]),
    ),
    lost: report.lost,
    duplicates: report.duplicates,
    stale: report.stale,
  }
}

export function writeReport(path: string, report: Report, log: (line: string) => void) {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`)
  log(`report written to ${path}`)
}
