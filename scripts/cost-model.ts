/**
 * The monthly cost of a packaged stack: every resource of the CloudFormation template priced from
 * its own properties (instance types, node counts, memory sizes, schedules, poller groups) and a
 * short list of load assumptions for what the template cannot say (event sizes, durations, data
 * volumes). Pure: the template, the price list and the load come in, priced lines come out.
 * The month's usage is derived in cost-usage.ts, each resource type priced by its rule in cost-rules.ts.
 */
import { FREE_TYPES, fmt, type PriceOf, RULES } from './cost-rules.ts'
import type { CfnTemplate, CostEstimate, CostLine, LoadAssumptions, PriceList } from './cost-types.ts'
import { deriveUsage, type Usage } from './cost-usage.ts'

export type {
  CfnResource,
  CfnTemplate,
  CostEstimate,
  CostLine,
  LoadAssumptions,
  PriceList,
} from './cost-types.ts'
export { firingsPerHour } from './cost-usage.ts'

const round2 = (usd: number) => Math.round(usd * 100) / 100

/** The lines no single resource carries: each poller group's EPUs, the traces, the custom metrics. */
function sharedLines(usage: Usage, price: PriceOf): CostLine[] {
  const { hours, template, invocations, load } = usage
  const lines: CostLine[] = []
  for (const [group, { first, pollers, mappings }] of usage.pollerGroups) {
    const epus = Math.ceil(pollers / 10)
    lines.push({
      resource: first,
      type: 'AWS::Lambda::EventSourceMapping',
      usd: epus * hours * price('lambda.eventPollerUnitHour'),
      basis: `poller group ${group}: ${mappings} mappings, ${pollers} minimum pollers = ${epus} EPU x ${hours} h`,
    })
  }
  const tracedInvocations = Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
    .filter(([, r]) => (r.Properties?.TracingConfig as { Mode?: string } | undefined)?.Mode === 'Active')
    .reduce((sum, [id]) => sum + (invocations.get(id) ?? 0), 0)
  if (tracedInvocations > 0) {
    lines.push({
      resource: 'X-Ray (active tracing)',
      type: 'AWS::XRay',
      usd: (tracedInvocations / 1e6) * price('xray.tracesPerMillion'),
      basis: `${Math.round(tracedInvocations)} traces`,
    })
  }
  lines.push({
    resource: 'CloudWatch custom metrics',
    type: 'AWS::CloudWatch::Metric',
    usd: load.customMetrics * price('cloudwatch.customMetricMonth'),
    basis: `${load.customMetrics} metric/dimension sets (EMF, namespace CryptoLake)`,
  })
  return lines
}

/**
 * Prices every resource of the template. Types this model does not know throw, so a new kind of
 * resource cannot silently cost nothing.
 */
export function estimateMonthlyCost(
  template: CfnTemplate,
  prices: PriceList,
  load: LoadAssumptions,
): CostEstimate {
  const price: PriceOf = (key) => {
    const found = prices.prices[key]
    if (!found) throw new Error(`no price for ${key} in the price list`)
    return found.usd
  }
  const usage = deriveUsage(template, load, prices.hoursPerMonth)
  const lines: CostLine[] = []
  const free: string[] = []
  for (const [id, r] of Object.entries(template.Resources)) {
    const rule = RULES[r.Type]
    if (!rule) {
      if (FREE_TYPES.has(r.Type) || r.Type.startsWith('Custom::')) free.push(id)
      else throw new Error(`no cost rule for ${id} (${r.Type}): add one to scripts/cost-rules.ts`)
      continue
    }
    const priced = rule(id, r.Properties ?? {}, usage, price)
    if (priced && 'free' in priced) free.push(priced.free)
    else if (priced) lines.push({ resource: id, type: r.Type, usd: priced.usd, basis: priced.basis })
  }
  lines.push(...sharedLines(usage, price))
  const rounded = lines.map((line) => ({ ...line, usd: round2(line.usd) }))
  rounded.sort((a, b) => b.usd - a.usd || a.resource.localeCompare(b.resource))
  return {
    lines: rounded,
    free: free.sort(),
    totalUsd: round2(rounded.reduce((sum, line) => sum + line.usd, 0)),
  }
}

/** The report `make cost` prints. */
export function formatReport(
  title: string,
  estimate: CostEstimate,
  prices: PriceList,
  assumptions: string[],
): string {
  const width = Math.max(24, ...estimate.lines.map((line) => line.resource.length))
  const out: string[] = []
  out.push(title)
  out.push(
    `Prices: ${prices.region}, ${prices.currency}, on-demand, retrieved ${prices.retrieved} (resources/pricing/${prices.region}.json); ${prices.hoursPerMonth} h per month; no free tier.`,
  )
  out.push('Load assumptions:')
  for (const line of assumptions) out.push(`  - ${line}`)
  out.push('')
  out.push(`${'resource'.padEnd(width)}  ${'USD/month'.padStart(10)}  basis`)
  for (const line of estimate.lines) {
    out.push(`${line.resource.padEnd(width)}  ${fmt(line.usd).padStart(10)}  ${line.basis}`)
  }
  out.push(
    `${'TOTAL'.padEnd(width)}  ${fmt(estimate.totalUsd).padStart(10)}  (${fmt(estimate.totalUsd / prices.hoursPerMonth, 3)} USD/hour)`,
  )
  out.push(
    `No charge of their own: ${estimate.free.length} resources (IAM, network plumbing, policies, schedules, custom resources, grouped pollers).`,
  )
  const original = prices.originalDesign.usdPerHour * prices.hoursPerMonth
  out.push(
    `Original design (${prices.originalDesign.description}): about ${fmt(prices.originalDesign.usdPerHour)} USD/hour = ${fmt(original)} USD/month; this stage is ${fmt((estimate.totalUsd / original) * 100, 1)} % of it.`,
  )
  return out.join('\n')
}
