/**
 * Devnet's outbound HTTP (node:http over a keep-alive agent): statuses as they are (redirects not followed),
 * bodies read only on request and capped, timeouts fail the call, connections reused, and a request lost
 * on a kept-alive socket the server dropped is sent again on a fresh one.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { httpCall } from '../../src/devnet/http-call.js'

let server: Server
let base = ''
const sockets = new Set<unknown>()
const seen: Array<{ method: string; url: string; body: string; authorization?: string }> = []
/** Sockets that already answered a /flaky request: a second one on the same socket is dropped unanswered. */
const flakyServed = new WeakSet<object>()

beforeAll(async () => {
  server = createServer((req, res) => {
    sockets.add(req.socket)
    const parts: Buffer[] = []
    req.on('data', (c: Buffer) => parts.push(c))
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body: Buffer.concat(parts).toString(),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      })
      if (req.url === '/flaky') {
        if (flakyServed.has(req.socket)) return void req.socket.destroy()
        flakyServed.add(req.socket)
        return void res.writeHead(200).end('fresh')
      }
      if (req.url === '/redirect') res.writeHead(302, { location: '/elsewhere' }).end()
      else if (req.url === '/big') res.writeHead(200).end('x'.repeat(10_000))
      else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end('late'), 500)
      else res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

test('POSTs JSON with headers, returns the status, reads the body only when asked', async () => {
  const res = await httpCall({
    method: 'POST',
    url: `${base}/xrpc/x`,
    headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
    body: '{"a":1}',
  })
  expect(res).toEqual({ status: 201 })
  expect(seen.at(-1)).toEqual({ method: 'POST', url: '/xrpc/x', body: '{"a":1}', authorization: 'Bearer t' })
  const read = await httpCall({ method: 'GET', url: `${base}/q?x=1`, headers: {}, readBody: true })
  expect(read.status).toBe(201)
  expect(JSON.parse(read.body!.toString())).toEqual({ ok: true })
})

test('a redirect is a status, not followed', async () => {
  expect(await httpCall({ method: 'GET', url: `${base}/redirect`, headers: {} })).toEqual({ status: 302 })
  expect(seen.some((s) => s.url === '/elsewhere')).toBe(false)
})

test('a body over the cap and a timeout fail the call', async () => {
  await expect(
    httpCall({ method: 'GET', url: `${base}/big`, headers: {}, readBody: true, maxBodyBytes: 1000 }),
  ).rejects.toThrow('exceeds 1000 bytes')
  await expect(httpCall({ method: 'GET', url: `${base}/slow`, headers: {}, timeoutMs: 100 })).rejects.toThrow(
    'timed out',
  )
})

test('sequential calls reuse a kept-alive connection', async () => {
  sockets.clear()
  for (let i = 0; i < 5; i++) await httpCall({ method: 'GET', url: `${base}/n${i}`, headers: {} })
  expect(sockets.size).toBe(1)
})

test('a request that finds its kept-alive socket dropped by the server is sent again on a fresh one', async () => {
  const call = { method: 'GET' as const, url: `${base}/flaky`, headers: {}, readBody: true, timeoutMs: 2000 }
  const first = await httpCall(call)
  expect(first.body?.toString()).toBe('fresh')
  // The agent reuses the first socket; the server drops it on this request, the retry gets a new socket.
  const before = seen.filter((s) => s.url === '/flaky').length
  const second = await httpCall(call)
  expect(second).toEqual({ status: 200, body: Buffer.from('fresh') })
  expect(seen.filter((s) => s.url === '/flaky').length - before).toBe(2)
})
