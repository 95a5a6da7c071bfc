/**
 * Devnet's outbound HTTP on its hot paths (the write driver's writes, notifications, checkUserAccess):
 * node:http over one shared keep-alive agent instead of fetch. At 1,000 writes/s devnet makes three
 * requests per write; fetch (WHATWG streams, abort signals, header objects) cost ~3× the CPU of a plain
 * node:http exchange per request on loopback and capped the write rate.
 *
 * Invariants: `http:` URLs go through node:http, anything else through fetch (devnet's own servers are all
 * plain-http loopback; a test syncer may publish an https endpoint). Redirects are never followed: a 3xx
 * is just a status, as with fetch's `redirect: 'error'` it is not a success. A response body is read only
 * when asked for, up to `maxBodyBytes` (a larger answer fails the call); otherwise it is discarded. The
 * timeout covers the whole exchange and fails the call (rejects), like fetch's AbortSignal.timeout.
 * A request that fails with ECONNRESET on a reused keep-alive socket (the server closed it idle just as it
 * was picked: the request never got there) is sent once more on a fresh socket, as fetch does; without
 * that, a checkUserAccess lost this way failed closed and refused a member (seen under load).
 */
import { Agent, request } from 'node:http'

export interface HttpCall {
  method: 'GET' | 'POST'
  url: string
  headers: Record<string, string>
  /** JSON text for a POST. */
  body?: string
  timeoutMs?: number
  /** Read and return the response body (else it is discarded). */
  readBody?: boolean
  maxBodyBytes?: number
}

export interface HttpAnswer {
  status: number
  body?: Buffer
}

const agent = new Agent({ keepAlive: true })
const DEFAULT_MAX_BODY = 1024 * 1024

/** The request was written to a kept-alive socket the server had already closed. */
class StaleSocketError extends Error {}

export async function httpCall(call: HttpCall): Promise<HttpAnswer> {
  if (!call.url.startsWith('http:')) return viaFetch(call)
  try {
    return await viaNode(call)
  } catch (err) {
    // Not the shared agent again: it may hand out another idle socket the server closed just as well.
    if (err instanceof StaleSocketError) return viaNode(call, false)
    throw err
  }
}

function viaNode(call: HttpCall, via: Agent | false = agent): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const headers: Record<string, string | number> = { ...call.headers }
    if (call.body !== undefined) headers['content-length'] = Buffer.byteLength(call.body)
    const req = request(call.url, { method: call.method, headers, agent: via }, (res) => {
      const status = res.statusCode ?? 0
      if (!call.readBody) {
        res.resume()
        res.on('end', () => finish(null, { status }))
        res.on('error', (err) => finish(err))
        return
      }
      const max = call.maxBodyBytes ?? DEFAULT_MAX_BODY
      const parts: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size <= max) parts.push(chunk)
        else {
          finish(new Error(`response body exceeds ${max} bytes`))
          res.destroy()
        }
      })
      res.on('end', () => finish(null, { status, body: Buffer.concat(parts) }))
      res.on('error', (err) => finish(err))
    })
    const timer =
      call.timeoutMs === undefined
        ? undefined
        : setTimeout(() => req.destroy(new Error(`timed out after ${call.timeoutMs} ms`)), call.timeoutMs)
    let done = false
    const finish = (err: Error | null, answer?: HttpAnswer) => {
      if (done) return
      done = true
      if (timer) clearTimeout(timer)
      if (err) reject(err)
      else resolve(answer as HttpAnswer)
    }
    req.on('error', (err: NodeJS.ErrnoException) =>
      finish(req.reusedSocket && err.code === 'ECONNRESET' ? new StaleSocketError(err.message) : err),
    )
    req.end(call.body)
  })
}

async function viaFetch(call: HttpCall): Promise<HttpAnswer> {
  const res = await fetch(call.url, {
    method: call.method,
    headers: call.headers,
    ...(call.body !== undefined ? { body: call.body } : {}),
    redirect: 'manual',
    ...(call.timeoutMs !== undefined ? { signal: AbortSignal.timeout(call.timeoutMs) } : {}),
  })
  if (!call.readBody) {
    await res.body?.cancel()
    return { status: res.status }
  }
  const body = Buffer.from(await res.arrayBuffer())
  const max = call.maxBodyBytes ?? DEFAULT_MAX_BODY
  if (body.length > max) throw new Error(`response body exceeds ${max} bytes`)
  return { status: res.status, body }
}
