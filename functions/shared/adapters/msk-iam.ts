/**
 * The MSK IAM SASL/OAUTHBEARER token: a SigV4-presigned `kafka-cluster:Connect` URL, base64url
 * encoded — the token aws-msk-iam-sasl-signer-js makes, byte for byte
 * (tests/unit/msk-iam.test.ts compares the two).
 *
 * Made here (SigV4 presigning with node:crypto) rather than with that library because the
 * library pulls in @aws-sdk/credential-providers (STS, SSO, Cognito clients, the whole provider
 * chain) and @smithy/core: ~330 KiB of every Kafka-producing function's bundle and its cold
 * start, to read credentials that the
 * Lambda runtime already puts in the environment of every function (the execution role's
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN — the first place the SDK's own
 * default chain looks in Lambda).
 */
import { createHash, createHmac } from 'node:crypto'

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  expiration?: Date
}

/** The presigned URL is valid this long (MSK's maximum), or until the credentials expire. */
const EXPIRY_SECONDS = 900
/** The signer library's own user agent: MSK logs it, and tokens stay identical to the library's. */
const USER_AGENT = 'aws-msk-iam-sasl-signer-js/1.0.3'
const SERVICE = 'kafka-cluster'
/** SHA-256 of the empty body of the GET being presigned. */
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex')

/** The execution role's credentials, as the Lambda runtime sets them for the function. */
export async function lambdaEnvironmentCredentials(): Promise<AwsCredentials> {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = process.env
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY)
    throw new Error('KAFKA_AUTH=iam: no AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment')
  return {
    accessKeyId: AWS_ACCESS_KEY_ID,
    secretAccessKey: AWS_SECRET_ACCESS_KEY,
    ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}),
  }
}

/** RFC 3986 escaping, as SigV4 and the AWS SDK's query strings want it. */
const escapeUri = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** `key=value&...`, keys sorted, both escaped: SigV4's canonical query and the URL's query alike. */
const queryString = (query: Record<string, string>) =>
  Object.keys(query)
    .sort()
    .map((key) => `${escapeUri(key)}=${escapeUri(query[key] as string)}`)
    .join('&')

const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest()

/** The token for MSK in `region`, signed with `credentials`. */
export async function mskIamToken(
  region: string,
  credentials: () => Promise<AwsCredentials> = lambdaEnvironmentCredentials,
): Promise<string> {
  const identity = await credentials()
  const hostname = `kafka.${region}.amazonaws.com`
  const ttl =
    identity.expiration === undefined
      ? EXPIRY_SECONDS
      : Math.min((identity.expiration.getTime() - Date.now()) / 1000, EXPIRY_SECONDS)
  // SigV4 query-string signing (presigning) of GET https://{hostname}/?Action=kafka-cluster:Connect.
  const longDate = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')
  const shortDate = longDate.slice(0, 8)
  const scope = `${shortDate}/${region}/${SERVICE}/aws4_request`
  const query: Record<string, string> = {
    Action: 'kafka-cluster:Connect',
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${identity.accessKeyId}/${scope}`,
    'X-Amz-Date': longDate,
    'X-Amz-Expires': String(ttl),
    ...(identity.sessionToken ? { 'X-Amz-Security-Token': identity.sessionToken } : {}),
    'X-Amz-SignedHeaders': 'host',
  }
  const canonicalRequest = ['GET', '/', queryString(query), `host:${hostname}\n`, 'host', EMPTY_SHA256].join(
    '\n',
  )
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    longDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n')
  let key = hmac(`AWS4${identity.secretAccessKey}`, shortDate)
  for (const part of [region, SERVICE, 'aws4_request']) key = hmac(key, part)
  query['X-Amz-Signature'] = createHmac('sha256', key).update(stringToSign).digest('hex')
  // The user agent is added after signing, as the library does: it is not part of the signature.
  query['User-Agent'] = USER_AGENT
  return Buffer.from(`https://${hostname}/?${queryString(query)}`, 'utf8').toString('base64url')
}
