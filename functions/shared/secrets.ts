/**
 * Secrets come from Secrets Manager on AWS (fetched once per container) and from the
 * environment locally; a function asks for one and does not care which.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'

let client: SecretsManagerClient | undefined
const cache = new Map<string, Promise<string>>()

export function readSecret(source: { value?: string | undefined; arn?: string | undefined }, name: string) {
  if (source.value) return Promise.resolve(source.value)
  if (!source.arn) return Promise.reject(new Error(`${name}: neither a value nor a secret ARN is configured`))
  const arn = source.arn
  let pending = cache.get(arn)
  if (!pending) {
    client ??= new SecretsManagerClient({})
    pending = client.send(new GetSecretValueCommand({ SecretId: arn })).then((out) => {
      if (!out.SecretString) throw new Error(`${name}: secret ${arn} has no string value`)
      return out.SecretString
    })
    // A failed fetch must not poison the container: the next invocation tries again.
    pending.catch(() => cache.delete(arn))
    cache.set(arn, pending)
  }
  return pending
}
