/**
 * Starts a deployed state machine and follows its execution to the end through its history: the
 * one way `make backfill STAGE=...` and `make lake-refresh STAGE=...` drive AWS Step Functions.
 * Credentials and region come from the usual AWS chain (AWS_PROFILE, AWS_REGION, ...).
 */

import { setTimeout as sleep } from 'node:timers/promises'
import {
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn'

/** What a follower needs of one history event. */
export interface ExecutionEvent {
  id: number
  type: string
  /** The state entered or exited, for `*StateEntered` / `*StateExited`. */
  state?: string
  /** Parsed JSON output of a state exited or of the execution. */
  output?: unknown
  /** Error and cause of a failure. */
  error?: string
  cause?: string
}

export interface FinishedExecution {
  executionArn: string
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED'
  output?: unknown
  error?: string
  cause?: string
}

const TERMINAL: Record<string, FinishedExecution['status']> = {
  ExecutionSucceeded: 'SUCCEEDED',
  ExecutionFailed: 'FAILED',
  ExecutionTimedOut: 'TIMED_OUT',
  ExecutionAborted: 'ABORTED',
}

const parsed = (text: string | undefined) => {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** The fields a follower uses, whatever the event type. */
export function toExecutionEvent(event: HistoryEvent): ExecutionEvent {
  const details =
    event.stateEnteredEventDetails ??
    event.stateExitedEventDetails ??
    event.executionSucceededEventDetails ??
    event.executionFailedEventDetails ??
    event.executionTimedOutEventDetails ??
    event.executionAbortedEventDetails ??
    event.taskFailedEventDetails ??
    event.lambdaFunctionFailedEventDetails ??
    {}
  const d = details as { name?: string; output?: string; error?: string; cause?: string }
  return {
    id: event.id ?? 0,
    type: event.type ?? 'Unknown',
    ...(d.name !== undefined ? { state: d.name } : {}),
    ...(d.output !== undefined ? { output: parsed(d.output) } : {}),
    ...(d.error !== undefined ? { error: d.error } : {}),
    ...(d.cause !== undefined ? { cause: d.cause } : {}),
  }
}

/** The ARN of the deployed state machine called `name` (`crypto-data-lake-dev-backfill-bars`). */
export async function stateMachineArn(client: SFNClient, name: string): Promise<string> {
  let nextToken: string | undefined
  do {
    const page = await client.send(new ListStateMachinesCommand({ nextToken, maxResults: 1000 }))
    const found = page.stateMachines?.find((machine) => machine.name === name)
    if (found?.stateMachineArn) return found.stateMachineArn
    nextToken = page.nextToken
  } while (nextToken)
  throw new Error(`no state machine named ${name} in this account and region: is the stage deployed?`)
}

/**
 * The events after `afterId`, oldest first. History is read newest first and only as far back as
 * `afterId`: a long execution's history (a year of chunks is thousands of events) is read once.
 */
export async function eventsAfter(
  client: SFNClient,
  executionArn: string,
  afterId: number,
): Promise<ExecutionEvent[]> {
  const fresh: ExecutionEvent[] = []
  let nextToken: string | undefined
  for (;;) {
    const page = await client.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 1000, nextToken }),
    )
    for (const event of page.events ?? []) {
      if ((event.id ?? 0) <= afterId) return fresh.reverse()
      fresh.push(toExecutionEvent(event))
    }
    nextToken = page.nextToken
    if (!nextToken) return fresh.reverse()
  }
}

export interface FollowOptions {
  /** Called with each new event, in order. */
  onEvent?: (event: ExecutionEvent) => void
  /** Between two reads of the history (default 3 s). */
  pollMs?: number
  wait?: (ms: number) => Promise<unknown>
}

/** Reads the execution's history until it ends; each new event goes to `onEvent`. */
export async function followExecution(
  client: SFNClient,
  executionArn: string,
  options: FollowOptions = {},
): Promise<FinishedExecution> {
  const wait = options.wait ?? sleep
  let lastId = 0
  for (;;) {
    for (const event of await eventsAfter(client, executionArn, lastId)) {
      lastId = event.id
      options.onEvent?.(event)
      const status = TERMINAL[event.type]
      if (status) {
        return {
          executionArn,
          status,
          ...(event.output !== undefined ? { output: event.output } : {}),
          ...(event.error !== undefined ? { error: event.error } : {}),
          ...(event.cause !== undefined ? { cause: event.cause } : {}),
        }
      }
    }
    await wait(options.pollMs ?? 3_000)
  }
}

/**
 * Starts the deployed state machine `name` with `input` and follows it to its end. `executionName`,
 * when given, makes the start idempotent: Step Functions refuses a second execution of that name
 * with another input, and returns the running one for the same input.
 */
export async function startAndFollow(
  name: string,
  input: unknown,
  options: FollowOptions & { client?: SFNClient; executionName?: string } = {},
): Promise<FinishedExecution> {
  const client = options.client ?? new SFNClient({})
  const arn = await stateMachineArn(client, name)
  const started = await client.send(
    new StartExecutionCommand({
      stateMachineArn: arn,
      input: JSON.stringify(input),
      ...(options.executionName ? { name: options.executionName } : {}),
    }),
  )
  if (!started.executionArn) throw new Error(`StartExecution of ${name} returned no execution ARN`)
  return followExecution(client, started.executionArn, options)
}
