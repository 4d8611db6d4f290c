/**
 * One market configuration for all producers: the packaged template gives poll-bars,
 * simulate-trades and refresh-assets the same symbols, and the two Alpaca clients the same
 * location and data URL, all from the stage params of serverless.yml (they used to drift).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { type PackagedService, packaged } from './helpers/package-service.ts'

type Env = Record<string, unknown>

describe('producer configuration (packaged dev stage)', () => {
  let service: PackagedService
  beforeAll(async () => {
    service = await packaged('dev')
  })

  const envOf = (logicalId: string): Env => {
    const resource = service.template.Resources[logicalId] as
      | { Properties?: { Environment?: { Variables?: Env } } }
      | undefined
    return resource?.Properties?.Environment?.Variables ?? {}
  }

  it('gives every producer the same symbols, from the one stage parameter', () => {
    expect(envOf('PollBarsLambdaFunction').SYMBOLS).toBe('BTC/USD,LTC/USD')
    expect(envOf('SimulateTradesLambdaFunction').SYMBOLS).toBe('BTC/USD,LTC/USD')
    expect(envOf('RefreshAssetsLambdaFunction').SYMBOLS).toBe('BTC/USD,LTC/USD')
  })

  it('points both Alpaca clients at the same location and data URL', () => {
    for (const id of ['PollBarsLambdaFunction', 'SimulateTradesLambdaFunction']) {
      expect(envOf(id)).toMatchObject({
        ALPACA_DATA_URL: 'https://data.alpaca.markets',
        ALPACA_LOCATION: 'us',
      })
    }
  })

  it('configures the bar revisions of poll-bars', () => {
    expect(envOf('PollBarsLambdaFunction')).toMatchObject({ SETTLE_WINDOW_MINUTES: '3', POLL_AT_SECOND: '3' })
  })

  it('fires both minute producers at the start of every minute', () => {
    const schedulesOf = (logicalId: string) =>
      Object.values(service.template.Resources)
        .filter((r) => r.Type === 'AWS::Events::Rule')
        .filter((r) =>
          ((r.Properties?.Targets as Array<{ Arn?: { 'Fn::GetAtt'?: string[] } }> | undefined) ?? []).some(
            (t) => t.Arn?.['Fn::GetAtt']?.[0] === logicalId,
          ),
        )
        .map((r) => r.Properties?.ScheduleExpression)
    expect(schedulesOf('PollBarsLambdaFunction')).toEqual(['cron(* * * * ? *)'])
    expect(schedulesOf('SimulateTradesLambdaFunction')).toEqual(['cron(* * * * ? *)'])
  })
})
