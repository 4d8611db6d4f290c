/**
 * Secrets come from Secrets Manager on AWS (fetched once per container) and from the
 * environment locally; a function asks for one and does not care which.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import * as z from 'zod'

let client: SecretsManagerClient | undefined
const cache = new Map<string, Promise<string>>()

/**
 * The Secrets Manager client module is imported on the first secret actually fetched, not at
 * module load: locally (and whenever the value comes from the environment) it is never needed,
 * and it is a large part of a cold start.
 */
async function fetchSecret(arn: string): Promise<string | undefined> {
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager')
  client ??= new SecretsManagerClient({})
  return (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString
}

export function readSecret(source: { value?: string | undefined; arn?: string | undefined }, name: string) {
  if (source.value) return Promise.resolve(source.value)
  if (!source.arn) return Promise.reject(new Error(`${name}: neither a value nor a secret ARN is configured`))
  const arn = source.arn
  let pending = cache.get(arn)
  if (!pending) {
    pending = fetchSecret(arn).then((value) => {
      if (!value) throw new Error(`${name}: secret ${arn} has no string value`)
      return value
    })
    // A failed fetch must not poison the container: the next invocation tries again.
    pending.catch(() => cache.delete(arn))
    cache.set(arn, pending)
  }
  return pending
}

export interface AlpacaKeys {
  keyId: string
  secretKey: string
}

const AlpacaSecret = z.object({ keyId: z.string(), secretKey: z.string() })

/**
 * The Alpaca key pair of the secret `{"keyId","secretKey"}`, or undefined when `arn` is unset
 * or the secret still holds the empty values it is created with: Alpaca's crypto data answers
 * without keys, at a lower rate limit. A secret of another shape fails: it is a typo to fix.
 */
export async function readAlpacaKeys(arn: string | undefined): Promise<AlpacaKeys | undefined> {
  if (arn === undefined) return undefined
  const keys = AlpacaSecret.parse(JSON.parse(await readSecret({ arn }, 'Alpaca API keys')))
  return keys.keyId && keys.secretKey ? keys : undefined
}
