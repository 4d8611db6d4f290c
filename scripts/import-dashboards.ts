/**
 * Imports the saved objects under resources/dashboards/ (index patterns, visualizations, the
 * "Crypto lake — live" dashboard) into OpenSearch Dashboards 2.x. Idempotent: objects keep their
 * ids and are overwritten.
 *
 *   DASHBOARDS_URL=http://127.0.0.1:5601 tsx scripts/import-dashboards.ts
 *   DASHBOARDS_URL=https://<domain-endpoint>/_dashboards AWS_REGION=us-east-1 tsx scripts/import-dashboards.ts --sigv4
 *
 * --sigv4 signs each request for Amazon OpenSearch Service (service `es`) with the caller's AWS
 * credentials (the SDK's default chain). The multipart body is built here, as bytes, and those
 * exact bytes are hashed, signed and sent: curl's `--aws-sigv4` signs a multipart form before
 * curl has generated it, and the domain rejects the request. The domain is in the VPC: from
 * outside, go through the Session Manager tunnel and scripts/dashboards-proxy.ts, which signs
 * for you (README, "Security"):
 *
 *   DASHBOARDS_URL=http://127.0.0.1:5601/_dashboards tsx scripts/import-dashboards.ts
 *
 * DASHBOARDS_USER / DASHBOARDS_PASSWORD use basic auth instead (fine-grained access control).
 */
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { fromNodeProviderChain } from '@aws-sdk/credential-providers'
import { type AwsCredentials, signOpenSearchRequest } from './opensearch-sigv4.ts'

export interface ImportRequest {
  url: URL
  method: 'POST'
  headers: Record<string, string>
  body: Uint8Array
}

/**
 * POST {DASHBOARDS_URL}/api/saved_objects/_import?overwrite=true with one ndjson file as the
 * multipart field `file`, the body fully materialized so it can be signed as sent.
 */
export function buildImportRequest(
  dashboardsUrl: string,
  file: { name: string; content: Uint8Array },
  boundary = `----crypto-lake-${randomBytes(12).toString('hex')}`,
): ImportRequest {
  const url = new URL(`${dashboardsUrl.replace(/\/+$/, '')}/api/saved_objects/_import`)
  url.searchParams.set('overwrite', 'true')
  const head = Buffer.from(
    `--${boundary}\r\n` +
      `Content-Disposition: form-data; name="file"; filename="${file.name}"\r\n` +
      'Content-Type: application/ndjson\r\n\r\n',
  )
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const body = new Uint8Array(Buffer.concat([head, file.content, tail]))
  return {
    url,
    method: 'POST',
    headers: {
      host: url.host,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      // OpenSearch Dashboards refuses state-changing API calls without it (XSRF protection).
      'osd-xsrf': 'true',
    },
    body,
  }
}

export type Auth =
  | { kind: 'none' }
  | { kind: 'basic'; user: string; password: string }
  | { kind: 'sigv4'; region: string; credentials?: AwsCredentials }

/** Imports one ndjson file; resolves to a summary, rejects with the server's answer. */
export async function importFile(dashboardsUrl: string, path: string, auth: Auth): Promise<string> {
  const request = buildImportRequest(dashboardsUrl, { name: basename(path), content: readFileSync(path) })
  let headers = request.headers
  if (auth.kind === 'sigv4')
    headers = await signOpenSearchRequest(request, {
      region: auth.region,
      credentials: auth.credentials ?? fromNodeProviderChain(),
    })
  if (auth.kind === 'basic')
    headers = {
      ...headers,
      authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`,
    }
  const response = await fetch(request.url, { method: request.method, headers, body: request.body })
  const text = await response.text()
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${text}`)
  const result = JSON.parse(text) as { success?: boolean; successCount?: number; errors?: unknown[] }
  if (result.success !== true) throw new Error(`import reported errors: ${text}`)
  return `${result.successCount ?? 0} objects`
}

async function main(argv: string[]): Promise<number> {
  const root = join(import.meta.dirname, '..')
  const url = process.env.DASHBOARDS_URL ?? 'http://127.0.0.1:5601'
  let auth: Auth = { kind: 'none' }
  if (argv.includes('--sigv4')) {
    const region = process.env.AWS_REGION
    if (!region) throw new Error('--sigv4 needs AWS_REGION')
    auth = { kind: 'sigv4', region }
  } else if (process.env.DASHBOARDS_USER) {
    const password = process.env.DASHBOARDS_PASSWORD
    if (!password) throw new Error('DASHBOARDS_USER needs DASHBOARDS_PASSWORD')
    auth = { kind: 'basic', user: process.env.DASHBOARDS_USER, password }
  }
  const dir = join(root, 'resources', 'dashboards')
  let status = 0
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.ndjson'))) {
    try {
      console.log(`imported resources/dashboards/${name}: ${await importFile(url, join(dir, name), auth)}`)
    } catch (error) {
      console.error(`import of resources/dashboards/${name} failed: ${(error as Error).message}`)
      status = 1
    }
  }
  return status
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (error: Error) => {
      console.error(error.message)
      process.exitCode = 1
    },
  )
}
