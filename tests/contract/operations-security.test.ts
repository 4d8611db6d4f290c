/**
 * What issue 12 added to the packaged service, checked on both stages: two stages in one account
 * (no physical name shared), the Athena trader_view created by the deploy with the lake's own
 * SELECT, the EMR jobs reading the PII key without an AWS SDK, the way in to OpenSearch
 * Dashboards, the domain's logs, execution logs of the lake state machines, and every log group
 * and function environment on the data key.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { packaged, projectRoot } from './helpers/package-service.ts'
import {
  asArray,
  type CfnTemplate,
  functionRole,
  getAttOf,
  policyStatements,
  props,
  resource,
  resourcesOfType,
} from './helpers/template.ts'

const STAGES = ['dev', 'prod'] as const
const DATA_KEY_ARN = { 'Fn::GetAtt': ['DataKey', 'Arn'] }

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

function at(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined),
      value,
    )
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

  describe('the EMR jobs read the PII key with what EMR provides', () => {
    it('hands the key to the driver as an EMR.secret@ reference, readable by the job role', async () => {
      const t = await template()
      const spark = (
        props(t, 'LakeSparkApplication').RuntimeConfiguration as Array<{
          Properties: Record<string, unknown>
        }>
      )[0]
      expect(spark?.Properties['spark.emr-serverless.driverEnv.PII_HMAC_KEY']).toEqual({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        'Fn::Sub': 'EMR.secret@${PiiHmacSecret}',
      })
      expect(spark?.Properties['spark.emr-serverless.driverEnv.PII_SECRET_ARN']).toBeUndefined()
      const read = policyStatements(t).find((s) => s.where === 'LakeJobRole/lake-jobs#PiiKey')
      expect(read?.statement.Action).toBe('secretsmanager:GetSecretValue')
      expect(read?.statement.Resource).toEqual({ Ref: 'PiiHmacSecret' })
    })
  })

  describe('OpenSearch Dashboards on AWS', () => {
    it('reaches the domain through a Session Manager tunnel instance with no inbound rule and no public address', async () => {
      const t = await template()
      const instance = props(t, 'DashboardsTunnelInstance')
      expect(instance.SubnetId).toEqual({ Ref: 'PrivateSubnetA' })
      expect(instance.NetworkInterfaces).toBeUndefined()
      expect(instance.KeyName).toBeUndefined()
      expect(JSON.stringify(instance.ImageId)).toContain('/aws/service/ami-amazon-linux-latest/')
      const group = props(t, 'DashboardsTunnelSecurityGroup')
      expect(group.SecurityGroupIngress).toBeUndefined()
      expect(
        resourcesOfType(t, 'AWS::EC2::SecurityGroupIngress').filter(
          ([, r]) => getAttOf(r.Properties?.GroupId)?.[0] === 'DashboardsTunnelSecurityGroup',
        ),
      ).toEqual([])
      expect(props(t, 'OpenSearchFromDashboardsTunnelIngress')).toMatchObject({
        GroupId: { 'Fn::GetAtt': ['OpenSearchSecurityGroup', 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': ['DashboardsTunnelSecurityGroup', 'GroupId'] },
        FromPort: 443,
        ToPort: 443,
      })
      const launch = props(t, 'DashboardsTunnelLaunchTemplate').LaunchTemplateData as Record<string, unknown>
      expect(at(launch, 'MetadataOptions.HttpTokens')).toBe('required')
      expect((launch.BlockDeviceMappings as Array<{ Ebs: Record<string, unknown> }>)[0]?.Ebs).toMatchObject({
        Encrypted: true,
        KmsKeyId: DATA_KEY_ARN,
      })
    })

    it('gives the tunnel instance only what Session Manager needs', async () => {
      const t = await template()
      const role = props(t, 'DashboardsTunnelRole')
      expect(role.ManagedPolicyArns).toEqual([
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore' },
      ])
      expect(role.Policies).toBeUndefined()
    })

    it('lets the Dashboards user role start the port forward to that instance only, and call the domain', async () => {
      const t = await template()
      const statements = policyStatements(t).filter((s) => s.where.startsWith('DashboardsUserRole/'))
      const session = statements.find((s) => s.where.endsWith('#PortForwardThroughTheTunnel'))
      expect(session?.statement.Action).toBe('ssm:StartSession')
      const targets = JSON.stringify(session?.statement.Resource)
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
      expect(targets).toContain('instance/${DashboardsTunnelInstance}')
      expect(targets).toContain('document/AWS-StartPortForwardingSessionToRemoteHost')
      expect(asArray(session?.statement.Resource)).toHaveLength(2)
      const domain = policyStatements(t).find((s) => s.where === 'OpenSearchDomain#DashboardsUsers')
      expect(domain?.statement.Principal).toEqual({ AWS: { 'Fn::GetAtt': ['DashboardsUserRole', 'Arn'] } })
      expect(Object.keys(t.Outputs ?? {})).toEqual(
        expect.arrayContaining(['DashboardsTunnelInstanceId', 'DashboardsUserRoleArn', 'OpenSearchEndpoint']),
      )
    })
  })

  describe('logs', () => {
    it('publishes the domain error and slow logs to its own encrypted log groups', async () => {
      const t = await template()
      const options = props(t, 'OpenSearchDomain').LogPublishingOptions as Record<
        string,
        { Enabled: boolean; CloudWatchLogsLogGroupArn: unknown }
      >
      expect(Object.keys(options).sort()).toEqual([
        'ES_APPLICATION_LOGS',
        'INDEX_SLOW_LOGS',
        'SEARCH_SLOW_LOGS',
      ])
      for (const [kind, option] of Object.entries(options)) {
        expect(option.Enabled, kind).toBe(true)
        const [group] = getAttOf(option.CloudWatchLogsLogGroupArn) ?? []
        expect(String(props(t, group ?? '').LogGroupName), kind).toMatch(
          new RegExp(`^/aws/opensearch/crypto-data-lake-${stage}/`),
        )
      }
      const policy = JSON.parse(
        String((props(t, 'OpenSearchLogsPolicy').PolicyDocument as { 'Fn::Sub': string })['Fn::Sub']),
      )
      expect(policy.Statement[0].Principal).toEqual({ Service: 'es.amazonaws.com' })
      expect(policy.Statement[0].Resource).toContain(`log-group:/aws/opensearch/crypto-data-lake-${stage}/*`)
    })

    it('logs every execution of the lake and backfill state machines', async () => {
      const t = await template()
      for (const [id, group] of [
        ['LakeRefreshStateMachine', 'LakeRefreshExecutionLogGroup'],
        ['LakeMaintenanceStateMachine', 'LakeMaintenanceExecutionLogGroup'],
        ['BackfillBarsStateMachine', 'BackfillBarsExecutionLogGroup'],
      ] as const) {
        expect(props(t, id).LoggingConfiguration, id).toEqual({
          Level: 'ALL',
          IncludeExecutionData: true,
          Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [group, 'Arn'] } } }],
        })
      }
      const delivery = policyStatements(t).find(
        (s) => s.where === 'LakeStateMachineRole/lake-state-machines#DeliverExecutionLogs',
      )
      expect(asArray(delivery?.statement.Action)).toContain('logs:CreateLogDelivery')
      expect(props(t, 'BackfillBarsExecutionLogsPolicy').Roles).toEqual([
        { Ref: 'BackfillBarsStateMachineRole' },
      ])
      expect(asArray(resource(t, 'BackfillBarsStateMachine').DependsOn)).toContain(
        'BackfillBarsExecutionLogsPolicy',
      )
    })

    it('encrypts every log group with the data key, which CloudWatch Logs may use for this account only', async () => {
      const t = await template()
      const groups = resourcesOfType(t, 'AWS::Logs::LogGroup')
      expect(groups.length).toBeGreaterThan(10)
      for (const [id, group] of groups) expect(group.Properties?.KmsKeyId, id).toEqual(DATA_KEY_ARN)
      const logs = policyStatements(t).find((s) => s.where === 'DataKey#CloudWatchLogsEncryptsLogGroups')
      expect(logs?.statement.Principal).toEqual({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
        Service: { 'Fn::Sub': 'logs.${AWS::Region}.amazonaws.com' },
      })
      expect(JSON.stringify(logs?.statement.Condition)).toContain('kms:EncryptionContext:aws:logs:arn')
    })
  })

  describe('function environments', () => {
    it('encrypts each environment with the data key, which the function role may decrypt', async () => {
      const t = await template()
      const statements = policyStatements(t)
      for (const [id, fn] of resourcesOfType(t, 'AWS::Lambda::Function')) {
        if (!fn.Properties?.Environment) continue
        expect(fn.Properties.KmsKeyArn, id).toEqual(DATA_KEY_ARN)
        const role = functionRole(t, id)
        const decrypts = statements.some(
          (s) =>
            s.where.startsWith(`${role}/`) &&
            s.statement.Effect === 'Allow' &&
            asArray(s.statement.Action).includes('kms:Decrypt') &&
            JSON.stringify(s.statement.Resource) === JSON.stringify(DATA_KEY_ARN) &&
            s.statement.Condition === undefined,
        )
        expect(decrypts, `${id} (${role}) may kms:Decrypt the data key`).toBe(true)
      }
    })
  })

  describe('Macie', () => {
    it('scans the dead-letter bucket too, whose batches expire with the raw zone personal data', async () => {
      const t = await template()
      expect(props(t, 'MacieClassificationJob').BucketNames).toEqual([
        { Ref: 'RawBucket' },
        { Ref: 'DeadLetterBucket' },
      ])
      const rules = (
        props(t, 'DeadLetterBucket').LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }
      ).Rules
      const raw = (props(t, 'RawBucket').LifecycleConfiguration as { Rules: Array<Record<string, unknown>> })
        .Rules
      const trades = raw.find((r) => r.Id === 'ExpireTradesPersonalData')
      const quarantine = raw.find((r) => r.Id === 'ExpireQuarantine')
      expect(rules.find((r) => r.Id === 'ExpireFailedBatches')?.ExpirationInDays).toBe(
        trades?.ExpirationInDays,
      )
      expect(quarantine?.ExpirationInDays).toBe(trades?.ExpirationInDays)
    })

    it('recognises a trade inside a base64 Kafka value, whatever its byte alignment, and not a bar', async () => {
      const t = await template()
      const identifier = props(t, 'DocumentIdInBase64Identifier')
      expect(identifier.Keywords).toBeUndefined()
      const regex = new RegExp(String(identifier.Regex))
      const trade = JSON.stringify({
        event_id: 'sim:202611301000-0001',
        user_email: 'ana@example.com',
        document_id: '52998224725',
      })
      const bar = JSON.stringify({
        event_id: 'alpaca:BTC/USD:2026-11-30T10:00:00Z',
        symbol: 'BTC/USD',
        close: '97000.5',
      })
      // A quarantine object keeps the value as received: base64 of the bytes, at any offset in the JSON.
      for (const prefix of ['', ' ', '  ', '{"x":1,', '{"x":12,'])
        expect(regex.test(Buffer.from(`${prefix}${trade}`).toString('base64')), JSON.stringify(prefix)).toBe(
          true,
        )
      for (const prefix of ['', ' ', '  '])
        expect(regex.test(Buffer.from(`${prefix}${bar}`).toString('base64'))).toBe(false)
      expect(JSON.stringify(props(t, 'MacieClassificationJob').CustomDataIdentifierIds)).toContain(
        'DocumentIdInBase64Identifier',
      )
    })
  })
})
