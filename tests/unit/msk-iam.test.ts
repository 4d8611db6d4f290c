import { generateAuthTokenFromCredentialsProvider } from 'aws-msk-iam-sasl-signer-js'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type AwsCredentials,
  lambdaEnvironmentCredentials,
  mskIamToken,
} from '../../functions/shared/adapters/msk-iam.ts'

const SESSION: AwsCredentials = {
  accessKeyId: 'ASIAEXAMPLEKEY123456',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE//+token=with/odd*chars',
}

describe('mskIamToken', () => {
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllEnvs()
  })

  it.each([
    ['session credentials', SESSION],
    ['long-term keys', { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' }],
    ['credentials expiring in 5 minutes', { ...SESSION, expiration: new Date('2026-12-07T10:05:00Z') }],
  ])('is byte for byte the token of aws-msk-iam-sasl-signer-js (%s)', async (_, credentials) => {
    vi.useFakeTimers({ now: new Date('2026-12-07T10:00:00Z'), toFake: ['Date'] })
    for (const region of ['us-east-1', 'sa-east-1']) {
      const ours = await mskIamToken(region, async () => credentials)
      const library = await generateAuthTokenFromCredentialsProvider({
        region,
        awsCredentialsProvider: async () => credentials,
      })
      expect(ours).toBe(library.token)
      const url = new URL(Buffer.from(ours, 'base64url').toString('utf8'))
      expect(url.hostname).toBe(`kafka.${region}.amazonaws.com`)
      expect(url.searchParams.get('Action')).toBe('kafka-cluster:Connect')
    }
  })

  it('signs with the execution role credentials Lambda puts in the environment', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', SESSION.accessKeyId)
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', SESSION.secretAccessKey)
    vi.stubEnv('AWS_SESSION_TOKEN', SESSION.sessionToken)
    await expect(lambdaEnvironmentCredentials()).resolves.toEqual(SESSION)
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '')
    await expect(lambdaEnvironmentCredentials()).rejects.toThrow(/AWS_SECRET_ACCESS_KEY/)
  })
})
