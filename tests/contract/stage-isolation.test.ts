/**
 * Two stages in one account, checked on both: no physical name shared, the lake in the stage's
 * own Glue database, and the Athena trader_view created by the deploy with the lake's own SELECT.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { packaged, projectRoot } from './helpers/package-service.ts'
import { type CfnTemplate, policyStatements, props, resourcesOfType } from './helpers/template.ts'
import { at, STAGES } from './packaged-stages.ts'

/** Properties that set a physical name, by resource type: two stages must never share one. */
const NAME_PROPERTIES: Record<string, string[]> = {
  'AWS::S3::Bucket': ['BucketName'],
  'AWS::OpenSearchService::Domain': ['DomainName'],
  'AWS::MSK::ServerlessCluster': ['ClusterName'],
  'AWS::Glue::Database': ['DatabaseInput.Name'],
  'AWS::Athena::WorkGroup': ['Name'],
  'AWS::EMRServerless::Application': ['Name'],
  'AWS::SecretsManager::Secret': ['Name'],
  'AWS::KMS::Alias': ['AliasName'],
  'AWS::Logs::LogGroup': ['LogGroupName'],
  'AWS::Logs::ResourcePolicy': ['PolicyName'],
  'AWS::CloudTrail::Trail': ['TrailName'],
  'AWS::StepFunctions::StateMachine': ['StateMachineName'],
  'AWS::Lambda::Function': ['FunctionName'],
  'AWS::Lambda::EventSourceMapping': ['AmazonManagedKafkaEventSourceConfig.ConsumerGroupId'],
  'AWS::CloudWatch::Dashboard': ['DashboardName'],
  'AWS::Budgets::Budget': ['Budget.BudgetName'],
  'AWS::Macie::CustomDataIdentifier': ['Name'],
  'AWS::Events::Rule': ['Name'],
  'AWS::SNS::Topic': ['TopicName'],
  'AWS::IAM::Role': ['RoleName'],
}

/** Every physical name the template sets, as written (intrinsics serialized). */
function physicalNames(template: CfnTemplate): Array<{ where: string; name: string }> {
  const names: Array<{ where: string; name: string }> = []
  for (const [type, paths] of Object.entries(NAME_PROPERTIES))
    for (const [id, resource] of resourcesOfType(template, type))
      for (const path of paths) {
        const value = at(resource.Properties, path)
        if (value !== undefined) names.push({ where: `${id}.${path}`, name: JSON.stringify(value) })
      }
  return names
}

/** TRADER_VIEW_SQL of emr/lake/tables.py with the database substituted, whitespace collapsed. */
async function lakeTraderViewSql(database: string): Promise<string> {
  const source = await readFile(join(projectRoot, 'emr', 'lake', 'tables.py'), 'utf8')
  const sql = /TRADER_VIEW_SQL = f"""([\s\S]*?)"""/.exec(source)?.[1]
  if (!sql) throw new Error('TRADER_VIEW_SQL not found in emr/lake/tables.py')
  return sql.replaceAll('{DATABASE}', database).replace(/\s+/g, ' ').trim()
}

describe.each(STAGES)('packaged template: %s', (stage) => {
  const template = async () => (await packaged(stage)).template
  const database = `crypto_db_${stage}`

  describe('two stages in one account', () => {
    it('names every physical resource after its stage', async () => {
      const unnamed = physicalNames(await template()).filter(({ name }) => !name.includes(stage))
      expect(unnamed).toEqual([])
    })

    it('shares no physical name with the other stage', async () => {
      const other = STAGES.find((each) => each !== stage) ?? 'dev'
      const mine = new Set(physicalNames(await template()).map(({ name }) => name))
      const theirs = physicalNames((await packaged(other)).template).map(({ name }) => name)
      expect(theirs.filter((name) => mine.has(name))).toEqual([])
    })

    it("keeps the lake in the stage's own Glue database, and lets the jobs touch only that one", async () => {
      const t = await template()
      expect(at(props(t, 'CryptoDatabase'), 'DatabaseInput.Name')).toBe(database)
      const spark = (
        props(t, 'LakeSparkApplication').RuntimeConfiguration as Array<{
          Properties: Record<string, unknown>
        }>
      )[0]
      expect(spark?.Properties['spark.emr-serverless.driverEnv.LAKE_DATABASE']).toBe(database)
      const glue = policyStatements(t).find((s) => s.where === 'LakeJobRole/lake-jobs#GlueCatalog')
      const resources = JSON.stringify(glue?.statement.Resource)
      expect(resources).toContain(`database/${database}`)
      expect(resources).toContain(`table/${database}/*`)
      expect(resources).not.toMatch(/database\/crypto_db"/)
      for (const [id, query] of resourcesOfType(t, 'AWS::Athena::NamedQuery')) {
        expect(query.Properties?.Database, id).toEqual({ Ref: 'CryptoDatabase' })
        expect(String(query.Properties?.QueryString), id).not.toMatch(/\bcrypto_db\./)
      }
    })
  })

  describe('the Athena trader_view', () => {
    const view = async () => {
      const t = await template()
      const input = props(t, 'TraderView').TableInput as Record<string, unknown>
      const [, parts] = (input.ViewOriginalText as { 'Fn::Join': [string, unknown[]] })['Fn::Join']
      const json = (parts[1] as { 'Fn::Base64': string })['Fn::Base64']
      return { t, input, parts, presto: JSON.parse(json) as Record<string, unknown> }
    }

    it('is created by the deploy as a Presto view of the Glue catalog', async () => {
      const { t, input, parts } = await view()
      expect(props(t, 'TraderView').DatabaseName).toEqual({ Ref: 'CryptoDatabase' })
      expect(input).toMatchObject({
        Name: 'trader_view',
        TableType: 'VIRTUAL_VIEW',
        Parameters: { presto_view: 'true' },
        ViewExpandedText: '/* Presto View */',
      })
      expect(parts[0]).toBe('/* Presto View: ')
      expect(parts[2]).toBe(' */')
      expect(
        resourcesOfType(t, 'AWS::Athena::NamedQuery').map(([, q]) => String(q.Properties?.QueryString)),
      ).not.toContainEqual(expect.stringMatching(/CREATE OR REPLACE VIEW/))
    })

    it("runs the lake's own SELECT (emr/lake/tables.py) over the stage's database", async () => {
      const { presto } = await view()
      expect(presto.catalog).toBe('awsdatacatalog')
      expect(presto.schema).toBe(database)
      const deployed = String(presto.originalSql).replace(/\s+/g, ' ')
      // Spark writes MINUTE, Athena minute: date_trunc's unit is case-insensitive in both.
      expect(deployed.toLowerCase()).toBe((await lakeTraderViewSql(database)).toLowerCase())
    })

    it('declares every column the SELECT yields, in order, in the view and in the table', async () => {
      const { input, presto } = await view()
      const select = /^SELECT (.*) FROM /.exec(String(presto.originalSql))?.[1] ?? ''
      const yielded = select.split(',').map((column) =>
        column
          .trim()
          .split(/\s+AS\s+|\./)
          .pop(),
      )
      const columns = (presto.columns as Array<{ name: string; type: string }>).map((c) => c.name)
      expect(columns).toEqual(yielded)
      const tableColumns = (input.StorageDescriptor as { Columns: Array<{ Name: string }> }).Columns.map(
        (c) => c.Name,
      )
      expect(tableColumns).toEqual(columns)
    })
  })
})
