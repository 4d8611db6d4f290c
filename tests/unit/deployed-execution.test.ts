import {
  GetExecutionHistoryCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn'
import { mockClient } from 'aws-sdk-client-mock'
import { beforeEach, describe, expect, it } from 'vitest'
import { type ExecutionEvent, startAndFollow } from '../../local/lake/deployed-execution.ts'

const sfn = mockClient(SFNClient)
const MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:crypto-data-lake-dev-backfill-bars'
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:crypto-data-lake-dev-backfill-bars:run-1'

beforeEach(() => sfn.reset())

describe('startAndFollow', () => {
  it('finds the machine by name across pages, starts it with the input, and reads only new history, newest first', async () => {
    sfn
      .on(ListStateMachinesCommand)
      .resolvesOnce({
        stateMachines: [
          {
            name: 'crypto-data-lake-dev-lake-refresh',
            stateMachineArn: 'arn:other',
            type: 'STANDARD',
            creationDate: new Date(),
          },
        ],
        nextToken: 'page-2',
      })
      .resolvesOnce({
        stateMachines: [
          {
            name: 'crypto-data-lake-dev-backfill-bars',
            stateMachineArn: MACHINE,
            type: 'STANDARD',
            creationDate: new Date(),
          },
        ],
      })
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() })
    const at = new Date()
    sfn
      .on(GetExecutionHistoryCommand)
      // First read: two events, newest first.
      .resolvesOnce({
        events: [
          {
            id: 2,
            type: 'TaskStateEntered',
            timestamp: at,
            stateEnteredEventDetails: { name: 'Plan', input: '{}' },
          },
          { id: 1, type: 'ExecutionStarted', timestamp: at },
        ],
      })
      // Second read: the new events come first, then the page reaches an event already seen.
      .resolvesOnce({
        events: [
          {
            id: 4,
            type: 'ExecutionSucceeded',
            timestamp: at,
            executionSucceededEventDetails: { output: '{"done":true}' },
          },
          {
            id: 3,
            type: 'TaskStateExited',
            timestamp: at,
            stateExitedEventDetails: { name: 'Plan', output: '{"plan":{"chunks":[]}}' },
          },
          {
            id: 2,
            type: 'TaskStateEntered',
            timestamp: at,
            stateEnteredEventDetails: { name: 'Plan', input: '{}' },
          },
        ],
      })
    const seen: ExecutionEvent[] = []
    const waits: number[] = []
    const result = await startAndFollow(
      'crypto-data-lake-dev-backfill-bars',
      { symbols: ['BTC/USD'] },
      {
        client: new SFNClient({ region: 'us-east-1' }),
        executionName: 'backfill-1',
        onEvent: (event) => seen.push(event),
        pollMs: 1234,
        wait: async (ms) => waits.push(ms),
      },
    )

    expect(sfn.commandCalls(ListStateMachinesCommand).map((call) => call.args[0].input)).toEqual([
      { maxResults: 1000, nextToken: undefined },
      { maxResults: 1000, nextToken: 'page-2' },
    ])
    expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { stateMachineArn: MACHINE, input: '{"symbols":["BTC/USD"]}', name: 'backfill-1' },
    ])
    expect(sfn.commandCalls(GetExecutionHistoryCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn: EXECUTION, reverseOrder: true, maxResults: 1000, nextToken: undefined },
      { executionArn: EXECUTION, reverseOrder: true, maxResults: 1000, nextToken: undefined },
    ])
    expect(waits).toEqual([1234])
    expect(seen).toEqual([
      { id: 1, type: 'ExecutionStarted' },
      { id: 2, type: 'TaskStateEntered', state: 'Plan' },
      { id: 3, type: 'TaskStateExited', state: 'Plan', output: { plan: { chunks: [] } } },
      { id: 4, type: 'ExecutionSucceeded', output: { done: true } },
    ])
    expect(result).toEqual({ executionArn: EXECUTION, status: 'SUCCEEDED', output: { done: true } })
  })

  it('reports a failed execution with its error and cause', async () => {
    sfn.on(ListStateMachinesCommand).resolves({
      stateMachines: [{ name: 'm', stateMachineArn: MACHINE, type: 'STANDARD', creationDate: new Date() }],
    })
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() })
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          id: 1,
          type: 'ExecutionFailed',
          timestamp: new Date(),
          executionFailedEventDetails: { error: 'BackfillBarsFailed', cause: 'a chunk failed' },
        },
      ],
    })
    const result = await startAndFollow(
      'm',
      {},
      { client: new SFNClient({ region: 'us-east-1' }), wait: async () => {} },
    )
    expect(result).toEqual({
      executionArn: EXECUTION,
      status: 'FAILED',
      error: 'BackfillBarsFailed',
      cause: 'a chunk failed',
    })
    expect(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input).toEqual({
      stateMachineArn: MACHINE,
      input: '{}',
    })
  })

  it('says when no machine of that name is deployed', async () => {
    sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [] })
    await expect(
      startAndFollow('absent', {}, { client: new SFNClient({ region: 'us-east-1' }) }),
    ).rejects.toThrow(/no state machine named absent/)
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0)
  })
})
