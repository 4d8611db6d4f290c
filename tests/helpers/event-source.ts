import {
  type EventSource,
  type EventSourceOptions,
  startEventSource,
} from '../../local/runtime/event-source.ts'
import type { LocalFunction } from '../../local/runtime/lambda.ts'
import { until } from './until.ts'

/**
 * A real handler behind the event-source emulator, with the mapping the stacks deploy
 * (bisect on error). Unless `onFailure` says otherwise, reaching the on-failure destination
 * fails the test: the records were lost to the function.
 */
export function startHandlerSource(
  handler: LocalFunction,
  options: Pick<
    EventSourceOptions,
    'kafka' | 'topics' | 'groupId' | 'batchSize' | 'batchWindowMs' | 'maximumRetryAttempts'
  > & { onFailure?: EventSourceOptions['onFailure'] },
): Promise<EventSource> {
  return startEventSource({
    ...options,
    name: options.groupId,
    bisectBatchOnFunctionError: true,
    invoke: (event) => handler.invoke(event) as Promise<never>,
    onFailure:
      options.onFailure ??
      (async () => {
        throw new Error('nothing in this test may reach the on-failure destination')
      }),
    log: () => {},
  })
}

/** Waits until the source has processed every record on its topics (lag 0). */
export async function untilCaughtUp(source: EventSource, timeoutMs = 120_000): Promise<void> {
  await until(
    'event source caught up (lag 0)',
    () => source.lag(),
    (lag) => lag === 0,
    { timeoutMs },
  )
}
