/**
 * The packaged template's deploy-time configuration, on both stages: tags on every taggable
 * resource, the budget, the operations dashboard, the search config applied at deploy, and
 * cfn-lint over the whole template.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { taggingOf } from './helpers/cfn-schemas.ts'
import { cfnLint } from './helpers/package-service.ts'
import { getAttOf, props, refOf } from './helpers/template.ts'
import { EXPECTED, metricsFixture, packagedStages, REQUIRED_TAGS, STAGES } from './packaged-stages.ts'

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const expected = EXPECTED[stage]
  const template = () => service(stage).template

  describe('tags', () => {
    it('tags every taggable resource (per its CloudFormation schema) with project, stage and managed-by', async () => {
      const resources = Object.entries(template().Resources)
      const tagging = await taggingOf(resources.map(([, r]) => r.Type))
      const untagged: string[] = []
      let checked = 0
      for (const [id, r] of resources) {
        const declared = tagging.get(r.Type)
        if (!declared?.taggable || !declared.property) continue
        checked++
        const value = r.Properties?.[declared.property]
        const tags: Record<string, unknown> = Array.isArray(value)
          ? Object.fromEntries((value as Array<{ Key: string; Value: unknown }>).map((t) => [t.Key, t.Value]))
          : ((value as Record<string, unknown> | undefined) ?? {})
        for (const [key, wanted] of Object.entries(REQUIRED_TAGS(stage))) {
          if (tags[key] !== wanted) untagged.push(`${id} (${r.Type}).${declared.property}: ${key}`)
        }
      }
      expect(untagged).toEqual([])
      expect(checked).toBeGreaterThan(80)
    })

    it('leaves untagged only the types that take no tags: custom resources have no schema at all', async () => {
      const tagging = await taggingOf(Object.values(template().Resources).map((r) => r.Type))
      const withoutSchema = [...tagging].filter(([, t]) => t === undefined).map(([type]) => type)
      expect(
        withoutSchema.every((type) => type.startsWith('Custom::')),
        withoutSchema.join(', '),
      ).toBe(true)
      expect(template().Resources.MskCluster?.Properties?.Tags).toEqual(REQUIRED_TAGS(stage))
    })
  })

  describe('budget, dashboard and deploy-time configuration', () => {
    it('budgets the stage per month on its project and stage tags, alerting the topic at 80 % actual and 100 % forecast', () => {
      const p = props(template(), 'CostBudget')
      expect(p.Budget).toEqual({
        BudgetName: `crypto-data-lake-${stage}-monthly`,
        BudgetType: 'COST',
        TimeUnit: 'MONTHLY',
        BudgetLimit: { Amount: expected.monthlyBudgetUsd, Unit: 'USD' },
        FilterExpression: {
          And: [
            { Tags: { Key: 'project', Values: ['crypto-data-lake'], MatchOptions: ['EQUALS'] } },
            { Tags: { Key: 'stage', Values: [stage], MatchOptions: ['EQUALS'] } },
          ],
        },
      })
      const notifications = p.NotificationsWithSubscribers as Array<{
        Notification: Record<string, unknown>
        Subscribers: unknown[]
      }>
      expect(notifications.map((n) => [n.Notification.NotificationType, n.Notification.Threshold])).toEqual([
        ['ACTUAL', 80],
        ['FORECASTED', 100],
      ])
      for (const n of notifications)
        expect(n.Subscribers).toEqual([{ SubscriptionType: 'SNS', Address: { Ref: 'AlarmTopic' } }])
    })

    it('draws a dashboard whose widgets name only metrics that exist and resources of this stack', async () => {
      const fixture = await metricsFixture()
      const [text, variables] = (
        props(template(), 'OperationsDashboard').DashboardBody as {
          'Fn::Sub': [string, Record<string, unknown>]
        }
      )['Fn::Sub']
      for (const [name, value] of Object.entries(variables)) {
        const target = refOf(value) ?? getAttOf(value)?.[0]
        if (target) expect(template().Resources[target], name).toBeDefined()
      }
      const body = JSON.parse(
        text.replace(/\$\{([\w:]+)\}/g, (_m, name: string) => {
          if (name.startsWith('AWS::') || name in variables) return `stand-in-${name}`
          throw new Error(`dashboard names \${${name}}, which the Fn::Sub does not define`)
        }),
      ) as { widgets: Array<{ type: string; properties: { metrics?: unknown[][] } }> }
      const used: string[] = []
      for (const widget of body.widgets.filter((w) => w.type === 'metric')) {
        for (const line of widget.properties.metrics ?? []) {
          const first = line[0]
          if (typeof first === 'string') used.push(`${first} ${String(line[1])}`)
          else {
            const sql = /^SELECT\s+\w+\((\w+)\)\s+FROM\s+(\w+)/.exec(
              String((first as { expression?: string }).expression),
            )
            used.push(sql ? `${sql[2]} ${sql[1]}` : `unparsed ${JSON.stringify(first)}`)
          }
        }
      }
      expect(used.length).toBeGreaterThan(10)
      const unknown = used.filter((pair) => {
        const [namespace = '', metric = ''] = pair.split(' ')
        return !(fixture.namespaces[namespace]?.metrics ?? []).includes(metric)
      })
      expect(unknown).toEqual([])
    })

    it('applies the search config at deploy, again whenever its code or the replica count changes', () => {
      const p = props(template(), 'SearchConfig')
      expect(template().Resources.SearchConfig?.Type).toBe('Custom::SearchConfig')
      expect(p).toMatchObject({
        ServiceToken: { 'Fn::GetAtt': ['ApplySearchConfigLambdaFunction', 'Arn'] },
        ServiceTimeout: 300,
        DomainEndpoint: { 'Fn::GetAtt': ['OpenSearchDomain', 'DomainEndpoint'] },
        Replicas: Number(expected.openSearchReplicas),
      })
      expect(String(p.ConfigHash)).toMatch(/^[0-9a-f]{16}$/)
      // Same code in both stages, so the same version.
      expect(p.ConfigHash).toBe(props(service('dev').template, 'SearchConfig').ConfigHash)
    })
  })

  it('passes cfn-lint with no errors or warnings', async () => {
    const result = await cfnLint(join(service(stage).dir, 'cloudformation-template-update-stack.json'))
    expect(result.output).toBe('')
    expect(result.code).toBe(0)
  })
})
