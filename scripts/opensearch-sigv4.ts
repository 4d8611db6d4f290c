/**
 * SigV4 for Amazon OpenSearch Service (service `es`), over the exact body bytes that are sent:
 * one signer for the Dashboards proxy and the saved-objects import.
 */
import { Sha256 } from '@aws-crypto/sha256-js'
import { SignatureV4 } from '@smithy/signature-v4'

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface SigningOptions {
  region: string
  credentials: AwsCredentials | (() => Promise<AwsCredentials>)
  /** Fixed in tests, so a signature can be written out by hand. */
  signingDate?: Date
}

/**
 * The headers to send with `request`: its own, plus the signature's. A query key given more than
 * once is signed with all its values, as it is sent.
 */
export async function signOpenSearchRequest(
  request: { method: string; url: URL; headers: Record<string, string>; body: Uint8Array },
  options: SigningOptions,
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: 'es',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
  })
  const { url } = request
  const query: Record<string, string | string[]> = {}
  for (const key of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(key)
    query[key] = values.length === 1 ? (values[0] as string) : values
  }
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query,
      headers: { ...request.headers },
      body: request.body,
    },
    { signingDate: options.signingDate },
  )
  return signed.headers as Record<string, string>
}
