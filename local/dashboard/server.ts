/**
 * The local dashboard of `make run`: a static page (local/dashboard/public/) and one JSON
 * endpoint, `/api/state`, on node:http. OpenSearch Dashboards ships in no registry, so this is
 * what a laptop user watches; the charting library (uPlot) is served from node_modules, so the
 * page works offline.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Client } from '@opensearch-project/opensearch'
import { projectRoot } from '../services/index.ts'
import { type MarketView, readMarket } from './market.ts'
import type { PipelineStatus } from './pipeline-status.ts'

export interface DashboardState {
  market: MarketView
  pipeline: PipelineStatus | null
}

export interface DashboardOptions {
  search: Client
  symbols: string[]
  /** The newest pipeline sample (the runtime's own counters and sink read-backs). */
  pipeline: () => PipelineStatus | undefined
  host?: string
  /** 0 = any free port. */
  port?: number
  /** How often the page polls /api/state. */
  refreshMs?: number
}

export interface Dashboard {
  url: string
  close(): Promise<void>
}

const PUBLIC = join(projectRoot, 'local', 'dashboard', 'public')
const UPLOT = join(projectRoot, 'node_modules', 'uplot', 'dist')

/** URL path -> file and content type; nothing else is served. */
const FILES: Record<string, { path: string; type: string }> = {
  '/': { path: join(PUBLIC, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { path: join(PUBLIC, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { path: join(PUBLIC, 'style.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': {
    path: join(UPLOT, 'uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/vendor/uPlot.min.css': { path: join(UPLOT, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
}

function send(response: ServerResponse, status: number, type: string, body: string | Buffer) {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  response.end(body)
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const refreshMs = options.refreshMs ?? 3_000
  // Several tabs polling at once share one OpenSearch read per refresh period.
  let cached: { at: number; market: Promise<MarketView> } | undefined
  const market = () => {
    if (!cached || Date.now() - cached.at >= refreshMs / 2) {
      const read = readMarket(options.search, options.symbols)
      cached = { at: Date.now(), market: read }
      read.catch(() => {
        cached = undefined
      })
    }
    return cached.market
  }

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    if (request.method !== 'GET') return send(response, 405, 'text/plain', 'GET only\n')
    if (path === '/api/state') {
      market().then(
        (view) => {
          const state: DashboardState = { market: view, pipeline: options.pipeline() ?? null }
          send(response, 200, 'application/json', JSON.stringify(state))
        },
        (error: Error) => send(response, 502, 'application/json', JSON.stringify({ error: error.message })),
      )
      return
    }
    if (path === '/api/config') {
      return send(
        response,
        200,
        'application/json',
        JSON.stringify({ symbols: options.symbols, refresh_ms: refreshMs }),
      )
    }
    const file = FILES[path]
    if (!file) return send(response, 404, 'text/plain', 'not found\n')
    readFile(file.path).then(
      (body) => send(response, 200, file.type, body),
      () => send(response, 500, 'text/plain', `cannot read ${path}\n`),
    )
  })
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, options.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  await listen(options.port ?? 0).catch((error: NodeJS.ErrnoException) => {
    // Another run (or anything else) holds the usual port: any free one will do, the URL is printed.
    if (error.code === 'EADDRINUSE' && options.port) return listen(0)
    throw error
  })
  const address = server.address() as AddressInfo
  return {
    url: `http://${address.address}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
