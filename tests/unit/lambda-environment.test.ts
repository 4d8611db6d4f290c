import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseCfnYaml } from '../../local/runtime/cfn.ts'
import { loadPackagedFunction, localFunctionEnvironment } from '../../local/runtime/environment.ts'
import type { CfnTemplate } from '../../local/runtime/template.ts'

/**
 * A stand-in for functions/poll-bars/handler.ts: it records the environment it sees at its cold
 * start (its module's import), when the real handler parses its config.
 */
const RECORDING_HANDLER = `
const seen = { ...process.env }
export const handler = async () => seen
`

/** poll-bars' `environment:` as its function.yml declares it, read the way serverless reads it. */
function declaredEnvironment(): Record<string, unknown> {
  const yml = readFileSync(new URL('../../functions/poll-bars/function.yml', import.meta.url), 'utf8')
  return (parseCfnYaml(yml) as { pollBars: { environment: Record<string, unknown> } }).pollBars.environment
}

/** What `serverless package` makes of it: the function.yml's variables under Environment.Variables. */
const template = (): CfnTemplate => ({
  Resources: {
    PollBarsLambdaFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: { Timeout: 60, Environment: { Variables: declaredEnvironment() } },
    },
    SimulateTradesLambdaFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: { Environment: { Variables: { TRADES_PER_MINUTE: '20' } } },
    },
  },
})

const root = mkdtempSync(join(tmpdir(), 'lambda-environment-'))
mkdirSync(join(root, 'functions', 'poll-bars'), { recursive: true })
writeFileSync(join(root, 'functions', 'poll-bars', 'handler.ts'), RECORDING_HANDLER)
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('loadPackagedFunction', () => {
  it('cold-starts a function with the variables its function.yml sets, the references replaced by the local stand-ins', async () => {
    const standIns = { KAFKA_BROKERS: '127.0.0.1:19092', KAFKA_AUTH: 'none', RAW_DIR: '/tmp/raw' }
    const fn = await loadPackagedFunction(template(), 'pollBars', standIns, root)
    const seen = (await fn.invoke({})) as Record<string, string | undefined>

    // Literals of functions/poll-bars/function.yml reach the function.
    expect(seen.SETTLE_WINDOW_MINUTES).toBe('3')
    expect(seen.POLL_AT_SECOND).toBe('3')
    expect(seen.HTTP_TIMEOUT_MS).toBe('10000')
    // A reference (`!GetAtt KafkaBootstrapBrokers...`) gives way to its local stand-in...
    expect(seen.KAFKA_BROKERS).toBe('127.0.0.1:19092')
    expect(seen.KAFKA_AUTH).toBe('none')
    expect(seen.RAW_DIR).toBe('/tmp/raw')
    // ...and one without a stand-in is not set at all (RAW_DIR stands for RAW_BUCKET).
    expect(seen.RAW_BUCKET).toBeUndefined()
    // Another function's variables are not this one's.
    expect(seen.TRADES_PER_MINUTE).toBeUndefined()
  })

  it("lets the developer's own environment configure a local run, but never over a stand-in", () => {
    process.env.SETTLE_WINDOW_MINUTES = '0'
    process.env.KAFKA_BROKERS = 'elsewhere:9092'
    try {
      const env = localFunctionEnvironment(template(), 'pollBars', { KAFKA_BROKERS: '127.0.0.1:19092' })
      expect(env.SETTLE_WINDOW_MINUTES).toBe('0')
      expect(env.POLL_AT_SECOND).toBe('3')
      expect(env.KAFKA_BROKERS).toBe('127.0.0.1:19092')
    } finally {
      delete process.env.SETTLE_WINDOW_MINUTES
      delete process.env.KAFKA_BROKERS
    }
  })

  it('puts this process environment back once the function has started', async () => {
    const before = process.env.SETTLE_WINDOW_MINUTES
    await loadPackagedFunction(template(), 'pollBars', {}, root)
    expect(process.env.SETTLE_WINDOW_MINUTES).toBe(before)
  })
})
