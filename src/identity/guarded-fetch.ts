/**
 * `fetch` functions over our hostile-host HTTP client: `guardedFetch` for @atproto/identity's resolvers
 * (below), and `guardedRequestFetch` for the OAuth client library (GET/POST, every status returned).
 *
 * The library fetches `{plc}/{did}` and `https://{host}/.well-known/did.json`; routing those through
 * `HttpClient` gives DID resolution the same endpoint policy, DNS pinning, timeouts and byte cap as every
 * other outbound request (a did:web host is exactly as untrusted as a PDS). Invariants: GET only, no
 * redirects (the library asks for `redirect: 'error'`, and our client never follows one by default), the
 * body is read whole under `maxBytes` before a `Response` is built, and 429/5xx are thrown as HostErrors.
 */
import type { DidResolverOpts } from '@atproto/identity'
import { readHostError, type HttpClient, type HttpRequest } from '../crawler/http-client.js'

/** DID documents are small; the PLC directory's are well under this. */
export const DID_DOCUMENT_MAX_BYTES = 256 * 1024

export type IdentityFetch = NonNullable<DidResolverOpts['fetch']>

function headerRecord(init: ConstructorParameters<typeof Headers>[0]): Record<string, string> {
  return Object.fromEntries(new Headers(init).entries())
}

export function guardedFetch(http: HttpClient, maxBytes = DID_DOCUMENT_MAX_BYTES): IdentityFetch {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : input.toString()
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET')
    if (method !== 'GET') throw new TypeError('identity fetch supports GET only')
    const req: HttpRequest = {
      method: 'GET',
      url,
      headers: headerRecord(init?.headers ?? (input instanceof Request ? input.headers : undefined)),
      maxBytes,
    }
    const signal = init?.signal ?? undefined
    if (signal !== undefined) req.signal = signal
    const res = await http.request(req)
    // Surface "try again later" as a transport failure: the did:web resolver would otherwise read any
    // non-2xx as "no such DID", and a DID must not vanish from the crawl set because its host had a bad minute.
    if (res.status === 429 || res.status >= 500) throw await readHostError(res)
    const body = await res.body.bytes()
    // The Response constructor refuses a body (even an empty one) for these statuses.
    const nullBody = res.status === 204 || res.status === 205 || res.status === 304
    return new Response(nullBody ? null : body, { status: res.status, headers: res.headers })
  }
}

/** OAuth responses (metadata, PAR, tokens, resource answers) are small. */
export const OAUTH_RESPONSE_MAX_BYTES = 1024 * 1024

/**
 * The same guarded client as a general `fetch` for the OAuth client library: GET and POST with a body, and
 * every status returned as a Response (OAuth reads error bodies, `DPoP-Nonce` and `WWW-Authenticate`), so
 * authorization servers and PDSes are reached under the endpoint policy like every other host.
 */
export function guardedRequestFetch(
  http: HttpClient,
  maxBytes = OAUTH_RESPONSE_MAX_BYTES,
): (input: Request | URL | string, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const request = new Request(input, init)
    if (request.method !== 'GET' && request.method !== 'POST') {
      throw new TypeError(`guarded fetch supports GET and POST, not ${request.method}`)
    }
    const req: HttpRequest = {
      method: request.method,
      url: request.url,
      headers: headerRecord(request.headers),
      maxBytes,
    }
    if (request.method === 'POST') req.body = new Uint8Array(await request.arrayBuffer())
    if (init?.signal) req.signal = init.signal
    const res = await http.request(req)
    const body = await res.body.bytes()
    const nullBody = res.status === 204 || res.status === 205 || res.status === 304
    return new Response(nullBody ? null : body, { status: res.status, headers: res.headers })
  }
}
