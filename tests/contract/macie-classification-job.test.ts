/**
 * The inline code of Custom::MacieClassificationJob (resources/macie.yml), run as Lambda would.
 */
import { describe, expect, it } from 'vitest'
import { invokeMacieCustomResource } from './helpers/custom-resource.ts'
import { props } from './helpers/template.ts'
import { packagedStages } from './packaged-stages.ts'

const service = packagedStages()

describe('Custom::MacieClassificationJob (the inline code in resources/macie.yml, run as Lambda would)', () => {
  const zipFile = () =>
    String(
      (props(service('dev').template, 'MacieClassificationJobFunction').Code as { ZipFile: string }).ZipFile,
    )
  const baseEvent = {
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/guid',
    RequestId: '3f2a9c1e-0000-4000-8000-000000000001',
    LogicalResourceId: 'MacieClassificationJob',
    ResourceType: 'Custom::MacieClassificationJob',
    // As CloudFormation delivers them: every scalar a string.
    ResourceProperties: {
      ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:x',
      ServiceTimeout: '300',
      JobName: 'crypto-data-lake-dev-raw-personal-data',
      AccountId: '123456789012',
      BucketNames: [
        'crypto-data-lake-dev-raw-123456789012-us-east-1',
        'crypto-data-lake-dev-dlq-123456789012-us-east-1',
      ],
      Schedule: 'weekly',
      SamplingPercentage: '25',
      ManagedDataIdentifierIds: ['BRAZIL_CPF_NUMBER', 'EMAIL_ADDRESS'],
      CustomDataIdentifierIds: ['cdi-1'],
      Tags: { project: 'crypto-data-lake', stage: 'dev' },
    },
  }
  const jobId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'

  it('answers Create with a new scheduled job whose client token is the request id', async () => {
    const calls: Array<[string, Record<string, unknown>]> = []
    const { answers, error } = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Create' },
      {
        async send(command, input) {
          calls.push([command, input])
          return { jobId, jobArn: `arn:aws:macie2:us-east-1:123456789012:classification-job/${jobId}` }
        },
      },
    )
    expect(error).toBeUndefined()
    expect(calls).toEqual([
      [
        'CreateClassificationJob',
        {
          clientToken: '3f2a9c1e-0000-4000-8000-000000000001',
          name: 'crypto-data-lake-dev-raw-personal-data-3f2a9c1e',
          description:
            'Personal data in s3://crypto-data-lake-dev-raw-123456789012-us-east-1, s3://crypto-data-lake-dev-dlq-123456789012-us-east-1 (stack arn:aws:cloudformation:us-east-1:123456789012:stack/crypto-data-lake-dev/guid)',
          jobType: 'SCHEDULED',
          scheduleFrequency: { weeklySchedule: { dayOfWeek: 'MONDAY' } },
          initialRun: true,
          samplingPercentage: 25,
          managedDataIdentifierSelector: 'INCLUDE',
          managedDataIdentifierIds: ['BRAZIL_CPF_NUMBER', 'EMAIL_ADDRESS'],
          customDataIdentifierIds: ['cdi-1'],
          s3JobDefinition: {
            bucketDefinitions: [
              {
                accountId: '123456789012',
                buckets: [
                  'crypto-data-lake-dev-raw-123456789012-us-east-1',
                  'crypto-data-lake-dev-dlq-123456789012-us-east-1',
                ],
              },
            ],
          },
          tags: { project: 'crypto-data-lake', stage: 'dev' },
        },
      ],
    ])
    expect(answers).toEqual([
      {
        method: 'PUT',
        contentType: '',
        body: {
          Status: 'SUCCESS',
          Reason: 'see CloudWatch log stream 2026/11/30/[$LATEST]abc',
          PhysicalResourceId: jobId,
          StackId: baseEvent.StackId,
          RequestId: baseEvent.RequestId,
          LogicalResourceId: 'MacieClassificationJob',
          Data: { JobId: jobId, JobArn: `arn:aws:macie2:us-east-1:123456789012:classification-job/${jobId}` },
        },
      },
    ])
  })

  it('answers Update with a new job (CloudFormation then deletes the old one)', async () => {
    const { answers } = await invokeMacieCustomResource(
      zipFile(),
      {
        ...baseEvent,
        RequestType: 'Update',
        PhysicalResourceId: 'old-job',
        ResourceProperties: { ...baseEvent.ResourceProperties, Schedule: 'daily' },
      },
      {
        async send(command, input) {
          expect(command).toBe('CreateClassificationJob')
          expect(input.scheduleFrequency).toEqual({ dailySchedule: {} })
          return { jobId: 'new-job', jobArn: 'arn:new' }
        },
      },
    )
    expect(answers.map((a) => [a.body.Status, a.body.PhysicalResourceId])).toEqual([['SUCCESS', 'new-job']])
  })

  it('answers Delete by cancelling the job, also when it is already gone', async () => {
    const calls: Array<[string, Record<string, unknown>]> = []
    const cancelled = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: jobId },
      {
        async send(command, input) {
          calls.push([command, input])
          return {}
        },
      },
    )
    expect(calls).toEqual([['UpdateClassificationJob', { jobId, jobStatus: 'CANCELLED' }]])
    expect(cancelled.answers.map((a) => [a.body.Status, a.body.PhysicalResourceId])).toEqual([
      ['SUCCESS', jobId],
    ])

    const gone = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: jobId },
      {
        async send() {
          throw Object.assign(new Error('job not found'), { name: 'ResourceNotFoundException' })
        },
      },
    )
    expect(gone.answers.map((a) => a.body.Status)).toEqual(['SUCCESS'])
  })

  it('answers Delete of a job that was never created without calling Macie', async () => {
    const { answers } = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: `failed-${baseEvent.RequestId}` },
      {
        async send() {
          throw new Error('must not be called')
        },
      },
    )
    expect(answers.map((a) => [a.body.Status, a.body.PhysicalResourceId])).toEqual([
      ['SUCCESS', `failed-${baseEvent.RequestId}`],
    ])
  })

  it('answers FAILED with the reason for a bad schedule, a refused call or a failed cancel', async () => {
    const badSchedule = await invokeMacieCustomResource(
      zipFile(),
      {
        ...baseEvent,
        RequestType: 'Create',
        ResourceProperties: { ...baseEvent.ResourceProperties, Schedule: 'hourly' },
      },
      {
        async send() {
          throw new Error('must not be called')
        },
      },
    )
    expect(badSchedule.answers.map((a) => [a.body.Status, a.body.Reason, a.body.PhysicalResourceId])).toEqual(
      [['FAILED', 'Schedule must be daily or weekly, not hourly', `failed-${baseEvent.RequestId}`]],
    )

    const refused = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Create' },
      {
        async send() {
          throw Object.assign(new Error('Macie is not enabled'), { name: 'AccessDeniedException' })
        },
      },
    )
    expect(refused.answers.map((a) => [a.body.Status, a.body.Reason])).toEqual([
      ['FAILED', 'Macie is not enabled'],
    ])

    const cancelFails = await invokeMacieCustomResource(
      zipFile(),
      { ...baseEvent, RequestType: 'Delete', PhysicalResourceId: jobId },
      {
        async send() {
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
        },
      },
    )
    expect(cancelFails.answers.map((a) => [a.body.Status, a.body.Reason, a.body.PhysicalResourceId])).toEqual(
      [['FAILED', 'Rate exceeded', jobId]],
    )
  })
})
