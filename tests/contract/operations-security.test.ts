import { describe, expect, it } from 'vitest'
import { packaged } from './helpers/package-service.ts'
import {
  asArray,
  functionRole,
  getAttOf,
  policyStatements,
  props,
  resource,
  resourcesOfType,
} from './helpers/template.ts'
import { at, STAGES } from './packaged-stages.ts'

const DATA_KEY_ARN = { 'Fn::GetAtt': ['DataKey', 'Arn'] }

describe.each(STAGES)('packaged template: %s', (stage) => {
  const template = async () => (await packaged(stage)).template

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
