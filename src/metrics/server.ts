/**
 * Serving a metrics registry in the Prometheus text format: a request handler the API server can mount at
 * /metrics, and a small standalone server for processes without one (workers).
 *
 * Invariants:
 * - Only GET and HEAD are answered; the body is exactly `registry.metrics()` with the registry's own
 *   content type, never cached.
 * - A failing `beforeScrape` hook (e.g. sampling queue depths while Redis is down) does not take the
 *   process metrics down with it: the hook's error goes to `onError` and the scrape is still served.
 * - The standalone server answers /metrics only; it binds all interfaces by default because Prometheus
 *   scrapes it from another container, which is acceptable since no metric carries an identifier.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { metrics } from './metrics.js'

export interface MetricsHandlerOptions {
  /** Runs before each scrape, e.g. `() => collectQueueMetrics(queues)`. */
  beforeScrape?: () => Promise<void>
  /** Receives a `beforeScrape` failure (the scrape is served regardless). */
  onError?: (err: unknown) => void
}

export type MetricsRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>

/** A handler that answers any GET/HEAD with the registry's exposition (mount it at /metrics). */
export function metricsHandler(
  registry: Registry = metrics.registry,
  options: MetricsHandlerOptions = {},
): MetricsRequestHandler {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
      res.end('Method Not Allowed: use GET\n')
      return
    }
    if (options.beforeScrape) {
      try {
        await options.beforeScrape()
      } catch (err) {
        options.onError?.(err)
      }
    }
    let body: string
    try {
      body = await registry.metrics()
    } catch (err) {
      options.onError?.(err)
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      res.end('metrics collection failed\n')
      return
    }
    res.writeHead(200, {
      'content-type': registry.contentType,
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

export interface MetricsServerOptions extends MetricsHandlerOptions {
  registry?: Registry
  /** Interface to bind; default all interfaces (see the module invariants). */
  host?: string
}

export interface MetricsServer {
  readonly server: Server
  /** The bound port (useful with port 0). */
  readonly port: number
  /** `http://<host>:<port>/metrics`. */
  readonly url: string
  close(): Promise<void>
}

/** Listens on `port` (0 picks a free one) and serves the registry at /metrics; anything else is 404. */
export async function createMetricsServer(
  port: number,
  options: MetricsServerOptions = {},
): Promise<MetricsServer> {
  const handle = metricsHandler(options.registry ?? metrics.registry, options)
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (path === '/metrics') {
      void handle(req, res)
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('Not Found: metrics are at /metrics\n')
  })
  const host = options.host ?? '0.0.0.0'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  const shownHost =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  return {
    server,
    port: bound,
    url: `http://${shownHost}:${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
