/**
 * A small XRPC server core for devnet hosts: routes `/xrpc/{nsid}`, decodes and validates query parameters
 * and JSON input against compact per-method schemas, turns thrown `XrpcError`s into the standard
 * `{"error", "message"}` body, and streams outputs through an interceptor so faults can delay, cut, pad,
 * trickle or reset responses.
 *
 * Invariants (matching the reference server's order): parameters are validated before the handler runs,
 * then the handler authenticates, then validates its input; schema failures are 400 `InvalidRequest`;
 * bodies above the method's cap are 413 `PayloadTooLarge`; unknown methods are 501
 * `MethodNotImplemented`; unexpected exceptions are 500 `InternalServerError` with no internals leaked.
 * The schemas mirror /shared/spec/lexicons (test/devnet checks they agree); `space-ref` is checked with
 * the protocol parser because generic lexicon tooling does not know that format.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { isValidDid, isValidNsid, isValidRecordKey, isValidTid } from '@atproto/syntax'
import { parseCid } from '@atproto/lex-data'
import type { Logger } from 'pino'
import { canonicalSpaceUri } from '../protocol/space-uri.js'

export class XrpcError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

export const invalidRequest = (message: string, error = 'InvalidRequest'): XrpcError =>
  new XrpcError(400, error, message)

export type StringFormat = 'did' | 'nsid' | 'tid' | 'record-key' | 'space-ref' | 'cid' | 'datetime'

export type FieldSpec =
  | { type: 'string'; format?: StringFormat; maxLength?: number; required?: boolean }
  | { type: 'integer'; minimum: number; maximum: number; default?: number; required?: boolean }
  | { type: 'boolean'; default?: boolean; required?: boolean }
  | { type: 'array'; required?: boolean }
  | { type: 'object'; required?: boolean }
  | { type: 'unknown'; required?: boolean }

export type Schema = Record<string, FieldSpec>

export type Params = Record<string, string | number | boolean | undefined>

export interface XrpcContext {
  nsid: string
  params: Params
  /** Parsed JSON body of a procedure (undefined for queries or an empty body). */
  body: unknown
  headers: IncomingHttpHeaders
  /** The request URL as this host is publicly addressed (origin + path + query). */
  url: URL
  req: IncomingMessage
}

export type XrpcOutput =
  | { kind: 'json'; body: unknown; headers?: Record<string, string> }
  | { kind: 'bytes'; body: Uint8Array; contentType: string; headers?: Record<string, string> }
  | { kind: 'stream'; body: AsyncIterable<Uint8Array>; contentType: string; headers?: Record<string, string> }
  | { kind: 'empty' }

export interface MethodDef {
  nsid: string
  type: 'query' | 'procedure'
  params?: Schema
  /** Byte cap on the request body (procedures). */
  maxBodyBytes?: number
  handler(ctx: XrpcContext): Promise<XrpcOutput>
}

/** What a fault layer sees of a request: the host, the method and the space/repo it is about. */
export interface RequestScope {
  host: number
  method: string
  space?: string
  repo?: string
}

/** Hooks that let faults act on the transport around a handler. */
export interface Interceptor {
  /** Runs before the handler; returns 'handled' when it has already answered (or dropped) the request. */
  before(scope: RequestScope, res: ServerResponse): Promise<'continue' | 'handled'>
  /** Wraps the response body. */
  body(
    scope: RequestScope,
    chunks: AsyncIterable<Uint8Array>,
    res: ServerResponse,
    contentType: string,
  ): AsyncIterable<Uint8Array>
}

export const DEFAULT_MAX_BODY_BYTES = 1_000_000

const FORMAT_CHECKS: Record<StringFormat, (v: string) => boolean> = {
  did: isValidDid,
  nsid: isValidNsid,
  tid: isValidTid,
  'record-key': isValidRecordKey,
  cid: (v) => {
    try {
      parseCid(v)
      return true
    } catch {
      return false
    }
  },
  'space-ref': (v) => {
    try {
      return canonicalSpaceUri(v) === v
    } catch {
      return false
    }
  },
  datetime: (v) => !Number.isNaN(Date.parse(v)) && /^\d{4}-\d{2}-\d{2}T/.test(v),
}

function checkField(name: string, spec: FieldSpec, value: unknown, where: string): unknown {
  if (value === undefined || value === null) {
    if (value === null && spec.type !== 'unknown') throw invalidRequest(`${where} ${name} must not be null`)
    if (spec.type === 'integer' || spec.type === 'boolean') {
      if (spec.default !== undefined) return spec.default
    }
    if (spec.required) throw invalidRequest(`${where} must have the property "${name}"`)
    return undefined
  }
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') throw invalidRequest(`${where} ${name} must be a string`)
      if (spec.maxLength !== undefined && value.length > spec.maxLength) {
        throw invalidRequest(`${where} ${name} must not be longer than ${spec.maxLength} characters`)
      }
      if (spec.format && !FORMAT_CHECKS[spec.format](value)) {
        throw invalidRequest(`${where} ${name} must be a valid ${spec.format}`)
      }
      return value
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw invalidRequest(`${where} ${name} must be an integer`)
      }
      if (value < spec.minimum || value > spec.maximum) {
        throw invalidRequest(`${where} ${name} must be between ${spec.minimum} and ${spec.maximum}`)
      }
      return value
    case 'boolean':
      if (typeof value !== 'boolean') throw invalidRequest(`${where} ${name} must be a boolean`)
      return value
    case 'array':
      if (!Array.isArray(value)) throw invalidRequest(`${where} ${name} must be an array`)
      return value
    case 'object':
      if (typeof value !== 'object' || Array.isArray(value))
        throw invalidRequest(`${where} ${name} must be an object`)
      return value
    case 'unknown':
      return value
  }
}

/** Decodes query parameters the way the reference XRPC server does, then validates them. */
export function decodeParams(search: URLSearchParams, schema: Schema): Params {
  const out: Params = {}
  for (const [name, spec] of Object.entries(schema)) {
    const raw = search.get(name)
    let value: unknown = raw === null || raw === '' ? undefined : raw
    if (value !== undefined && spec.type === 'integer') {
      value = /^-?\d+$/.test(raw as string) ? Number(raw) : Number.NaN
      if (Number.isNaN(value)) throw invalidRequest(`Params ${name} must be an integer`)
    } else if (value !== undefined && spec.type === 'boolean') {
      value = raw === 'true'
    }
    out[name] = checkField(name, spec, value, 'Params') as Params[string]
  }
  return out
}

/** Validates a JSON object body against `schema`; unknown properties pass through untouched. */
export function validateInput<T extends Record<string, unknown>>(body: unknown, schema: Schema): T {
  if (body === undefined) throw invalidRequest('Request body is required (application/json)')
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidRequest('Input must be an object')
  }
  const obj = { ...(body as Record<string, unknown>) }
  for (const [name, spec] of Object.entries(schema)) {
    const checked = checkField(name, spec, obj[name], 'Input')
    if (checked !== undefined) obj[name] = checked
  }
  return obj as T
}

async function readBody(req: IncomingMessage, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > cap) throw new XrpcError(413, 'PayloadTooLarge', `request body exceeds ${cap} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Waits for backpressure to clear, or for the peer to go away (then the caller sees `res.destroyed`). */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.once('drain', done)
    res.once('close', done)
  })
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes
}

export function sendError(res: ServerResponse, err: XrpcError): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify({ error: err.error, message: err.message })
  res.writeHead(err.status, {
    ...err.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}

export class XrpcRouter {
  private readonly methods = new Map<string, MethodDef>()

  constructor(
    private readonly host: number,
    private readonly origin: string,
    private readonly logger: Logger,
    private readonly interceptor?: Interceptor,
  ) {}

  add(def: MethodDef): void {
    if (this.methods.has(def.nsid)) throw new Error(`method ${def.nsid} is registered twice`)
    this.methods.set(def.nsid, def)
  }

  /** Registered methods (the tests compare their parameter schemas with the lexicons). */
  definitions(): MethodDef[] {
    return [...this.methods.values()]
  }

  /** Handles one request whose path starts with /xrpc/. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin)
    const nsid = url.pathname.slice('/xrpc/'.length)
    const scope: RequestScope = { host: this.host, method: nsid }
    try {
      const def = this.methods.get(nsid)
      if (!def) throw new XrpcError(501, 'MethodNotImplemented', `Method not implemented: ${nsid}`)
      const wanted = def.type === 'query' ? 'GET' : 'POST'
      if (req.method !== wanted && !(def.type === 'query' && req.method === 'HEAD')) {
        throw invalidRequest(`Incorrect HTTP method (${req.method}); ${nsid} expects ${wanted}`)
      }
      let body: unknown
      if (def.type === 'procedure') {
        const raw = await readBody(req, def.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES)
        if (raw.length > 0) {
          try {
            body = JSON.parse(raw.toString('utf8'))
          } catch {
            throw invalidRequest('Request body is not valid JSON')
          }
        }
      }
      const bodyObj = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
      const space = url.searchParams.get('space') ?? bodyObj['space']
      const repo = url.searchParams.get('repo') ?? bodyObj['repo']
      if (typeof space === 'string') scope.space = space
      if (typeof repo === 'string') scope.repo = repo
      if (this.interceptor && (await this.interceptor.before(scope, res)) === 'handled') return

      const params = decodeParams(url.searchParams, def.params ?? {})
      const output = await def.handler({ nsid, params, body, headers: req.headers, url, req })
      await this.send(scope, res, output)
    } catch (err) {
      if (err instanceof XrpcError) {
        sendError(res, err)
        return
      }
      this.logger.error({ err, nsid }, 'devnet handler failed')
      sendError(res, new XrpcError(500, 'InternalServerError', 'Internal Server Error'))
    }
  }

  private async send(scope: RequestScope, res: ServerResponse, output: XrpcOutput): Promise<void> {
    if (output.kind === 'empty') {
      res.writeHead(200)
      res.end()
      return
    }
    let chunks: AsyncIterable<Uint8Array>
    let contentType: string
    if (output.kind === 'json') {
      chunks = once(Buffer.from(JSON.stringify(output.body)))
      contentType = 'application/json; charset=utf-8'
    } else {
      chunks = output.kind === 'bytes' ? once(output.body) : output.body
      contentType = output.contentType
    }
    if (this.interceptor) chunks = this.interceptor.body(scope, chunks, res, contentType)
    // Pull the first chunk before committing to 200, so a stream that fails up front still gets an error body.
    const iterator = chunks[Symbol.asyncIterator]()
    const first = await iterator.next()
    res.writeHead(200, { ...output.headers, 'content-type': contentType })
    try {
      for (let r = first; !r.done; r = await iterator.next()) {
        if (res.destroyed) return
        if (!res.write(r.value)) await drainOrClose(res)
      }
      res.end()
    } catch (err) {
      this.logger.warn({ err }, 'devnet response stream failed mid-body')
      res.destroy()
    }
  }
}
