/**
 * HTTP for talking to hosts we do not trust (PDSes, space hosts, did:web servers, the PLC directory).
 *
 * Invariants:
 * - Every destination passes the endpoint guard: URL checks first, then one DNS resolution whose every
 *   address must be allowed; the socket is pinned to that checked address (no second lookup, so no DNS
 *   rebinding) while the hostname still drives the Host header, SNI and certificate verification.
 * - Every phase is bounded: connect (DNS + TCP + TLS), time to complete headers, silence between body
 *   chunks, and the whole exchange. A stalled or trickling host costs at most those budgets.
 * - Bodies are streamed and capped: a declared Content-Length above the cap is refused before reading,
 *   and a body that grows past the cap is cut off. Nothing is decompressed (we never ask for encodings).
 * - Redirects are not followed unless a request opts in, and then only for GET, each hop re-checked by
 *   the guard, with credential headers dropped when the origin changes.
 * - Non-2xx statuses are returned, not thrown: callers decide (see `readHostError`). Transport failures
 *   are thrown as `HostError` with a bounded `class`.
 */
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import {
  bareHostname,
  checkEndpointUrl,
  isEndpointBlockedError,
  resolveEndpointAddress,
  systemLookup,
  type EndpointPolicy,
  type LookupAll,
  type ResolvedAddress,
} from '../identity/endpoint-guard.js'
import { HostError, hostErrorFromNetwork, hostErrorFromStatus } from './host-errors.js'

export interface HttpTimeouts {
  /** DNS resolution plus TCP (and TLS) handshake. */
  connectMs: number
  /** From an established connection to complete response headers. */
  headersMs: number
  /** Longest silence allowed while waiting for the next body chunk. */
  bodyIdleMs: number
  /** The whole exchange, body included (per redirect hop). */
  totalMs: number
}

export const DEFAULT_TIMEOUTS: Readonly<HttpTimeouts> = Object.freeze({
  connectMs: 5_000,
  headersMs: 15_000,
  bodyIdleMs: 15_000,
  totalMs: 60_000,
})

/** Cap for JSON (XRPC) response bodies. */
export const JSON_MAX_BYTES = 4 * 1024 * 1024
/** How much of an error body we read to find the XRPC error name. */
export const ERROR_BODY_MAX_BYTES = 64 * 1024

export interface HttpClientOptions {
  /** Which destinations may be contacted; see endpoint-guard. */
  policy: EndpointPolicy
  /** DNS resolver (tests inject one to simulate hostile DNS without sending traffic). */
  lookup?: LookupAll
  timeouts?: Partial<HttpTimeouts>
  userAgent?: string
}

export interface HttpRequest {
  method: 'GET' | 'POST'
  url: string | URL
  headers?: Record<string, string>
  body?: string | Uint8Array
  /** Response body cap in bytes. */
  maxBytes: number
  timeouts?: Partial<HttpTimeouts>
  /** Redirect hops to follow (GET only); default 0. */
  maxRedirects?: number
  signal?: AbortSignal
}

export interface HttpResponse {
  status: number
  /** The URL that answered (differs from the request URL only after followed redirects). */
  url: URL
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Readonly<Record<string, string>>
  body: ResponseBody
}

/** Headers that carry our credentials; never forwarded to another origin. */
const CREDENTIAL_HEADERS = ['authorization', 'dpop', 'cookie']

type TimerName = 'connect' | 'headers' | 'idle' | 'total'

/** Timers and cancellation of one request/response exchange. */
class Exchange {
  private readonly timers = new Map<TimerName, NodeJS.Timeout>()
  private readonly cleanups: (() => void)[] = []
  private failHandler: (err: HostError) => void = () => {}
  private done = false

  constructor(readonly target: string) {}

  arm(name: TimerName, ms: number, detail: string): void {
    this.disarm(name)
    if (this.done) return
    const timer = setTimeout(
      () => this.fail(new HostError({ class: 'timeout', detail, target: this.target })),
      ms,
    )
    this.timers.set(name, timer)
  }

  disarm(name: TimerName): void {
    const timer = this.timers.get(name)
    if (timer !== undefined) clearTimeout(timer)
    this.timers.delete(name)
  }

  /** Where a timeout or cancellation is delivered in the current phase. */
  onFail(handler: (err: HostError) => void): void {
    this.failHandler = handler
  }

  fail(err: HostError): void {
    this.failHandler(err)
  }

  onFinish(cleanup: () => void): void {
    this.cleanups.push(cleanup)
  }

  finish(): void {
    if (this.done) return
    this.done = true
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
    for (const cleanup of this.cleanups) cleanup()
  }
}

/** A streamed, capped response body. Read it once (iterate, `bytes()` or `json()`) or `discard()` it. */
export class ResponseBody implements AsyncIterable<Uint8Array> {
  private used = false

  constructor(
    private readonly res: http.IncomingMessage,
    private readonly exchange: Exchange,
    private readonly maxBytes: number,
    private readonly idleMs: number,
    private readonly status: number,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.used) throw new Error('a response body can be read only once')
    this.used = true
    return this.stream()
  }

  private async *stream(): AsyncGenerator<Uint8Array, void, undefined> {
    const { exchange, res } = this
    const chunks = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>
    let received = 0
    try {
      for (;;) {
        // Idle time is counted only while we wait on the host, not while our consumer works on a chunk.
        exchange.arm('idle', this.idleMs, `response body stalled for ${this.idleMs} ms`)
        const next = await chunks.next()
        exchange.disarm('idle')
        if (next.done) return
        received += next.value.byteLength
        if (received > this.maxBytes) {
          throw new HostError({
            class: 'too_large',
            detail: `response body exceeds ${this.maxBytes} bytes`,
            target: exchange.target,
            status: this.status,
          })
        }
        yield new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.byteLength)
      }
    } catch (err) {
      throw hostErrorFromNetwork(err, exchange.target)
    } finally {
      exchange.finish()
      if (!res.complete) res.destroy()
    }
  }

  /** The whole body (still capped). */
  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = []
    for await (const chunk of this) parts.push(chunk)
    return Buffer.concat(parts)
  }

  /** The body parsed as UTF-8 JSON; anything else is a `bad_json` HostError. */
  async json(): Promise<unknown> {
    const raw = await this.bytes()
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw))
    } catch {
      throw new HostError({
        class: 'bad_json',
        detail: `HTTP ${this.status} body is not valid UTF-8 JSON (${raw.byteLength} bytes)`,
        target: this.exchange.target,
        status: this.status,
      })
    }
  }

  /** Abandons the body and frees the connection. */
  discard(): void {
    this.used = true
    this.exchange.finish()
    if (!this.res.complete) this.res.destroy()
  }
}

/** Reads a non-2xx response's (small) body and turns it into the matching HostError. */
export async function readHostError(res: HttpResponse): Promise<HostError> {
  const target = res.url.origin + res.url.pathname
  let body: Uint8Array = new Uint8Array(0)
  try {
    const parts: Uint8Array[] = []
    let size = 0
    for await (const chunk of res.body) {
      size += chunk.byteLength
      if (size > ERROR_BODY_MAX_BYTES) break
      parts.push(chunk)
    }
    body = Buffer.concat(parts)
  } catch {
    // The status alone still classifies the failure; a broken error body adds nothing actionable.
  }
  return hostErrorFromStatus(res.status, res.headers['retry-after'], body, target)
}

function pinnedLookup(address: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: address.address, family: address.family }])
    else callback(null, address.address, address.family)
  }
}

function flattenHeaders(raw: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

function toHostError(err: unknown, target: string): HostError {
  if (isEndpointBlockedError(err)) {
    return new HostError({ class: 'blocked_address', detail: err.message, target, cause: err })
  }
  return hostErrorFromNetwork(err, target)
}

/** origin + path of a request URL for messages, without failing on garbage input. */
function describeTarget(url: string | URL): string {
  try {
    const parsed = new URL(url)
    return parsed.origin + parsed.pathname
  } catch {
    return '(invalid URL)'
  }
}

export class HttpClient {
  private readonly policy: EndpointPolicy
  private readonly lookup: LookupAll
  private readonly timeouts: HttpTimeouts
  private readonly userAgent: string
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 32 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 32 }),
  }

  constructor(opts: HttpClientOptions) {
    this.policy = opts.policy
    this.lookup = opts.lookup ?? systemLookup
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts }
    this.userAgent = opts.userAgent ?? 'spaceview'
  }

  /**
   * Sends one request and resolves once response headers are in. Throws HostError for transport failures,
   * refused destinations and unfollowed redirects; any other status is returned with its body unread.
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let url: URL
    try {
      url = checkEndpointUrl(req.url, this.policy)
    } catch (err) {
      throw toHostError(err, describeTarget(req.url))
    }
    const timeouts = { ...this.timeouts, ...req.timeouts }
    let headers = { ...req.headers }
    for (let hops = 0; ; hops++) {
      const res = await this.exchange(req, url, headers, timeouts)
      if (res.status < 300 || res.status >= 400 || res.status === 304) return res
      res.body.discard()
      const target = url.origin + url.pathname
      const location = res.headers['location']
      if (hops >= (req.maxRedirects ?? 0) || req.method !== 'GET' || location === undefined) {
        throw new HostError({
          class: 'redirect',
          detail: `HTTP ${res.status} redirect not followed`,
          target,
          status: res.status,
        })
      }
      let next: URL
      try {
        next = checkEndpointUrl(new URL(location, url), this.policy)
      } catch (err) {
        if (isEndpointBlockedError(err)) throw toHostError(err, target)
        throw new HostError({ class: 'bad_response', detail: 'redirect Location is not a URL', target })
      }
      if (next.origin !== url.origin) {
        headers = Object.fromEntries(
          Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.includes(name.toLowerCase())),
        )
      }
      url = next
    }
  }

  private async exchange(
    req: HttpRequest,
    url: URL,
    headers: Record<string, string>,
    t: HttpTimeouts,
  ): Promise<HttpResponse> {
    const ex = new Exchange(url.origin + url.pathname)
    const { signal } = req
    if (signal?.aborted) {
      throw new HostError({ class: 'aborted', detail: 'request cancelled', target: ex.target })
    }
    if (signal) {
      const onAbort = () =>
        ex.fail(new HostError({ class: 'aborted', detail: 'request cancelled', target: ex.target }))
      signal.addEventListener('abort', onAbort, { once: true })
      ex.onFinish(() => signal.removeEventListener('abort', onAbort))
    }
    ex.arm('total', t.totalMs, `no complete response within ${t.totalMs} ms`)
    ex.arm('connect', t.connectMs, `no connection within ${t.connectMs} ms`)

    let address: ResolvedAddress
    try {
      address = await new Promise<ResolvedAddress>((resolve, reject) => {
        ex.onFail(reject)
        resolveEndpointAddress(url, this.policy, this.lookup).then(resolve, reject)
      })
    } catch (err) {
      ex.finish()
      throw toHostError(err, ex.target)
    }

    return new Promise<HttpResponse>((resolve, reject) => {
      const body = typeof req.body === 'string' ? Buffer.from(req.body) : req.body
      const request = (url.protocol === 'https:' ? https : http).request({
        method: req.method,
        protocol: url.protocol,
        hostname: bareHostname(url),
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname + url.search,
        headers: {
          'user-agent': this.userAgent,
          ...headers,
          ...(body === undefined ? {} : { 'content-length': String(body.byteLength) }),
        },
        agent: this.agents[url.protocol === 'https:' ? 'https:' : 'http:'],
        lookup: pinnedLookup(address),
      })
      let response: http.IncomingMessage | undefined
      ex.onFail((err) => (response ?? request).destroy(err))
      request.on('error', (err) => {
        // After headers arrived, failures surface through the body stream instead.
        if (response !== undefined) return
        ex.finish()
        reject(toHostError(err, ex.target))
      })
      request.on('socket', (socket) => {
        const connected = () => {
          ex.disarm('connect')
          ex.arm('headers', t.headersMs, `no response headers within ${t.headersMs} ms`)
        }
        if (!socket.connecting) connected()
        else socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', connected)
      })
      request.on('response', (res) => {
        response = res
        ex.disarm('connect')
        ex.disarm('headers')
        // Errors are delivered through the body iterator; without a listener an early one would crash us.
        res.on('error', () => {})
        // Once the body stream is gone (read, cut or destroyed) nothing is left to time: release the timers
        // even if the caller never touched the body.
        res.once('close', () => ex.finish())
        const status = res.statusCode ?? 0
        const declared = Number(res.headers['content-length'])
        if (status >= 200 && status < 300 && Number.isFinite(declared) && declared > req.maxBytes) {
          ex.finish()
          res.destroy()
          reject(
            new HostError({
              class: 'too_large',
              detail: `declared body of ${declared} bytes exceeds ${req.maxBytes}`,
              target: ex.target,
              status,
            }),
          )
          return
        }
        resolve({
          status,
          url,
          headers: flattenHeaders(res.headers),
          body: new ResponseBody(res, ex, req.maxBytes, t.bodyIdleMs, status),
        })
      })
      request.end(body)
    })
  }

  /** Closes pooled connections; in-flight requests are not waited for. */
  close(): void {
    this.agents['http:'].destroy()
    this.agents['https:'].destroy()
  }
}
