/**
 * The saved objects under resources/dashboards/ against the index templates: every field a
 * visualization aggregates on exists in its index's mapping with an aggregatable type, every
 * reference resolves inside the file, and no personal field is ever shown in clear. And the
 * request scripts/import-dashboards.ts sends: a multipart body signed as the exact bytes sent.
 */
import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { indexTemplates } from '../../functions/shared/search-templates.ts'
import { buildImportRequest, importFile } from '../../scripts/import-dashboards.ts'
import { signOpenSearchRequest } from '../../scripts/opensearch-sigv4.ts'

interface SavedObject {
  id: string
  type: string
  references: Array<{ name: string; type: string; id: string }>
  attributes: Record<string, unknown>
}

const file = join(import.meta.dirname, '..', '..', 'resources', 'dashboards', 'crypto-lake.ndjson')
const objects = readFileSync(file, 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line) as SavedObject)
const templates = indexTemplates(0)
const mappingOf = (indexPattern: string) =>
  (templates as Record<string, { template: { mappings: { properties: Record<string, { type: string }> } } }>)[
    indexPattern
  ]?.template.mappings.properties

describe('dashboard saved objects', () => {
  it('holds the index patterns, the five panels and the dashboard', () => {
    expect(objects.map((o) => `${o.type}:${o.id}`)).toEqual([
      'index-pattern:crypto-bars',
      'index-pattern:crypto-trades',
      'index-pattern:crypto-assets',
      'visualization:crypto-live-price',
      'visualization:crypto-trade-volume-by-side',
      'visualization:crypto-notional-by-symbol',
      'visualization:crypto-top-users',
      'search:crypto-asset-icons',
      'dashboard:crypto-lake-live',
    ])
  })

  it('references only objects of the file', () => {
    const ids = new Set(objects.map((o) => `${o.type}:${o.id}`))
    for (const object of objects) {
      for (const reference of object.references) expect(ids).toContain(`${reference.type}:${reference.id}`)
    }
  })

  it('aggregates only on mapped, aggregatable fields, never on personal data', () => {
    const aggregatable = new Set(['keyword', 'date', 'double', 'long', 'integer'])
    const fields: string[] = []
    for (const object of objects.filter((o) => o.type === 'visualization')) {
      const indexPattern = object.references[0]?.id as string
      const properties = mappingOf(indexPattern)
      const visState = JSON.parse(object.attributes.visState as string) as {
        aggs: Array<{ params: { field?: string } }>
      }
      for (const agg of visState.aggs) {
        const field = agg.params.field
        if (field === undefined) continue
        fields.push(`${indexPattern}.${field}`)
        expect(aggregatable).toContain(properties?.[field]?.type)
      }
    }
    expect(fields).toEqual([
      'crypto-bars.close',
      'crypto-bars.start',
      'crypto-bars.symbol',
      'crypto-trades.notional',
      'crypto-trades.executed_at',
      'crypto-trades.side',
      'crypto-trades.notional',
      'crypto-trades.symbol',
      'crypto-trades.notional',
      'crypto-trades.user_name_token',
      'crypto-trades.user_id',
    ])
    const text = readFileSync(file, 'utf8')
    for (const personal of ['"user_name"', '"user_email"', '"document_id"'])
      expect(text).not.toContain(personal)
  })

  it('uses the time field of the event indices; crypto-assets is not time-based; icons show as images', () => {
    const patterns = Object.fromEntries(
      objects.filter((o) => o.type === 'index-pattern').map((o) => [o.id, o.attributes]),
    )
    expect(patterns['crypto-bars']?.timeFieldName).toBe('start')
    expect(patterns['crypto-trades']?.timeFieldName).toBe('executed_at')
    // One document per asset, fetched once a day: a time filter of "last hour" would empty the
    // icons panel for 23 hours of the day.
    expect(patterns['crypto-assets']).not.toHaveProperty('timeFieldName')
    expect(JSON.parse(patterns['crypto-assets']?.fieldFormatMap as string).icon_url.params.type).toBe('img')
  })
})

describe('scripts/import-dashboards.ts', () => {
  const content = Buffer.from('{"id":"crypto-bars","type":"index-pattern"}\n')
  const boundary = 'test-boundary-42'
  const endpoint = 'https://vpc-crypto-lake-dev-abc123.us-east-1.es.amazonaws.com/_dashboards'
  const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex')
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest()

  it('posts the ndjson file as one multipart field, byte for byte', () => {
    const request = buildImportRequest(`${endpoint}/`, { name: 'crypto-lake.ndjson', content }, boundary)
    expect(request.url.href).toBe(`${endpoint}/api/saved_objects/_import?overwrite=true`)
    expect(request.headers).toEqual({
      host: 'vpc-crypto-lake-dev-abc123.us-east-1.es.amazonaws.com',
      'content-type': 'multipart/form-data; boundary=test-boundary-42',
      'osd-xsrf': 'true',
    })
    expect(Buffer.from(request.body).toString('utf8')).toBe(
      '--test-boundary-42\r\n' +
        'Content-Disposition: form-data; name="file"; filename="crypto-lake.ndjson"\r\n' +
        'Content-Type: application/ndjson\r\n\r\n' +
        '{"id":"crypto-bars","type":"index-pattern"}\n' +
        '\r\n--test-boundary-42--\r\n',
    )
  })

  it('signs the hash of the exact body bytes it sends (SigV4, service es)', async () => {
    const request = buildImportRequest(endpoint, { name: 'crypto-lake.ndjson', content }, boundary)
    const headers = await signOpenSearchRequest(request, {
      region: 'us-east-1',
      credentials: {
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      },
      signingDate: new Date('2026-12-02T01:00:00Z'),
    })
    const bodyHash = sha256(request.body)
    expect(headers['x-amz-content-sha256']).toBe(bodyHash)
    expect(headers['x-amz-date']).toBe('20261202T010000Z')

    // The signature, recomputed by hand from the AWS SigV4 steps over the same bytes.
    const canonicalRequest = [
      'POST',
      '/_dashboards/api/saved_objects/_import',
      'overwrite=true',
      'content-type:multipart/form-data; boundary=test-boundary-42',
      'host:vpc-crypto-lake-dev-abc123.us-east-1.es.amazonaws.com',
      'osd-xsrf:true',
      `x-amz-content-sha256:${bodyHash}`,
      'x-amz-date:20261202T010000Z',
      '',
      'content-type;host;osd-xsrf;x-amz-content-sha256;x-amz-date',
      bodyHash,
    ].join('\n')
    const scope = '20261202/us-east-1/es/aws4_request'
    const stringToSign = ['AWS4-HMAC-SHA256', '20261202T010000Z', scope, sha256(canonicalRequest)].join('\n')
    let key = hmac('AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20261202')
    for (const part of ['us-east-1', 'es', 'aws4_request']) key = hmac(key, part)
    const signature = createHmac('sha256', key).update(stringToSign).digest('hex')
    expect(headers.authorization).toBe(
      `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/${scope}, ` +
        `SignedHeaders=content-type;host;osd-xsrf;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
    )
  })

  it('sends the very bytes it signed', async () => {
    const received: Array<{ url?: string; headers: IncomingHttpHeaders; body: Buffer }> = []
    const server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        received.push({ url: request.url, headers: request.headers, body: Buffer.concat(chunks) })
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end('{"success":true,"successCount":9}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const summary = await importFile(`http://127.0.0.1:${port}/_dashboards`, file, {
        kind: 'sigv4',
        region: 'us-east-1',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      })
      expect(summary).toBe('9 objects')
      expect(received).toHaveLength(1)
      const [sent] = received
      expect(sent?.url).toBe('/_dashboards/api/saved_objects/_import?overwrite=true')
      expect(sent?.headers['x-amz-content-sha256']).toBe(sha256(sent?.body ?? ''))
      expect(sent?.headers['osd-xsrf']).toBe('true')
      expect(sent?.body.includes(readFileSync(file))).toBe(true)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
