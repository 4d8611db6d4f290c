/**
 * `make invoke FN=pollBars`, as a person runs it (the CLI in its own process), against the test
 * profile's real Kafka: the packaged environment with the local stand-ins, the bundled Alpaca
 * simulator, a scheduled event, and the function's own log and metric lines printed after it.
 * The test profile's watermark document is removed first, so the poll backfills and has bars to
 * emit whatever ran before.
 */
import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { WATERMARK_KEY } from '../../functions/poll-bars/watermark.ts'
import { TOPICS } from '../../functions/shared/contracts.ts'
import { localPaths } from '../../local/run.ts'
import { endOffsets } from '../../local/runtime/kafka-read.ts'
import { projectRoot, startServices } from '../../local/services/index.ts'

const run = promisify(execFile)

interface PollResult {
  emitted: number
  perSymbol: Record<string, { status: string; emitted: number }>
}

const total = (offsets: Map<string, bigint[]>) =>
  [...offsets.values()].flat().reduce((sum, offset) => sum + offset, 0n)

describe('make invoke', () => {
  it('runs pollBars once with its packaged environment and prints its logs, metrics and result', async () => {
    const services = await startServices('test')
    const kafka = { KAFKA_BROKERS: [services.kafka], KAFKA_AUTH: 'none' as const, AWS_REGION: 'local' }
    rmSync(join(localPaths('test').stateBucket, WATERMARK_KEY), { force: true })
    const before = await endOffsets(kafka, [TOPICS.bars])

    const bin = join(projectRoot, 'node_modules', '.bin')
    const { stdout, stderr } = await run(
      join(bin, 'tsx'),
      ['local/ops/cli.ts', 'invoke', 'pollBars', '--profile', 'test'],
      {
        cwd: projectRoot,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, NO_COLOR: '1' },
        maxBuffer: 16 * 1024 * 1024,
      },
    )

    expect(stderr).toContain('[invoke] event: a scheduled event of PollBarsEventsRuleSchedule1')
    expect(stderr).toContain(
      '[invoke] not set locally (CloudFormation references with a local equivalent): ALPACA_SECRET_ARN, RAW_BUCKET, STATE_BUCKET',
    )
    const marker = /^pollBars: returned in [\d.]+ s$/m.exec(stdout)
    expect(marker).not.toBeNull()
    const result = JSON.parse(stdout.slice((marker?.index ?? 0) + (marker?.[0].length ?? 0))) as PollResult
    // The packaged SYMBOLS, each polled from its (removed, so backfilling) watermark.
    expect(Object.keys(result.perSymbol).sort()).toEqual(['BTC/USD', 'LTC/USD'])
    expect(Object.values(result.perSymbol).map((symbol) => symbol.status)).toEqual(['ok', 'ok'])
    expect(result.emitted).toBeGreaterThan(0)
    expect(result.emitted).toBe(
      Object.values(result.perSymbol).reduce((sum, symbol) => sum + symbol.emitted, 0),
    )
    // Really produced: the topic grew by at least that much (other tests may write to it too).
    const after = await endOffsets(kafka, [TOPICS.bars])
    expect(total(after) - total(before)).toBeGreaterThanOrEqual(BigInt(result.emitted))
    // Its own log line and EMF metrics, formatted, before the result.
    const logs = stdout.slice(0, marker?.index)
    expect(logs).toMatch(/ INFO {3}pollBars {9}bars polled asOf=/)
    expect(logs).toContain(` METRIC -                BarsEmitted=${result.emitted} `)
  })
})
