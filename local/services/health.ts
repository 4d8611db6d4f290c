import { connect } from 'node:net'
import { Admin } from '@platformatic/kafka'

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
export function tcpOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port })
    const done = (open: boolean): void => {
      socket.destroy()
      resolvePromise(open)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/**
 * A Kafka broker is healthy when its port accepts connections and it answers a metadata request
 * listing at least one broker (in KRaft mode the port opens before the broker is registered).
 */
export async function kafkaHealthy(host: string, port: number): Promise<boolean> {
  if (!(await tcpOpen(host, port))) return false
  const admin = new Admin({
    clientId: 'local-services-health',
    bootstrapBrokers: [`${host}:${port}`],
    timeout: 3_000,
    retries: 0,
  })
  try {
    const metadata = await admin.metadata({})
    return metadata.brokers.size > 0
  } catch {
    return false
  } finally {
    await admin.close().catch(() => undefined)
  }
}

/** OpenSearch is healthy when the cluster reports at least yellow. */
export async function opensearchHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=2s`, {
      signal: AbortSignal.timeout(5_000),
    })
    if (!response.ok) return false
    const body = (await response.json()) as { status?: unknown }
    return body.status === 'green' || body.status === 'yellow'
  } catch {
    return false
  }
}
