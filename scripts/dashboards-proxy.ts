/**
 * OpenSearch Dashboards of the VPC-only domain, in a local browser. The domain answers only
 * requests signed with SigV4 by a role its access policy names (DashboardsUserRole,
 * resources/dashboards-access.yml), and only inside the VPC: a Session Manager port forward
 * brings its HTTPS port to 127.0.0.1:<tunnel port>, and this proxy signs each request of the
 * browser (or of scripts/import-dashboards.ts) with the caller's credentials and sends it
 * through that forward, with TLS checked against the domain's own name.
 *
 *   aws ssm start-session --target <DashboardsTunnelInstanceId> \
 *     --document-name AWS-StartPortForwardingSessionToRemoteHost \
 *     --parameters host=<OpenSearch endpoint>,portNumber=443,localPortNumber=8443
 *   OPENSEARCH_ENDPOINT=<OpenSearch endpoint> AWS_REGION=us-east-1 AWS_PROFILE=<DashboardsUserRole profile> \
 *     tsx scripts/dashboards-proxy.ts            # then open http://127.0.0.1:5601/_dashboards
 *
 * Options (environment): TUNNEL_PORT (8443), PORT (5601). Listens on 127.0.0.1 only: whoever can
 * reach the port acts with the caller's credentials.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { fromNodeProviderChain } from '@aws-sdk/credential-providers'
import { type SigningOptions, signOpenSearchRequest } from './opensearch-sigv4.ts'

export interface ProxiedRequest {
  method: string
  /** Path and query, as the browser sent them. */
  url: string
  headers: Record<string, string>
  body: Uint8Array
}

export interface UpstreamResponse {
  status: number
  headers: Record<string, string | string[]>
  body: Uint8Array
}

/** Headers of the browser's hop to this proxy, not of the request to the domain. */
const HOP_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'content-length',
])

/**
 * The request as the domain must receive it: addressed to the domain's name, hop headers gone,
 * signed for Amazon OpenSearch Service (service `es`) over the exact body bytes.
 */
export async function signForDomain(
  incoming: ProxiedRequest,
  options: SigningOptions & { endpoint: string },
): Promise<ProxiedRequest> {
  const url = new URL(incoming.url, `https://${options.endpoint}`)
  const headers: Record<string, string> = { host: options.endpoint }
  for (const [name, value] of Object.entries(incoming.headers))
    if (!HOP_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value
  if (incoming.body.length > 0) headers['content-length'] = String(incoming.body.length)
  // Addressed to the domain whatever form the browser's request line took.
  const target = new URL(`${url.pathname}${url.search}`, `https://${options.endpoint}`)
  const signedHeaders = await signOpenSearchRequest(
    { method: incoming.method, url: target, headers, body: incoming.body },
    options,
  )
  return {
    method: incoming.method,
    url: `${url.pathname}${url.search}`,
    headers: signedHeaders,
    body: incoming.body,
  }
}

/** Sends a signed request through the port forward, verifying TLS for the domain's name. */
export function sendThroughTunnel(tunnelPort: number, endpoint: string) {
  return (signed: ProxiedRequest): Promise<UpstreamResponse> =>
    new Promise((resolve, reject) => {
      const upstream = httpsRequest(
        {
          host: '127.0.0.1',
          port: tunnelPort,
          servername: endpoint,
          method: signed.method,
          path: signed.url,
          headers: signed.headers,
        },
        (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 502,
              headers: response.headers as Record<string, string | string[]>,
              body: Buffer.concat(chunks),
            }),
          )
          response.on('error', reject)
        },
      )
      upstream.on('error', reject)
      upstream.end(signed.body)
    })
}

async function readBody(message: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  for await (const chunk of message) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** The proxy: each request read whole, signed, sent; the answer relayed as received. */
export function createDashboardsProxy(deps: {
  sign: (request: ProxiedRequest) => Promise<ProxiedRequest>
  send: (request: ProxiedRequest) => Promise<UpstreamResponse>
}): Server {
  return createServer((message, reply) => {
    void (async () => {
      try {
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(message.headers))
          if (typeof value === 'string') headers[name] = value
          else if (Array.isArray(value)) headers[name] = value.join(', ')
        const signed = await deps.sign({
          method: message.method ?? 'GET',
          url: message.url ?? '/',
          headers,
          body: await readBody(message),
        })
        const answer = await deps.send(signed)
        const relayed = Object.fromEntries(
          Object.entries(answer.headers).filter(([name]) => !HOP_HEADERS.has(name.toLowerCase())),
        )
        reply.writeHead(answer.status, relayed)
        reply.end(answer.body)
      } catch (error) {
        reply.writeHead(502, { 'content-type': 'text/plain' })
        reply.end(`dashboards proxy: ${(error as Error).message}\n`)
      }
    })()
  })
}

async function main(): Promise<void> {
  const endpoint = process.env.OPENSEARCH_ENDPOINT?.replace(/^https:\/\//, '').replace(/\/+$/, '')
  const region = process.env.AWS_REGION
  if (!endpoint || !region) throw new Error('OPENSEARCH_ENDPOINT and AWS_REGION are required (see --help)')
  const tunnelPort = Number(process.env.TUNNEL_PORT ?? 8443)
  const port = Number(process.env.PORT ?? 5601)
  const credentials = fromNodeProviderChain()
  const proxy = createDashboardsProxy({
    sign: (request) => signForDomain(request, { endpoint, region, credentials }),
    send: sendThroughTunnel(tunnelPort, endpoint),
  })
  proxy.listen(port, '127.0.0.1', () => {
    const { port: bound } = proxy.address() as AddressInfo
    console.log(`OpenSearch Dashboards: http://127.0.0.1:${bound}/_dashboards (via 127.0.0.1:${tunnelPort})`)
  })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(
      "tsx scripts/dashboards-proxy.ts - sign the browser's requests to the VPC-only OpenSearch domain\n" +
        '  OPENSEARCH_ENDPOINT  the domain endpoint (stack output OpenSearchEndpoint)\n' +
        "  AWS_REGION           the stack's region; credentials of DashboardsUserRole from the SDK chain\n" +
        '  TUNNEL_PORT          local port of the Session Manager port forward (8443)\n' +
        '  PORT                 where the proxy listens on 127.0.0.1 (5601)\n' +
        'Steps: README.md, "Security" / "Dashboards on AWS".',
    )
  } else {
    main().catch((error: Error) => {
      console.error(error.message)
      process.exitCode = 1
    })
  }
}
