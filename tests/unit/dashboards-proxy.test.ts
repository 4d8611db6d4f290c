/**
 * scripts/dashboards-proxy.ts, the local end of the way in to OpenSearch Dashboards on AWS: what
 * it sends the domain (addressed to the domain's name, signed over the exact bytes), and the
 * dashboards import of scripts/import-dashboards.ts made through it over real HTTP. The domain
 * side is a stand-in that records what arrives: the tunnel itself is Session Manager's.
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Sha256 } from '@aws-crypto/sha256-js'
import { SignatureV4 } from '@smithy/signature-v4'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createDashboardsProxy,
  type ProxiedRequest,
  signForDomain,
  type UpstreamResponse,
} from '../../scripts/dashboards-proxy.ts'
import { importFile } from '../../scripts/import-dashboards.ts'

const endpoint = 'vpc-crypto-data-lake-prod-abc123.us-east-1.es.amazonaws.com'
const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
}
const signingDate = new Date('2026-11-30T10:00:00Z')
const ndjson = join(import.meta.dirname, '..', '..', 'resources', 'dashboards', 'crypto-lake.ndjson')

describe('signForDomain', () => {
  const browserRequest: ProxiedRequest = {
    method: 'POST',
    url: '/_dashboards/api/saved_objects/_find?type=dashboard&per_page=100',
    headers: {
      host: '127.0.0.1:5601',
      connection: 'keep-alive',
      'content-type': 'application/json',
      'osd-xsrf': 'true',
    },
    body: new TextEncoder().encode('{"search":"crypto"}'),
  }

  it("addresses the domain by its own name and drops the browser's hop headers", async () => {
    const signed = await signForDomain(browserRequest, {
      endpoint,
      region: 'us-east-1',
      credentials,
      signingDate,
    })
    expect(signed.headers.host).toBe(endpoint)
    expect(signed.headers.connection).toBeUndefined()
    expect(signed.headers['osd-xsrf']).toBe('true')
    expect(signed.headers['content-length']).toBe('19')
    expect(signed.url).toBe(browserRequest.url)
    expect(signed.body).toBe(browserRequest.body)
  })

  it('signs for Amazon OpenSearch Service exactly as an independent SigV4 signer does', async () => {
    const signed = await signForDomain(browserRequest, {
      endpoint,
      region: 'us-east-1',
      credentials,
      signingDate,
    })
    const reference = await new SignatureV4({
      service: 'es',
      region: 'us-east-1',
      credentials,
      sha256: Sha256,
    }).sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname: endpoint,
        path: '/_dashboards/api/saved_objects/_find',
        query: { type: 'dashboard', per_page: '100' },
        headers: {
          host: endpoint,
          'content-type': 'application/json',
          'osd-xsrf': 'true',
          'content-length': '19',
        },
        body: browserRequest.body,
      },
      { signingDate },
    )
    expect(signed.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261130\/us-east-1\/es\/aws4_request, SignedHeaders=.*host/,
    )
    expect(signed.headers.authorization).toBe(reference.headers.authorization)
  })
})

describe('the dashboards import through the proxy', () => {
  let close: (() => Promise<void>) | undefined
  afterEach(async () => {
    await close?.()
  })

  it('reaches the domain signed, with the multipart body byte for byte, and reports its answer', async () => {
    const received: ProxiedRequest[] = []
    const proxy = createDashboardsProxy({
      sign: (request) => signForDomain(request, { endpoint, region: 'us-east-1', credentials, signingDate }),
      async send(request): Promise<UpstreamResponse> {
        received.push(request)
        return {
          status: 200,
          headers: { 'content-type': 'application/json; charset=utf-8', connection: 'close' },
          body: new TextEncoder().encode(JSON.stringify({ success: true, successCount: 9 })),
        }
      },
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    close = () => new Promise((resolve) => proxy.close(() => resolve()))
    const { port } = proxy.address() as AddressInfo

    const summary = await importFile(`http://127.0.0.1:${port}/_dashboards`, ndjson, { kind: 'none' })

    expect(summary).toBe('9 objects')
    expect(received).toHaveLength(1)
    const [request] = received as [ProxiedRequest]
    expect(request.method).toBe('POST')
    expect(request.url).toBe('/_dashboards/api/saved_objects/_import?overwrite=true')
    expect(request.headers.host).toBe(endpoint)
    expect(request.headers['osd-xsrf']).toBe('true')
    expect(request.headers.authorization).toContain('/us-east-1/es/aws4_request')
    const body = Buffer.from(request.body).toString('utf8')
    expect(body).toContain(readFileSync(ndjson, 'utf8'))
    expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/)
  })

  it('answers 502 with the reason when the tunnel is down, instead of hanging the browser', async () => {
    const proxy = createDashboardsProxy({
      sign: (request) => signForDomain(request, { endpoint, region: 'us-east-1', credentials, signingDate }),
      send: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8443')),
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    close = () => new Promise((resolve) => proxy.close(() => resolve()))
    const { port } = proxy.address() as AddressInfo

    const response = await fetch(`http://127.0.0.1:${port}/_dashboards/app/home`)

    expect(response.status).toBe(502)
    expect(await response.text()).toContain('ECONNREFUSED 127.0.0.1:8443')
  })
})
