import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { mockClient } from 'aws-sdk-client-mock'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readAlpacaKeys } from '../../functions/shared/adapters/secrets.ts'

const secrets = mockClient(SecretsManagerClient)
const SECRET_STRINGS: Record<string, string> = {
  'arn:alpaca-filled': '{"keyId":"AK1","secretKey":"SK1"}',
  'arn:alpaca-as-created': '{"keyId":"","secretKey":""}',
  'arn:alpaca-half': '{"keyId":"AK2","secretKey":""}',
  'arn:alpaca-misspelt': '{"key_id":"AK3","secret_key":"SK3"}',
}

beforeAll(() => {
  for (const [arn, text] of Object.entries(SECRET_STRINGS))
    secrets.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: text })
})
afterAll(() => {
  secrets.restore()
})

describe('readAlpacaKeys', () => {
  it('returns the key pair of a filled-in secret', async () => {
    expect(await readAlpacaKeys('arn:alpaca-filled')).toEqual({ keyId: 'AK1', secretKey: 'SK1' })
  })

  it('returns no keys without an ARN, or while the secret holds the empty values it is created with', async () => {
    expect(await readAlpacaKeys(undefined)).toBeUndefined()
    expect(await readAlpacaKeys('arn:alpaca-as-created')).toBeUndefined()
    expect(await readAlpacaKeys('arn:alpaca-half')).toBeUndefined()
  })

  it('fails on a secret of another shape instead of polling without the keys meant for it', async () => {
    await expect(readAlpacaKeys('arn:alpaca-misspelt')).rejects.toThrow(/keyId/)
  })
})
