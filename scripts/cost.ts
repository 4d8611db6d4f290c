/**
 * `make cost STAGE=dev`: the monthly estimate per resource of one stage, from its packaged
 * CloudFormation template (packaged here, without AWS credentials, unless --template names one),
 * the dated price list in resources/pricing/ and the load assumptions below.
 *
 *   tsx scripts/cost.ts --stage prod
 *   tsx scripts/cost.ts --stage dev --template .serverless/dev/cloudformation-template-update-stack.json
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command } from 'commander'
import { TOPIC_DECLARATIONS } from '../functions/shared/topics.ts'
import { serverlessPackage } from '../local/runtime/template.ts'
import {
  type CfnTemplate,
  estimateMonthlyCost,
  formatReport,
  type LoadAssumptions,
  type PriceList,
} from './cost-model.ts'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const DAY_MS = 24 * 60 * 60 * 1000

/**
 * The load the estimate assumes. Event rates are not here: they come from the template (SYMBOLS of
 * poll-bars, TRADES_PER_MINUTE of simulate-trades, the schedules).
 */
export const LOAD: LoadAssumptions = {
  eventBytes: { bars: 450, trades: 700, assets: 600 },
  rawLineBytes: 300,
  assetsPerDay: 3,
  partitions: TOPIC_DECLARATIONS.reduce((sum, topic) => sum + topic.partitions, 0),
  kafkaRetentionDays: Math.max(
    ...TOPIC_DECLARATIONS.map((topic) => Number(topic.configs['retention.ms'] ?? 7 * DAY_MS) / DAY_MS),
  ),
  kafkaReaders: 2,
  durationMs: {
    // Up to POLL_AT_SECOND (3 s) waiting past the minute for Alpaca's publication, then ~1.5 s of work.
    PollBarsLambdaFunction: 4500,
    SimulateTradesLambdaFunction: 1500,
    RefreshAssetsLambdaFunction: 8000,
    IndexEventsLambdaFunction: 400,
    LandRawLambdaFunction: 600,
    LakeWindowLambdaFunction: 100,
  },
  // Bars and trades arrive once a minute, each in one burst: one batch per topic and minute for
  // index-events (1 s window) and for land-raw (60 s window); assets three times a day.
  batchesPerMinute: { IndexEventsLambdaFunction: 2, LandRawLambdaFunction: 2 },
  // lake-window: the first state of every hourly lake-refresh execution.
  invocationsPerMonth: { LakeWindowLambdaFunction: 730 },
  logBytesPerInvocation: 2000,
  customMetrics: 30,
  metricsPerInsightsQuery: 10,
  natGbPerMonth: 2,
  secretsApiCallsPerMonth: 20_000,
  kmsRequestsPerMonth: 100_000,
  buckets: {
    // Two symbols' watermarks read and written every minute.
    StateBucket: { storedGb: 0.001, putsPerMonth: 87_600, getsPerMonth: 87_600 },
    LakeBucket: { storedGb: 5, putsPerMonth: 40_000, getsPerMonth: 200_000 },
    DeadLetterBucket: { storedGb: 0, putsPerMonth: 0, getsPerMonth: 0 },
    ServerlessDeploymentBucket: { storedGb: 0.1, putsPerMonth: 100, getsPerMonth: 100 },
  },
  emr: {
    // lake-refresh hourly (4 vCPU, 16 GB, 5 min) + lake-maintenance daily (4 vCPU, 16 GB, 15 min).
    vcpuHours: 273,
    gbHours: 1093,
    basis: '730 hourly refresh runs of 4 vCPU/16 GB x 5 min + 30 daily maintenance runs x 15 min',
  },
  stateMachines: { transitionsPerExecution: 8 },
  athena: { queriesPerMonth: 300, mbScannedPerQuery: 50 },
}

const ASSUMPTIONS = [
  'events: bars = SYMBOLS of poll-bars x 1/min, trades = TRADES_PER_MINUTE of simulate-trades, 3 asset icons/day; 450/700/600 bytes each',
  `Kafka: ${LOAD.partitions} partitions (functions/shared/topics.ts), ${LOAD.kafkaRetentionDays} days retention, read by ${LOAD.kafkaReaders} consumer groups`,
  'Lambda: invocations from the schedules in the template and 2 batches/min per consuming function; durations 1.5 s (pollers), 8 s (assets), 0.4-0.6 s (consumers); 2 KB of logs per invocation',
  'raw zone: 300 bytes per landed line (gzip), kept per the bucket lifecycle; lake: 5 GB of Iceberg tables',
  'lake: EMR Serverless hourly refresh 4 vCPU/16 GB x 5 min + daily maintenance x 15 min; state machines run on their schedules, 8 transitions each; 300 Athena queries x 50 MB',
  'NAT: 2 GB/month to Alpaca and CoinAPI; 30 custom metrics; Metrics Insights alarms read 10 metrics each',
]

/**
 * Packages the stage into a temporary directory (not under .serverless/: the framework builds
 * there and would copy the directory into itself) and returns its template.
 */
async function packagedTemplate(stage: string): Promise<CfnTemplate> {
  const dir = await mkdtemp(join(tmpdir(), `crypto-lake-cost-${stage}-`))
  process.stderr.write(`[cost] packaging stage ${stage} (no AWS credentials)...\n`)
  try {
    return await serverlessPackage(root, stage, dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function main(argv: string[]) {
  const program = new Command()
    .name('cost')
    .description('monthly cost estimate per resource of a packaged stage')
    .option('--stage <stage>', 'stage to estimate', 'dev')
    .option('--template <file>', 'an already packaged template (skips packaging)')
    .option('--prices <file>', 'price list', join(root, 'resources', 'pricing', 'us-east-1.json'))
    .parse(argv)
  const options = program.opts<{ stage: string; template?: string; prices: string }>()
  const template = options.template
    ? (JSON.parse(await readFile(options.template, 'utf8')) as CfnTemplate)
    : await packagedTemplate(options.stage)
  const prices = JSON.parse(await readFile(options.prices, 'utf8')) as PriceList
  const estimate = estimateMonthlyCost(template, prices, LOAD)
  process.stdout.write(
    `${formatReport(`Monthly estimate: crypto-data-lake, stage ${options.stage}`, estimate, prices, ASSUMPTIONS)}\n`,
  )
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv).catch((error: unknown) => {
    process.stderr.write(`[cost] ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  })
}
