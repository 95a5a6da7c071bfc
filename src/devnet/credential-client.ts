/**
 * The client side of the credential flow, over real HTTP, the way an app does it: resolve the user's PDS
 * and the authority's space host from DID documents, mint a delegation token on the user's PDS
 * (`getDelegationToken`, devnet session as Bearer), exchange it at the space host (`getSpaceCredential`,
 * Bearer delegation token + DPoP proof without `ath`, optional client attestation), then make credential
 * requests (`Authorization: DPoP <credential>` + a fresh proof with `ath` per request).
 *
 * Invariants: `htu` is always origin + path of the URL actually requested; every request gets a new proof;
 * the space host is the authority's `#atproto_space_host` if published, else its `#atproto_pds` (SPEC §2.2).
 * Non-2xx answers throw `XrpcCallError` carrying the XRPC error name.
 */
import { createDpopProof, type DpopKey } from '../protocol/dpop.js'
import { parseSpaceUri } from '../protocol/space-uri.js'

export class XrpcCallError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(`${status} ${error}: ${message}`)
  }
}

interface DocLike {
  id: string
  service?: Array<{ id: string; type: string; serviceEndpoint: unknown }>
}

async function failure(res: Response): Promise<XrpcCallError> {
  const text = await res.text()
  try {
    const body = JSON.parse(text) as { error?: string; message?: string }
    return new XrpcCallError(res.status, body.error ?? 'Unknown', body.message ?? text)
  } catch {
    return new XrpcCallError(res.status, 'Unknown', text.slice(0, 200))
  }
}

/** Endpoint of service `#fragment` in `did`'s document, fetched from a PLC-style directory. */
export async function resolveService(plcUrl: string, did: string, fragments: string[]): Promise<string> {
  const res = await fetch(`${plcUrl}/${encodeURIComponent(did)}`)
  if (!res.ok) throw new Error(`cannot resolve ${did} at ${plcUrl}: HTTP ${res.status}`)
  const doc = (await res.json()) as DocLike
  for (const fragment of fragments) {
    const entry = doc.service?.find((s) => s.id === `#${fragment}` || s.id === `${did}#${fragment}`)
    if (entry && typeof entry.serviceEndpoint === 'string') return entry.serviceEndpoint.replace(/\/$/, '')
  }
  throw new Error(`${did} publishes none of ${fragments.map((f) => `#${f}`).join(', ')}`)
}

/** The space host of a space: `#atproto_space_host` of its authority, else `#atproto_pds`. */
export function resolveSpaceHost(plcUrl: string, space: string): Promise<string> {
  return resolveService(plcUrl, parseSpaceUri(space).did, ['atproto_space_host', 'atproto_pds'])
}

export async function fetchDelegationToken(
  pdsUrl: string,
  accessToken: string,
  space: string,
): Promise<string> {
  const res = await fetch(
    `${pdsUrl}/xrpc/com.atproto.space.getDelegationToken?${new URLSearchParams({ space })}`,
    {
      headers: { authorization: `Bearer ${accessToken}` },
    },
  )
  if (!res.ok) throw await failure(res)
  return ((await res.json()) as { token: string }).token
}

export interface ExchangeOptions {
  spaceHost: string
  space: string
  delegationToken: string
  dpopKey: DpopKey
  clientAttestation?: string
}

export async function exchangeForCredential(opts: ExchangeOptions): Promise<string> {
  const url = `${opts.spaceHost}/xrpc/com.atproto.space.getSpaceCredential`
  const proof = await createDpopProof(opts.dpopKey, { htm: 'POST', htu: url })
  const body: Record<string, string> = { space: opts.space }
  if (opts.clientAttestation !== undefined) body['clientAttestation'] = opts.clientAttestation
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${opts.delegationToken}`,
      dpop: proof,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw await failure(res)
  return ((await res.json()) as { credential: string }).credential
}

export interface ObtainCredentialOptions {
  /** PLC-style directory that resolves the user's and the authority's DIDs (devnet's `plcUrl`). */
  plcUrl: string
  /** The user on whose behalf the app asks, with a devnet session token. */
  account: { did: string; accessToken: string }
  space: string
  /** The app's DPoP key; the credential is bound to its thumbprint. */
  dpopKey: DpopKey
  /** Attestation for app-gated spaces: a token, or a function of the space's authority DID. */
  clientAttestation?: string | ((spaceDid: string) => Promise<string>)
}

export interface ObtainedCredential {
  credential: string
  spaceHost: string
}

/** Delegation token → getSpaceCredential, end to end over HTTP. */
export async function obtainSpaceCredential(opts: ObtainCredentialOptions): Promise<ObtainedCredential> {
  const pds = await resolveService(opts.plcUrl, opts.account.did, ['atproto_pds'])
  const spaceHost = await resolveSpaceHost(opts.plcUrl, opts.space)
  const delegationToken = await fetchDelegationToken(pds, opts.account.accessToken, opts.space)
  const attestation =
    typeof opts.clientAttestation === 'function'
      ? await opts.clientAttestation(parseSpaceUri(opts.space).did)
      : opts.clientAttestation
  const credential = await exchangeForCredential({
    spaceHost,
    space: opts.space,
    delegationToken,
    dpopKey: opts.dpopKey,
    ...(attestation !== undefined ? { clientAttestation: attestation } : {}),
  })
  return { credential, spaceHost }
}

export interface CredentialFetchOptions {
  credential: string
  dpopKey: DpopKey
  method?: 'GET' | 'POST'
  body?: unknown
}

/** One request authenticated by a space credential (fresh DPoP proof with `ath`). */
export async function credentialFetch(url: string, opts: CredentialFetchOptions): Promise<Response> {
  const method = opts.method ?? 'GET'
  const proof = await createDpopProof(opts.dpopKey, { htm: method, htu: url, credential: opts.credential })
  const headers: Record<string, string> = { authorization: `DPoP ${opts.credential}`, dpop: proof }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  return fetch(url, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  })
}

/** credentialFetch for JSON XRPC methods: throws XrpcCallError on failure. */
export async function credentialXrpc<T = unknown>(
  host: string,
  nsid: string,
  params: Record<string, string | number | boolean | undefined>,
  opts: CredentialFetchOptions,
): Promise<T> {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v))
  const query = opts.method === 'POST' || search.size === 0 ? '' : `?${search}`
  const res = await credentialFetch(`${host}/xrpc/${nsid}${query}`, opts)
  if (!res.ok) throw await failure(res)
  const text = await res.text()
  return (text ? JSON.parse(text) : undefined) as T
}
