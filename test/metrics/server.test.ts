/**
 * Serving /metrics: the standalone server and the handler the API mounts, scrape hooks that fail without
 * taking the scrape down, and only GET/HEAD.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Gauge } from 'prom-client'
import { createMetrics } from '../../src/metrics/metrics.js'
import { createMetricsServer, metricsHandler, type MetricsServer } from '../../src/metrics/server.js'
import { parseExposition } from '../../src/metrics/exposition.js'

describe('createMetricsServer', () => {
  const m = createMetrics()
  let hookRuns = 0
  const errors: unknown[] = []
  let server: MetricsServer

  beforeAll(async () => {
    server = await createMetricsServer(0, {
      registry: m.registry,
      host: '127.0.0.1',
      beforeScrape: async () => {
        hookRuns++
        m.notifyRegistrationsActive.set(hookRuns)
        if (hookRuns === 2) throw new Error('redis is down')
      },
      onError: (err) => errors.push(err),
    })
  })
  afterAll(() => server.close())

  it('serves the registry in the text format at /metrics, sampling before each scrape', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`)
    const res = await fetch(server.url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-store')
    const families = parseExposition(await res.text())
    expect(families.get('spaceview_notify_registrations_active')?.samples[0]?.value).toBe(1)
    expect(families.has('spaceview_process_cpu_seconds_total')).toBe(true)
  })

  it('still serves when the hook fails, and reports the failure', async () => {
    const res = await fetch(server.url)
    expect(res.status).toBe(200)
    expect(errors).toEqual([new Error('redis is down')])
    expect(
      parseExposition(await res.text()).get('spaceview_notify_registrations_active')?.samples[0]?.value,
    ).toBe(2)
  })

  it('answers HEAD without a body, refuses other methods, and 404s other paths', async () => {
    const head = await fetch(server.url, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    const post = await fetch(server.url, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    expect((await fetch(server.url.replace('/metrics', '/'))).status).toBe(404)
    expect((await fetch(`${server.url}?x=1`)).status).toBe(200)
  })
})

describe('metricsHandler', () => {
  it('mounts in another server (as the API does) and answers 500 when collection fails', async () => {
    const m = createMetrics()
    m.recordsVerified.inc(5)
    const handle = metricsHandler(m.registry)
    const broken = createMetrics()
    new Gauge({
      name: 'spaceview_broken',
      help: 'a gauge whose collection fails',
      registers: [broken.registry],
      collect() {
        throw new Error('boom')
      },
    })
    const failing = metricsHandler(broken.registry)
    const api = createServer((req, res) => {
      if (req.url === '/metrics') void handle(req, res)
      else if (req.url === '/broken') void failing(req, res)
      else res.end('api')
    })
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`
    try {
      const text = await (await fetch(`${base}/metrics`)).text()
      expect(text).toContain('spaceview_records_verified_total 5')
      expect((await fetch(`${base}/broken`)).status).toBe(500)
      expect(await (await fetch(`${base}/other`)).text()).toBe('api')
    } finally {
      await new Promise((resolve) => api.close(resolve))
    }
  })
})
