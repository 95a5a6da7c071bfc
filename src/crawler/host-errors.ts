/**
 * Typed failures of talking to a remote host, and the facts a scheduler needs from them.
 *
 * Every failure of an outbound request becomes a `HostError` whose `class` is one of a small, fixed set
 * (safe as a metric label), with the HTTP status, the XRPC error name (`{"error": "<Name>"}`) and a
 * `Retry-After` hint kept as separate fields. Invariants:
 * - Messages name the target as origin + path only (never the query, which carries space refs) and never
 *   contain our tokens or proofs. Text echoed by the host is truncated and scrubbed of anything shaped
 *   like a JWT, so a hostile host cannot make us log our own credential back.
 * - XRPC error names are accepted only in identifier syntax and bounded length; anything else is dropped.
 * - `Retry-After` (delta-seconds or HTTP-date) is capped, so a host cannot park a job for years.
 */

export const HOST_ERROR_CLASSES = [
  'timeout',
  'connect',
  'tls',
  'reset',
  'redirect',
  'http_4xx',
  'http_429',
  'http_5xx',
  'too_large',
  'bad_json',
  'bad_response',
  'blocked_address',
  'xrpc_error',
  'aborted',
] as const

export type HostErrorClass = (typeof HOST_ERROR_CLASSES)[number]

/** Longest wait a host may ask for with `Retry-After`. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000

const ADVICE: Record<HostErrorClass, string> = {
  timeout: 'the host is slow or unresponsive; retry later with backoff',
  connect: 'the host could not be reached; retry later with backoff and re-resolve its DID if it persists',
  tls: 'the TLS handshake failed (certificate or protocol); the host must fix its TLS setup',
  reset: 'the connection was cut mid-exchange; retry later with backoff',
  redirect: 'the host answered with a redirect, which is not followed here; the endpoint must serve directly',
  http_4xx: 'the host refused the request; check the request and credential before retrying',
  http_429: 'the host is rate limiting us; wait for Retry-After (or back off) before retrying',
  http_5xx: 'the host failed internally; retry later with backoff',
  too_large: 'the response exceeded our size cap; the host is misbehaving or the cap is too small',
  bad_json: 'the host sent a body that is not valid JSON; treat the host as faulty and retry later',
  bad_response: 'the host sent a response of the wrong shape; treat the host as faulty and retry later',
  blocked_address: 'the endpoint points at a non-public address or scheme and was not contacted',
  xrpc_error: 'the host returned an XRPC error; branch on its name',
  aborted: 'the request was cancelled by us',
}

export interface HostErrorInit {
  class: HostErrorClass
  /** What happened, in a sentence; the class's advice is appended. */
  detail: string
  /** origin + path of the request. */
  target?: string
  status?: number
  xrpcError?: string
  retryAfterMs?: number
  cause?: unknown
}

export class HostError extends Error {
  override readonly name = 'HostError'
  readonly class: HostErrorClass
  readonly target?: string
  readonly status?: number
  readonly xrpcError?: string
  readonly retryAfterMs?: number

  constructor(init: HostErrorInit) {
    const where = init.target === undefined ? '' : `${init.target}: `
    super(`${where}${init.detail}; ${ADVICE[init.class]}`, { cause: init.cause })
    this.class = init.class
    if (init.target !== undefined) this.target = init.target
    if (init.status !== undefined) this.status = init.status
    if (init.xrpcError !== undefined) this.xrpcError = init.xrpcError
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs
  }

  /** Whether trying again later can help without changing anything on our side. */
  get retryable(): boolean {
    return ['timeout', 'connect', 'reset', 'http_429', 'http_5xx'].includes(this.class)
  }

  toJSON(): Record<string, unknown> {
    return {
      class: this.class,
      status: this.status,
      xrpcError: this.xrpcError,
      retryAfterMs: this.retryAfterMs,
      message: this.message,
    }
  }
}

export function isHostError(err: unknown): err is HostError {
  return err instanceof HostError
}

/**
 * Parses `Retry-After` as delta-seconds or an HTTP-date; returns milliseconds from `nowMs`, clamped to
 * [0, capMs], or undefined when absent or unparseable.
 */
export function parseRetryAfter(
  value: string | undefined,
  nowMs = Date.now(),
  capMs = MAX_RETRY_AFTER_MS,
): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  let ms: number
  if (/^\d+$/.test(text)) ms = Number(text) * 1000
  else {
    // Only IMF-fixdate style dates (they always name a weekday and GMT); Date.parse accepts far more.
    if (!/^[A-Za-z]{3}, .+ GMT$/.test(text)) return undefined
    const at = Date.parse(text)
    if (Number.isNaN(at)) return undefined
    ms = at - nowMs
  }
  return Math.min(Math.max(ms, 0), capMs)
}

const XRPC_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/
const JWT_LIKE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g
const MAX_ECHO = 200

/** Host-supplied text made safe to log: JWT-shaped runs removed, control characters dropped, truncated. */
export function scrubHostText(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(JWT_LIKE, '[redacted]').replace(/[\x00-\x1f\x7f]/g, ' ')
  return clean.length > MAX_ECHO ? `${clean.slice(0, MAX_ECHO)}…` : clean
}

/** `{"error": Name, "message"?}` from an error body, when it is one. */
export function parseXrpcErrorBody(body: Uint8Array): { error: string; message?: string } | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  const { error, message } = parsed as Record<string, unknown>
  if (typeof error !== 'string' || !XRPC_NAME.test(error)) return undefined
  return typeof message === 'string' ? { error, message: scrubHostText(message) } : { error }
}

/**
 * The HostError for a non-2xx response: 429 and 5xx keep their own class (they say "back off" whatever the
 * body names), a 4xx with an XRPC error body is `xrpc_error`, any other 4xx is `http_4xx`.
 */
export function hostErrorFromStatus(
  status: number,
  retryAfter: string | undefined,
  body: Uint8Array,
  target: string,
): HostError {
  const xrpc = parseXrpcErrorBody(body)
  const cls: HostErrorClass =
    status === 429
      ? 'http_429'
      : status >= 500
        ? 'http_5xx'
        : status >= 400
          ? xrpc
            ? 'xrpc_error'
            : 'http_4xx'
          : 'bad_response'
  const named = xrpc ? ` ${xrpc.error}${xrpc.message ? ` (${xrpc.message})` : ''}` : ''
  const init: HostErrorInit = { class: cls, detail: `HTTP ${status}${named}`, target, status }
  if (xrpc) init.xrpcError = xrpc.error
  const wait = parseRetryAfter(retryAfter)
  if (wait !== undefined) init.retryAfterMs = wait
  return new HostError(init)
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NODATA',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
])
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'])
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$)/

/** Maps a Node network error to a HostError; an existing HostError passes through unchanged. */
export function hostErrorFromNetwork(err: unknown, target: string): HostError {
  if (isHostError(err)) return err
  const code = (err as { code?: unknown } | null)?.code
  const name = (err as { name?: unknown } | null)?.name
  const text = typeof code === 'string' ? code : 'network error'
  let cls: HostErrorClass = 'reset'
  if (name === 'AbortError') cls = 'aborted'
  else if (typeof code === 'string') {
    if (CONNECT_CODES.has(code)) cls = 'connect'
    else if (RESET_CODES.has(code)) cls = 'reset'
    else if (code === 'ETIMEDOUT') cls = 'timeout'
    else if (TLS_CODES.test(code)) cls = 'tls'
    else if (code.startsWith('HPE_')) cls = 'bad_response'
  }
  return new HostError({ class: cls, detail: text, target, cause: err })
}
