/**
 * The packaged template's Macie wiring, on both stages: the session, the classification job on
 * the buckets that hold personal data, its findings routed to the alarm topic, the job's role.
 */
import { describe, expect, it } from 'vitest'
import { policyStatements, props } from './helpers/template.ts'
import { actionsOf, EXPECTED, packagedStages, STAGES } from './packaged-stages.ts'

const service = packagedStages()

describe.each(STAGES)('packaged template: %s', (stage) => {
  const expected = EXPECTED[stage]
  const template = () => service(stage).template

  describe('Macie', () => {
    it('enables Macie unless the stage says the account already has it, keeps it on stack deletion, publishes findings every 15 minutes', () => {
      expect(template().Parameters?.EnableMacieSession?.Default).toBe('true')
      expect(template().Resources.MacieSession).toEqual({
        Type: 'AWS::Macie::Session',
        Condition: 'CreateMacieSession',
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: { Status: 'ENABLED', FindingPublishingFrequency: 'FIFTEEN_MINUTES' },
      })
    })

    it('schedules a classification job on the raw and dead-letter buckets with the CPF, e-mail and name identifiers', () => {
      const p = props(template(), 'MacieClassificationJob')
      expect(p).toMatchObject({
        ServiceToken: { 'Fn::GetAtt': ['MacieClassificationJobFunction', 'Arn'] },
        BucketNames: [{ Ref: 'RawBucket' }, { Ref: 'DeadLetterBucket' }],
        AccountId: { 'Fn::If': ['CreateMacieSession', { Ref: 'MacieSession' }, { Ref: 'AWS::AccountId' }] },
        Schedule: expected.macieSchedule,
        SamplingPercentage: Number(expected.macieSamplingPercentage),
        CustomDataIdentifierIds: [
          { 'Fn::GetAtt': ['DocumentIdCpfIdentifier', 'Id'] },
          { 'Fn::GetAtt': ['DocumentIdInBase64Identifier', 'Id'] },
        ],
      })
      expect(p.ManagedDataIdentifierIds).toEqual(
        expect.arrayContaining(['BRAZIL_CPF_NUMBER', 'EMAIL_ADDRESS', 'NAME']),
      )
      expect(props(template(), 'DocumentIdCpfIdentifier')).toMatchObject({
        Regex: '\\b\\d{11}\\b',
        Keywords: ['document_id'],
      })
    })

    it('sends findings outside the expected trades prefix, and policy findings on either bucket, from EventBridge to the alarm topic', () => {
      const rule = props(template(), 'MacieFindingsRule')
      expect(rule.Targets).toEqual([{ Id: 'alarm-topic', Arn: { Ref: 'AlarmTopic' } }])
      expect(rule.EventPattern).toEqual({
        source: ['aws.macie'],
        'detail-type': ['Macie Finding'],
        detail: {
          $or: [
            {
              category: ['POLICY'],
              resourcesAffected: { s3Bucket: { name: [{ Ref: 'RawBucket' }, { Ref: 'DeadLetterBucket' }] } },
            },
            {
              resourcesAffected: {
                s3Bucket: { name: [{ Ref: 'RawBucket' }] },
                s3Object: { key: [{ 'anything-but': { prefix: 'raw/crypto.trades/' } }] },
              },
            },
          ],
        },
      })
    })

    it('lets the job custom resource manage classification jobs only', () => {
      const statements = policyStatements(template()).filter((s) =>
        s.where.startsWith('MacieClassificationJobRole/'),
      )
      expect(statements.flatMap((s) => actionsOf(s)).sort()).toEqual([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'macie2:CreateClassificationJob',
        'macie2:TagResource',
        'macie2:UpdateClassificationJob',
      ])
    })
  })
})
