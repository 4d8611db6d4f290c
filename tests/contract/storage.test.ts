/**
 * The packaged template's storage, on both stages: every bucket encrypted with the project key,
 * versioned, private and TLS-only, object access recorded, personal data expired, the key rotated.
 */
import { describe, expect, it } from 'vitest'
import { PLAN_BOUND_MS } from '../../functions/lake-window/core.ts'
import { LANDED_PREFIX } from '../../functions/shared/lake-state.ts'
import { policyStatements, props, refOf, resourcesOfType } from './helpers/template.ts'
import {
  CODE_BUCKETS,
  DATA_BUCKETS,
  DEPLOYMENT_BUCKET,
  EXPECTED,
  LOG_BUCKETS,
  packagedStages,
  STAGES,
} from './packaged-stages.ts'

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const expected = EXPECTED[stage]
  const template = () => service(stage).template

  describe('storage', () => {
    it('encrypts every bucket with the project CMK, versions it and blocks public access', () => {
      const buckets = resourcesOfType(template(), 'AWS::S3::Bucket').map(([id]) => id)
      expect(buckets.sort()).toEqual(
        [...DATA_BUCKETS, ...CODE_BUCKETS, ...LOG_BUCKETS, DEPLOYMENT_BUCKET].sort(),
      )
      for (const id of buckets) {
        const p = props(template(), id)
        const rules = (
          p.BucketEncryption as { ServerSideEncryptionConfiguration: Array<Record<string, unknown>> }
        ).ServerSideEncryptionConfiguration
        expect(rules, id).toEqual([
          {
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': ['DataKey', 'Arn'] },
            },
            BucketKeyEnabled: true,
          },
        ])
        expect(p.VersioningConfiguration, id).toEqual({ Status: 'Enabled' })
        expect(p.PublicAccessBlockConfiguration, id).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        })
        expect(p.OwnershipControls, id).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] })
      }
    })

    it('records every object read and write of every bucket in an encrypted, validated trail', () => {
      const trail = props(template(), 'AccessTrail')
      expect(trail).toMatchObject({
        S3BucketName: { Ref: 'AccessTrailBucket' },
        KMSKeyId: { 'Fn::GetAtt': ['DataKey', 'Arn'] },
        IsLogging: true,
        EnableLogFileValidation: true,
      })
      const [selector] = trail.AdvancedEventSelectors as Array<{
        FieldSelectors: Array<{ Field: string; Equals?: string[]; StartsWith?: unknown[] }>
      }>
      const field = (name: string) => selector?.FieldSelectors.find((f) => f.Field === name)
      expect(field('eventCategory')?.Equals).toEqual(['Data'])
      expect(field('resources.type')?.Equals).toEqual(['AWS::S3::Object'])
      const prefixes = JSON.stringify(field('resources.ARN')?.StartsWith)
      for (const id of [...DATA_BUCKETS, ...CODE_BUCKETS, DEPLOYMENT_BUCKET])
        expect(prefixes, id).toContain(id)
      const key = policyStatements(template()).find((s) => s.where.endsWith('#CloudTrailEncryptsAccessTrail'))
      expect(JSON.stringify(key?.statement.Condition)).toContain(`trail/crypto-data-lake-${stage}-access`)
    })

    it('gives every bucket a policy that denies any request without TLS, on the bucket and its objects', () => {
      for (const id of [...DATA_BUCKETS, ...CODE_BUCKETS, ...LOG_BUCKETS, DEPLOYMENT_BUCKET]) {
        const policies = resourcesOfType(template(), 'AWS::S3::BucketPolicy').filter(
          ([, r]) => refOf(r.Properties?.Bucket) === id,
        )
        expect(policies, id).toHaveLength(1)
        const document = policies[0]?.[1].Properties?.PolicyDocument as {
          Statement: Array<Record<string, unknown>>
        }
        const tls = document.Statement.find(
          (s) =>
            s.Effect === 'Deny' &&
            s.Principal === '*' &&
            s.Action === 's3:*' &&
            JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': false } }),
        )
        expect(tls, `${id}: TLS-only statement`).toBeDefined()
        const resources = JSON.stringify(tls?.Resource)
        expect(resources, id).toContain(id)
        expect(resources, `${id}: objects too`).toContain('/*')
      }
    })

    it('refuses objects encrypted with any other KMS key in the data buckets', () => {
      for (const id of DATA_BUCKETS) {
        const [policyId] =
          resourcesOfType(template(), 'AWS::S3::BucketPolicy').find(
            ([, r]) => refOf(r.Properties?.Bucket) === id,
          ) ?? []
        const statements = (
          props(template(), policyId ?? `${id}Policy`).PolicyDocument as { Statement: unknown[] }
        ).Statement
        expect(statements, id).toContainEqual({
          Sid: 'DenyObjectsEncryptedWithAnotherKey',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:PutObject',
          Resource: { 'Fn::Sub': `\${${id}.Arn}/*` },
          // A request without the header gets the default key: ...IfExists would deny it.
          Condition: {
            Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'false' },
            StringNotEquals: {
              's3:x-amz-server-side-encryption-aws-kms-key-id': { 'Fn::GetAtt': ['DataKey', 'Arn'] },
            },
          },
        })
      }
    })

    it('expires personal data: raw trades and quarantine after the stage PII retention, old versions after a day', () => {
      const rules = (
        props(template(), 'RawBucket').LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }
      ).Rules
      const byId = new Map(rules.map((rule) => [rule.Id, rule]))
      expect(byId.get('ExpireTradesPersonalData')).toEqual({
        Id: 'ExpireTradesPersonalData',
        Status: 'Enabled',
        Prefix: 'raw/crypto.trades/',
        ExpirationInDays: expected.piiRetentionDays,
      })
      expect(byId.get('ExpireQuarantine')).toEqual({
        Id: 'ExpireQuarantine',
        Status: 'Enabled',
        Prefix: 'quarantine/',
        ExpirationInDays: expected.piiRetentionDays,
      })
      expect(byId.get('ExpireNoncurrentVersions')?.NoncurrentVersionExpiration).toEqual({ NoncurrentDays: 1 })
      // Landing markers outlive the lake planner's bound, and no longer.
      const markers = byId.get('ExpireLandingMarkers')
      expect(markers?.Prefix).toBe(LANDED_PREFIX)
      expect(Number(markers?.ExpirationInDays) * 86_400_000).toBeGreaterThan(PLAN_BOUND_MS)
      const deadLetters = (
        props(template(), 'DeadLetterBucket').LifecycleConfiguration as { Rules: unknown[] }
      ).Rules
      // Failed batches hold trades as they were produced: the same retention as the raw zone's.
      expect(deadLetters).toContainEqual(
        expect.objectContaining({
          Id: 'ExpireFailedBatches',
          Status: 'Enabled',
          ExpirationInDays: expected.piiRetentionDays,
        }),
      )
      expect(deadLetters).toContainEqual(
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 1 } }),
      )
    })

    it('rotates the CMK and encrypts the secrets and the alarm topic with it', () => {
      expect(props(template(), 'DataKey').EnableKeyRotation).toBe(true)
      const secrets = resourcesOfType(template(), 'AWS::SecretsManager::Secret')
      expect(secrets.map(([id]) => id).sort()).toEqual(['AlpacaSecret', 'CoinApiSecret', 'PiiHmacSecret'])
      for (const [id, secret] of secrets) expect(refOf(secret.Properties?.KmsKeyId), id).toBe('DataKey')
      expect(props(template(), 'PiiHmacSecret').GenerateSecretString).toEqual({
        PasswordLength: 64,
        ExcludePunctuation: true,
        IncludeSpace: false,
      })
      expect(refOf(props(template(), 'AlarmTopic').KmsMasterKeyId)).toBe('DataKey')
    })
  })
})
