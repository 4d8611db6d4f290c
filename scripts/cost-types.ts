/** The shapes the cost model reads and returns: the template, the price list, the load, the lines. */

export type { CfnResource, CfnTemplate } from '../local/runtime/cfn.ts'

export interface PriceList {
  region: string
  currency: string
  retrieved: string
  hoursPerMonth: number
  prices: Record<string, { usd: number; source: string; checked?: boolean }>
  originalDesign: { usdPerHour: number; description: string; source: string }
}

/** What the template cannot tell: the data, and how long things run. Stated in the report. */
export interface LoadAssumptions {
  /** Serialized size of one event (JSON) on Kafka, bytes. */
  eventBytes: { bars: number; trades: number; assets: number }
  /** One raw-zone line (the event with its Kafka coordinates), gzip-compressed, bytes. */
  rawLineBytes: number
  assetsPerDay: number
  /** Topic partitions (functions/shared/topics.ts) and how long the topics keep data. */
  partitions: number
  kafkaRetentionDays: number
  /** Consumer groups reading every topic (index-events and land-raw). */
  kafkaReaders: number
  /** Average duration of one invocation, per function logical id; deploy-time functions are not listed. */
  durationMs: Record<string, number>
  /** Invocations per minute of a function fed by event source mappings (batches, not records). */
  batchesPerMinute: Record<string, number>
  /** Invocations per month of a function called by something the template cannot count (a state machine). */
  invocationsPerMonth: Record<string, number>
  logBytesPerInvocation: number
  customMetrics: number
  /** Metrics one Metrics Insights alarm query reads (one per dimension set of the metric). */
  metricsPerInsightsQuery: number
  natGbPerMonth: number
  secretsApiCallsPerMonth: number
  kmsRequestsPerMonth: number
  /** Per bucket logical id: extra stored GB and requests besides what the raw zone derives. */
  buckets: Record<string, { storedGb: number; putsPerMonth: number; getsPerMonth: number }>
  /** Per EMR Serverless application: monthly vCPU-hours and GB-hours of all its job runs. */
  emr: { vcpuHours: number; gbHours: number; basis: string }
  /** State transitions per execution; executions come from the state machines' schedules. */
  stateMachines: { transitionsPerExecution: number }
  athena: { queriesPerMonth: number; mbScannedPerQuery: number }
}

export interface CostLine {
  resource: string
  type: string
  usd: number
  basis: string
}

export interface CostEstimate {
  lines: CostLine[]
  /** Resources that cost nothing by themselves (IAM, security groups, routes, custom resources...). */
  free: string[]
  totalUsd: number
}
