/**
 * What every chaos scenario shares: the context the runner gives it, the shape of a scenario, and
 * the timing of a run (how long it lasts, when its fault comes, how long its drain may take).
 */
import type { KafkaConnection } from '../../functions/shared/adapters/kafka.ts'
import type { TopicName } from '../../functions/shared/contracts.ts'
import type { RunResult } from '../lake/step-functions.ts'
import { RUNNING, type Runtime, type RuntimeOptions } from './runtime.ts'

export interface ScenarioContext {
  kafka: KafkaConnection
  log: (line: string) => void
  /** Starts the runtime under test (its log goes to .local/chaos/logs/<scenario>.log). */
  runtime(options: Omit<RuntimeOptions, 'logPath'>): Runtime
  /** Starts the chaos profile's services again (those that are down), as `make chaos` did. */
  restartServices(): Promise<void>
  /** Call when the fault is lifted: recovery is timed from here. */
  lifted(): void
  /** Call when the fault is injected. */
  injected(): void
  /**
   * Runs a state machine on the chaos profile's lake, as Step Functions would: runs started
   * together overlap (unlike `make run`, which queues its own), EMR dedupes client tokens.
   */
  lake(name: 'lake-refresh' | 'lake-maintenance', input: Record<string, unknown>): Promise<RunResult>
}

export interface Scenario {
  name: string
  description: string
  /** The fewest quarantine records the scenario must leave behind. */
  quarantines?: number
  /** The fewest distinct events the scenario must produce to a topic (the faulty path worked). */
  produces?: Partial<Record<TopicName, number>>
  /** The lake is read back for this scenario's events (it runs the lake itself). */
  lake?: boolean
  run(ctx: ScenarioContext): Promise<void>
}

/** Runtime length of a scenario, and when its fault comes. */
export const RUN_SECONDS = 120
export const INJECT_AFTER_MS = 40_000
const STARTUP_TIMEOUT_MS = 180_000
/** The drain (up to 90 s) and the reading back, past the run's duration. */
export const DRAIN_TIMEOUT_MS = (RUN_SECONDS + 240) * 1000

/** Starts the scenario's runtime and waits until it runs. */
export async function running(
  ctx: ScenarioContext,
  options: Omit<RuntimeOptions, 'logPath'> = {
    durationSeconds: RUN_SECONDS,
  },
): Promise<Runtime> {
  const runtime = ctx.runtime(options)
  await runtime.waitFor(RUNNING, STARTUP_TIMEOUT_MS)
  return runtime
}
