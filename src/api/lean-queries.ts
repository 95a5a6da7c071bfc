/**
 * The lean lane for XRPC queries: GET requests to our query methods answered straight from node:http,
 * without express, with the same method configs, lexicon parameter validation and error answers as
 * @atproto/xrpc-server. Express's router, query parser and response helpers cost more per request than
 * an authenticated listRecords itself; everything else (procedures, plain routes, 404/501) stays on the
 * XRPC server.
 *
 * Invariants:
 * - It takes a request only in the canonical form: GET or HEAD to exactly `/xrpc/{nsid}` of a query added
 *   here, no body (no Transfer-Encoding, Content-Length absent or 0), and no bracket-style (`a[]=`) query
 *   keys. Anything else goes to the XRPC server, where every method is registered too,
 *   so unusual requests get exactly the library's answer.
 * - Parameters are read as the library reads them (URLSearchParams; a repeated key is an array), decoded
 *   by the lexicon's property types (`decodeQueryParam` below is the library's), kept only when the lexicon
 *   names them, and validated with the same Lexicons' `assertValidXrpcParams`; a failure is a 400
 *   InvalidRequest carrying the library's message. A `__proto__` key is refused as the library refuses it.
 * - Order as in the library: params → auth (an ErrorResult is thrown) → handler → output validation (when
 *   enabled) → 200. Handlers answer JSON (`encoding: application/json`); anything else is a 500.
 * - Answers are `lexToJson` + JSON.stringify (json-body.ts renders shared parts once) with `content-type:
 *   application/json; charset=utf-8` and a content-length, as express's `res.json` sends them. Errors go
 *   through the server's `errorParser` and are answered as its payload `{error, message}` with its status.
 *   After the client disconnected nothing is answered, and handlers see the abort on `signal`, as in the
 *   library.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Lexicons, LexXrpcQuery } from '@atproto/lexicon'
import {
  excludeErrorResult,
  InternalServerError,
  InvalidRequestError,
  type Auth,
  type ErrorResult,
  type HandlerContext,
  type Params,
  type MethodAuthContext,
  type MethodConfig,
  type MethodConfigOrHandler,
  type XRPCError,
} from '@atproto/xrpc-server'
import { jsonBody } from './json-body.js'

interface Route {
  nsid: string
  def: LexXrpcQuery
  config: MethodConfig
}

export interface LeanQueriesOptions {
  /** Validate answers against the lexicon (as the XRPC server's `validateResponse`). */
  validateResponse: boolean
  /** The XRPC server's error parser: turns anything thrown into the XRPC error that is answered. */
  errorParser: (err: unknown) => XRPCError
}

const PREFIX = '/xrpc/'

/** @atproto/xrpc-server's decoding of one query parameter value by its lexicon type. */
function decodeQueryParam(type: string, value: unknown): string | number | boolean | undefined {
  if (!value) return undefined
  if (type === 'string' || type === 'datetime') return String(value)
  if (type === 'float') return Number(String(value))
  if (type === 'integer') return parseInt(String(value), 10) || 0
  if (type === 'boolean') return value === 'true'
  return undefined
}

/**
 * The library's `excludeErrorResult` (an ErrorResult `{status >= 400, …}` is thrown), skipping its schema
 * check when there is no `status` at all: that check builds an Error with a stack for every normal result.
 */
function authResult<T>(result: T): Exclude<T, ErrorResult> {
  return typeof result === 'object' && result !== null && 'status' in result
    ? excludeErrorResult(result)
    : (result as Exclude<T, ErrorResult>)
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body))
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status
  res.setHeader('content-type', 'application/json; charset=utf-8')
  res.setHeader('content-length', Buffer.byteLength(text))
  res.end(text)
}

export class LeanQueries {
  private readonly routes = new Map<string, Route>()

  constructor(
    private readonly lex: Lexicons,
    private readonly opts: LeanQueriesOptions,
  ) {}

  /** Serves query `nsid` (its lexicon must already be loaded) with `config`, as `xrpc.method` would. */
  add<A extends Auth>(nsid: string, configOrHandler: MethodConfigOrHandler<A>): void {
    const def = this.lex.getDef(nsid)
    if (def?.type !== 'query') throw new Error(`${nsid} is not a query in the loaded lexicons`)
    const config = (typeof configOrHandler === 'function'
      ? { handler: configOrHandler }
      : configOrHandler) as unknown as MethodConfig
    this.routes.set(nsid, { nsid, def, config })
  }

  /** The route and raw query string of a request this lane takes (see the header), else undefined. */
  match(req: IncomingMessage): { route: Route; query: string } | undefined {
    if (req.method !== 'GET' && req.method !== 'HEAD') return undefined
    const url = req.url ?? ''
    if (!url.startsWith(PREFIX)) return undefined
    const q = url.indexOf('?')
    const route = this.routes.get(q === -1 ? url.slice(PREFIX.length) : url.slice(PREFIX.length, q))
    if (route === undefined || hasBody(req)) return undefined
    const query = q === -1 ? '' : url.slice(q + 1)
    return query.includes('[') || query.includes('%5B') || query.includes('%5b')
      ? undefined
      : { route, query }
  }

  /** Answers a request `match` took. Never rejects: failures are answered (or dropped after a disconnect). */
  async serve(route: Route, query: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const controller = new AbortController()
    const onClose = () => {
      if (!res.writableFinished) controller.abort()
    }
    res.once('close', onClose)
    try {
      const params = this.params(route, query)
      const xreq = req as unknown as MethodAuthContext['req']
      const xres = res as unknown as MethodAuthContext['res']
      const auth = route.config.auth
        ? authResult(await route.config.auth({ req: xreq, res: xres, params }))
        : undefined
      const ctx: HandlerContext = {
        params,
        input: undefined,
        auth,
        req: xreq,
        res: xres,
        signal: controller.signal,
        resetRouteRateLimits: async () => {},
      }
      const output = (await route.config.handler(ctx)) as
        { encoding?: unknown; body?: unknown; headers?: Record<string, string | undefined> } | undefined
      if (
        output?.encoding !== 'application/json' ||
        typeof output.body !== 'object' ||
        output.body === null
      ) {
        throw new InternalServerError('lean query handlers must answer a JSON body')
      }
      if (this.opts.validateResponse) {
        try {
          this.lex.assertValidXrpcOutput(route.nsid, output.body)
        } catch (cause) {
          throw new InternalServerError(
            cause instanceof Error ? cause.message : 'Output body validation failed',
            undefined,
            { cause },
          )
        }
      }
      for (const [name, value] of Object.entries(output.headers ?? {})) {
        if (value != null) res.setHeader(name, value)
      }
      sendText(res, 200, jsonBody(output.body))
    } catch (err) {
      if (controller.signal.aborted) return
      const xrpcError = this.opts.errorParser(err ?? new InternalServerError())
      if (res.headersSent) res.destroy()
      else sendJson(res, xrpcError.statusCode, xrpcError.payload)
    } finally {
      res.off('close', onClose)
    }
  }

  private params(route: Route, query: string): Params {
    const raw = new Map<string, string[]>()
    for (const [key, value] of new URLSearchParams(query)) {
      const values = raw.get(key)
      if (values === undefined) raw.set(key, [value])
      else values.push(value)
    }
    if (raw.has('__proto__')) {
      throw new InvalidRequestError('Invalid query parameter: __proto__', 'InvalidQueryParameter')
    }
    const properties = route.def.parameters?.properties ?? {}
    const decoded: Record<string, unknown> = {}
    for (const [key, values] of raw) {
      const property = properties[key]
      if (property === undefined) continue
      const value = values.length === 1 ? values[0] : values
      if (property.type !== 'array') decoded[key] = decodeQueryParam(property.type, value)
      else
        decoded[key] = value
          ? values.flatMap((v) => decodeQueryParam(property.items.type, v) ?? [])
          : undefined
    }
    // The library's validator builds (and discards) a ValidationError for every absent optional parameter;
    // capturing their stacks cost more than the rest of the validation. Nothing reads those stacks, and the
    // call is synchronous, so stack capture is off just for its duration.
    const stackTraceLimit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      // Undefined when the method has no parameters, as the library passes it on.
      return this.lex.assertValidXrpcParams(route.nsid, decoded) as Params
    } catch (cause) {
      throw new InvalidRequestError(String(cause), undefined, { cause })
    } finally {
      Error.stackTraceLimit = stackTraceLimit
    }
  }
}
