/**
 * Runs a function's real handler in this process, the way the Lambda runtime would: the
 * module is imported once (cold start, config parsed from the environment), each invocation
 * gets a context whose remaining time counts down from the function's timeout, and an
 * invocation that outlives the timeout is failed.
 */
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Context } from 'aws-lambda'
import { installLocalFaults } from '../chaos/faults.ts'

/** `make chaos` only: faults injected into this local host (local/chaos/faults.ts); unset, none. */
const faults = installLocalFaults(process.env.LOCAL_FAULTS)

type Handler = (event: unknown, context: Context) => Promise<unknown>

export interface LocalFunction {
  name: string
  invocations: number
  errors: number
  invoke(event: unknown): Promise<unknown>
}

/** `pollBars` -> `functions/poll-bars/handler.ts`, the layout every function follows. */
export function handlerPath(root: string, name: string): string {
  const folder = name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)
  return join(root, 'functions', folder, 'handler.ts')
}

export async function loadFunction(
  root: string,
  name: string,
  timeoutSeconds: number,
): Promise<LocalFunction> {
  const module = (await import(pathToFileURL(handlerPath(root, name)).href)) as { handler: Handler }
  const fn: LocalFunction = {
    name,
    invocations: 0,
    errors: 0,
    async invoke(event) {
      fn.invocations++
      const started = Date.now()
      const timeoutMs = timeoutSeconds * 1000
      const context = {
        functionName: name,
        functionVersion: '$LATEST',
        invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${name}`,
        memoryLimitInMB: '512',
        awsRequestId: randomUUID(),
        logGroupName: `/aws/lambda/${name}`,
        logStreamName: 'local',
        callbackWaitsForEmptyEventLoop: false,
        getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
        done: () => {},
        fail: () => {},
        succeed: () => {},
      } satisfies Context
      let timer: NodeJS.Timeout | undefined
      try {
        const result = await Promise.race([
          module.handler(event, context),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`${name} timed out after ${timeoutSeconds} s`)),
              timeoutMs,
            )
          }),
        ])
        faults?.afterReturn(name)
        return result
      } catch (error) {
        fn.errors++
        throw error
      } finally {
        clearTimeout(timer)
      }
    },
  }
  return fn
}
