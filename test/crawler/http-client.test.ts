/**
 * The hostile-host HTTP client against real local servers on 127.0.0.1 that misbehave on purpose.
 * No traffic ever leaves loopback: refused destinations are refused before any connection.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { HttpClient, readHostError, type HttpClientOptions } from '../../src/crawler/http-client.js'
import { HostError, parseRetryAfter, MAX_RETRY_AFTER_MS } from '../../src/crawler/host-errors.js'
import { DEVNET_ENDPOINTS, PUBLIC_ENDPOINTS, type LookupAll } from '../../src/identity/endpoint-guard.js'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

interface Local {
  origin: string
  port: number
  hits: { url: string; headers: http.IncomingHttpHeaders }[]
  close(): Promise<void>
}

async function serve(handler: Handler): Promise<Local> {
  const hits: Local['hits'] = []
  const server = http.createServer((req, res) => {
    hits.push({ url: req.url ?? '', headers: req.headers })
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

const servers: Local[] = []
const clients: HttpClient[] = []

async function local(handler: Handler): Promise<Local> {
  const s = await serve(handler)
  servers.push(s)
  return s
}

function client(opts: Partial<HttpClientOptions> = {}): HttpClient {
  const c = new HttpClient({ policy: DEVNET_ENDPOINTS, ...opts })
  clients.push(c)
  return c
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

async function hostError(p: Promise<unknown>): Promise<HostError> {
  try {
    await p
  } catch (err) {
    if (err instanceof HostError) return err
    throw err
  }
  throw new Error('expected a HostError')
}

/** Loopback-only name table: `*.test` names resolve to 127.0.0.1 unless listed. */
function lookupTable(table: Record<string, string>): LookupAll & { calls: string[] } {
  const calls: string[] = []
  const fn: LookupAll = async (host) => {
    calls.push(host)
    const address = table[host]
    if (address === undefined) throw Object.assign(new Error('no such host'), { code: 'ENOTFOUND' })
    return [{ address, family: address.includes(':') ? 6 : 4 }]
  }
  return Object.assign(fn, { calls })
}

describe('HttpClient: basics', () => {
  it('returns status, headers and a streamed body; JSON parses', async () => {
    const s = await local((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ ok: true }))
    })
    const res = await client().request({ method: 'GET', url: `${s.origin}/xrpc/x?a=1`, maxBytes: 1024 })
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json')
    expect(await res.body.json()).toEqual({ ok: true })
    expect(s.hits[0]?.url).toBe('/xrpc/x?a=1')
  })

  it('sends a POST body with its length', async () => {
    let received = ''
    const s = await local((req, res) => {
      req.setEncoding('utf8')
      req.on('data', (c: string) => (received += c))
      req.on('end', () => res.end('{}'))
    })
    const res = await client().request({
      method: 'POST',
      url: `${s.origin}/p`,
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
      maxBytes: 1024,
    })
    await res.body.bytes()
    expect(received).toBe('{"a":1}')
    expect(s.hits[0]?.headers['content-length']).toBe('7')
  })

  it('rejects malformed JSON as bad_json', async () => {
    const s = await local((_req, res) => res.end('{"truncated": '))
    const res = await client().request({ method: 'GET', url: s.origin, maxBytes: 1024 })
    const err = await hostError(res.body.json())
    expect(err.class).toBe('bad_json')
    expect(err.status).toBe(200)
  })
})

describe('HttpClient: timeouts', () => {
  it('times out waiting for headers', async () => {
    const s = await local(() => {
      /* never answers */
    })
    const started = Date.now()
    const err = await hostError(
      client().request({ method: 'GET', url: s.origin, maxBytes: 1024, timeouts: { headersMs: 200 } }),
    )
    expect(err.class).toBe('timeout')
    expect(err.message).toMatch(/no response headers within 200 ms/)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('times out a body that stalls (idle)', async () => {
    const s = await local((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.write('first chunk')
    })
    const res = await client().request({
      method: 'GET',
      url: s.origin,
      maxBytes: 1024,
      timeouts: { bodyIdleMs: 200 },
    })
    const err = await hostError(res.body.bytes())
    expect(err.class).toBe('timeout')
    expect(err.message).toMatch(/stalled/)
  })

  it('times out a slowloris body that trickles forever (total)', async () => {
    const timers: NodeJS.Timeout[] = []
    const s = await local((_req, res) => {
      res.writeHead(200)
      timers.push(setInterval(() => res.write('x'), 50))
    })
    try {
      const res = await client().request({
        method: 'GET',
        url: s.origin,
        maxBytes: 1 << 20,
        timeouts: { bodyIdleMs: 1000, totalMs: 500 },
      })
      const err = await hostError(res.body.bytes())
      expect(err.class).toBe('timeout')
      expect(err.message).toMatch(/no complete response within 500 ms/)
    } finally {
      timers.forEach(clearInterval)
    }
  })

  it('bounds the connect phase, DNS included', async () => {
    const hang: LookupAll = () => new Promise(() => {})
    const err = await hostError(
      client({ lookup: hang }).request({
        method: 'GET',
        url: 'http://hangs.test/',
        maxBytes: 10,
        timeouts: { connectMs: 150 },
      }),
    )
    expect(err.class).toBe('timeout')
    expect(err.message).toMatch(/no connection within 150 ms/)
  })

  it('cancels on an abort signal', async () => {
    const s = await local(() => {})
    const ctl = new AbortController()
    setTimeout(() => ctl.abort(), 50)
    const err = await hostError(
      client().request({ method: 'GET', url: s.origin, maxBytes: 10, signal: ctl.signal }),
    )
    expect(err.class).toBe('aborted')
  })
})

describe('HttpClient: size caps', () => {
  it('refuses a declared Content-Length above the cap without reading', async () => {
    const s = await local((_req, res) => {
      res.writeHead(200, { 'content-length': '5000' })
      res.end(Buffer.alloc(5000))
    })
    const err = await hostError(client().request({ method: 'GET', url: s.origin, maxBytes: 1000 }))
    expect(err.class).toBe('too_large')
  })

  it('cuts a chunked body that grows past the cap', async () => {
    const s = await local((_req, res) => {
      res.writeHead(200)
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(500))
      res.end()
    })
    const res = await client().request({ method: 'GET', url: s.origin, maxBytes: 2000 })
    const err = await hostError(res.body.bytes())
    expect(err.class).toBe('too_large')
  })

  it('streams a body under the cap chunk by chunk', async () => {
    const s = await local((_req, res) => {
      res.writeHead(200)
      res.write(Buffer.alloc(1000, 1))
      setTimeout(() => res.end(Buffer.alloc(1000, 2)), 20)
    })
    const res = await client().request({ method: 'GET', url: s.origin, maxBytes: 2000 })
    let total = 0
    for await (const chunk of res.body) total += chunk.byteLength
    expect(total).toBe(2000)
  })
})

describe('HttpClient: broken connections', () => {
  it('classifies a connection cut mid-body as reset', async () => {
    const s = await local((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' })
      res.write('only ten b')
      setTimeout(() => res.socket?.destroy(), 20)
    })
    const res = await client().request({ method: 'GET', url: s.origin, maxBytes: 2000 })
    const err = await hostError(res.body.bytes())
    expect(err.class).toBe('reset')
  })

  it('classifies a connection dropped before headers as reset', async () => {
    const s = await local((req) => req.socket.destroy())
    const err = await hostError(client().request({ method: 'GET', url: s.origin, maxBytes: 10 }))
    expect(err.class).toBe('reset')
  })

  it('releases the timers of a body that is never read once its connection drops', async () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const s = await local((_req, res) => {
      res.writeHead(200)
      res.write('partial')
      setTimeout(() => res.socket?.destroy(), 10)
    })
    const c = client()
    const abandon = async () => {
      const res = await c.request({
        method: 'GET',
        url: s.origin,
        maxBytes: 100,
        timeouts: { totalMs: 600_000 },
      })
      expect(res.status).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 60))
    }
    await abandon()
    const settled = timeouts()
    // Ten abandoned bodies: a leak leaves ten more timers; unrelated timers of a busy process (keep-alive
    // sockets, the other tests' servers) may add one or two, so the bound sits well below a leak.
    for (let i = 0; i < 10; i++) await abandon()
    expect(timeouts()).toBeLessThanOrEqual(settled + 2)
  })

  it('classifies a refused connection as connect', async () => {
    const s = await serve(() => {})
    const url = s.origin
    await s.close()
    const err = await hostError(client().request({ method: 'GET', url, maxBytes: 10 }))
    expect(err.class).toBe('connect')
    expect(err.retryable).toBe(true)
  })
})

describe('HttpClient: error statuses', () => {
  it('reads 429 with Retry-After seconds', async () => {
    const s = await local((_req, res) => {
      res.writeHead(429, { 'retry-after': '7', 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'RateLimitExceeded', message: 'slow down' }))
    })
    const res = await client().request({ method: 'GET', url: s.origin, maxBytes: 1024 })
    const err = await readHostError(res)
    expect(err.class).toBe('http_429')
    expect(err.retryAfterMs).toBe(7000)
    expect(err.xrpcError).toBe('RateLimitExceeded')
    expect(err.retryable).toBe(true)
  })

  it('reads 503 with an HTTP-date Retry-After', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString()
    const s = await local((_req, res) => {
      res.writeHead(503, { 'retry-after': at })
      res.end('down')
    })
    const res = await client().request({ method: 'GET', url: s.origin, maxBytes: 1024 })
    const err = await readHostError(res)
    expect(err.class).toBe('http_5xx')
    expect(err.retryAfterMs).toBeGreaterThan(25_000)
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000)
  })

  it('keeps the XRPC error name of a 4xx, drops junk names, scrubs echoed tokens', async () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJlc2lnbmF0dXJl'
    const s = await local((req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' })
      if (req.url === '/junk') res.end(JSON.stringify({ error: 'not a name!', message: 'x' }))
      else res.end(JSON.stringify({ error: 'RepoNotFound', message: `no repo for ${jwt}` }))
    })
    const c = client()
    const named = await readHostError(
      await c.request({ method: 'GET', url: `${s.origin}/x`, maxBytes: 1024 }),
    )
    expect(named.class).toBe('xrpc_error')
    expect(named.xrpcError).toBe('RepoNotFound')
    expect(named.message).not.toContain(jwt)
    expect(named.message).toContain('[redacted]')
    const junk = await readHostError(
      await c.request({ method: 'GET', url: `${s.origin}/junk`, maxBytes: 1024 }),
    )
    expect(junk.class).toBe('http_4xx')
    expect(junk.xrpcError).toBeUndefined()
  })

  it('never puts the query or our headers in messages', async () => {
    const s = await local((_req, res) => {
      res.writeHead(500)
      res.end()
    })
    const res = await client().request({
      method: 'GET',
      url: `${s.origin}/xrpc/m?space=at%3A%2F%2Fsecret`,
      headers: { authorization: 'DPoP credential-secret', dpop: 'proof-secret' },
      maxBytes: 1024,
    })
    const err = await readHostError(res)
    expect(err.message).toContain(`${s.origin}/xrpc/m`)
    expect(err.message).not.toMatch(/secret/)
  })
})

describe('HttpClient: endpoint guard', () => {
  it('allows loopback only when configured', async () => {
    const s = await local((_req, res) => res.end('{}'))
    const strict = await hostError(
      client({ policy: PUBLIC_ENDPOINTS }).request({ method: 'GET', url: s.origin, maxBytes: 10 }),
    )
    expect(strict.class).toBe('blocked_address')
    const httpOnly = await hostError(
      client({ policy: { allow: [], allowHttp: true } }).request({
        method: 'GET',
        url: s.origin,
        maxBytes: 10,
      }),
    )
    expect(httpOnly.class).toBe('blocked_address')
    expect(httpOnly.message).toMatch(/loopback/)
    expect(s.hits).toHaveLength(0)
    const ok = await client().request({ method: 'GET', url: s.origin, maxBytes: 10 })
    expect(ok.status).toBe(200)
    ok.body.discard()
  })

  it('refuses names that resolve to refused addresses, before connecting', async () => {
    const lookup = lookupTable({ 'metadata.test': '169.254.169.254', 'lan.test': '10.0.0.1' })
    const c = client({ lookup })
    for (const host of ['metadata.test', 'lan.test']) {
      const err = await hostError(c.request({ method: 'GET', url: `http://${host}/`, maxBytes: 10 }))
      expect(err.class).toBe('blocked_address')
    }
  })

  it('connects to the checked address with the original Host header, resolving once', async () => {
    const s = await local((_req, res) => res.end('{}'))
    const lookup = lookupTable({ 'pds.test': '127.0.0.1' })
    const res = await client({ lookup }).request({
      method: 'GET',
      url: `http://pds.test:${s.port}/x`,
      maxBytes: 10,
    })
    await res.body.bytes()
    expect(s.hits[0]?.headers.host).toBe(`pds.test:${s.port}`)
    expect(lookup.calls).toEqual(['pds.test'])
  })

  it('does not follow redirects by default', async () => {
    const s = await local((_req, res) => {
      res.writeHead(302, { location: '/elsewhere' })
      res.end()
    })
    const err = await hostError(client().request({ method: 'GET', url: s.origin, maxBytes: 10 }))
    expect(err.class).toBe('redirect')
    expect(err.status).toBe(302)
    expect(s.hits).toHaveLength(1)
  })

  it.each([
    'http://10.0.0.1/latest',
    'http://169.254.169.254/latest/meta-data',
    'http://[::ffff:10.0.0.1]/',
    'http://metadata.test/',
  ])('refuses a redirect to %s', async (location) => {
    const s = await local((_req, res) => {
      res.writeHead(301, { location })
      res.end()
    })
    const lookup = lookupTable({ 'metadata.test': '169.254.169.254' })
    const err = await hostError(
      client({ lookup }).request({ method: 'GET', url: s.origin, maxBytes: 10, maxRedirects: 3 }),
    )
    expect(err.class).toBe('blocked_address')
  })

  it('follows an allowed redirect when asked, dropping credentials across origins', async () => {
    const s = await local((req, res) => {
      if (req.url === '/start') {
        res.writeHead(302, { location: `http://other.test:${(req.socket.localPort ?? 0).toString()}/end` })
        res.end()
      } else res.end('{"done":true}')
    })
    const lookup = lookupTable({ 'other.test': '127.0.0.1' })
    const res = await client({ lookup }).request({
      method: 'GET',
      url: `${s.origin}/start`,
      headers: { authorization: 'DPoP cred', dpop: 'proof', accept: 'application/json' },
      maxBytes: 100,
      maxRedirects: 1,
    })
    expect(await res.body.json()).toEqual({ done: true })
    expect(res.url.hostname).toBe('other.test')
    expect(s.hits[0]?.headers.authorization).toBe('DPoP cred')
    expect(s.hits[1]?.headers.authorization).toBeUndefined()
    expect(s.hits[1]?.headers.dpop).toBeUndefined()
    expect(s.hits[1]?.headers.accept).toBe('application/json')
  })
})

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z')
  it.each([
    ['0', 0],
    ['120', 120_000],
    ['Wed, 01 Jan 2025 00:00:30 GMT', 30_000],
    ['Tue, 31 Dec 2024 23:00:00 GMT', 0],
    ['99999999', MAX_RETRY_AFTER_MS],
    ['-5', undefined],
    ['soon', undefined],
    ['2025-01-01', undefined],
    [undefined, undefined],
  ])('%s -> %s', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected)
  })
})
