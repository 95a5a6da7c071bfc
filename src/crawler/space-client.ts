/**
 * Typed client for the com.atproto.space.* methods (and simplespace.getSpace) that a syncer calls.
 *
 * Invariants:
 * - Every request carries a fresh DPoP proof: `htm` = the HTTP method, `htu` = origin + path (never the
 *   query), new `jti` and `iat` per attempt. Credential requests send `Authorization: DPoP <credential>`
 *   and a proof with `ath`; the credential exchange sends `Authorization: Bearer <delegation token>` and a
 *   proof without `ath` (spec §3.2, §3.5). Never the reverse.
 * - At most one retry, with a new proof, after a 401 DPoP timing/nonce refusal; the retry adopts the
 *   host's `DPoP-Nonce` and, if the host's Date header shows our clocks disagree by more than the allowed
 *   skew, dates the proof by the host's clock. Every other failure goes back to the caller as a
 *   SpaceCallError (the queue owns backoff).
 * - Every JSON output is shape-checked (space-responses) before it is returned; ops and commits come back
 *   parsed but unverified (the caller verifies commits against the author's key).
 * - Paging helpers keep the request fixed except for the cursor, stop on a short page or a missing
 *   cursor, refuse a cursor they have already sent, and stop after `maxPages`.
 * - `host` is an origin from a DID document (e.g. `DidDocumentView.pdsEndpoint()`); the HttpClient's
 *   endpoint policy decides whether it may be contacted.
 */
import {
  createDpopProof,
  DPOP_CLOCK_SKEW_SEC,
  type CreateDpopProofOptions,
  type DpopKey,
} from '../protocol/dpop.js'
import { isProtocolError } from '../protocol/errors.js'
import type { SignedCommit } from '../protocol/commit.js'
import { DEFAULT_MAX_CAR_BYTES } from '../protocol/repo-car.js'
import { canonicalSpaceUri } from '../protocol/space-uri.js'
import type { RequestOutcome } from '../metrics/labels.js'
import { isHostError } from './host-errors.js'
import {
  JSON_MAX_BYTES,
  readHostError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
  type HttpTimeouts,
  type ResponseBody,
} from './http-client.js'
import { SpaceCallError, badResponse, spaceErrorFromHost, type SpaceErrorKind } from './space-errors.js'
import {
  ShapeError,
  parseCredentialOutput,
  parseGetRecordOutput,
  parseGetSpaceOutput,
  parseLatestCommitOutput,
  parseListRecordsOutput,
  parseListRepoOpsOutput,
  parseListReposOutput,
  parseRegisterNotifyOutput,
  type FetchedRecord,
  type ListRecordsPage,
  type ListReposPage,
  type RepoOpsPage,
  type SpaceConfig,
} from './space-responses.js'

export const SPACE_METHODS = {
  getSpaceCredential: 'com.atproto.space.getSpaceCredential',
  listRepos: 'com.atproto.space.listRepos',
  getRepo: 'com.atproto.space.getRepo',
  listRepoOps: 'com.atproto.space.listRepoOps',
  getLatestCommit: 'com.atproto.space.getLatestCommit',
  getRecord: 'com.atproto.space.getRecord',
  listRecords: 'com.atproto.space.listRecords',
  registerNotify: 'com.atproto.space.registerNotify',
  unregisterNotify: 'com.atproto.space.unregisterNotify',
  getSpace: 'com.atproto.simplespace.getSpace',
} as const

/** Page sizes the lexicons default to (spec §8.1). */
export const DEFAULT_LIST_REPOS_LIMIT = 100
export const DEFAULT_LIST_REPO_OPS_LIMIT = 100
export const DEFAULT_MAX_PAGES = 10_000

/** Budgets for a getRepo download: the body may be large, so only silence is bounded tightly. */
export const CAR_TIMEOUTS: Partial<HttpTimeouts> = Object.freeze({ bodyIdleMs: 30_000, totalMs: 15 * 60_000 })

const CAR_MEDIA_TYPE = 'application/vnd.ipld.car'
const NONCE = /^[\x21-\x7e]{1,512}$/

/** A space credential and the DPoP key its `cnf.jkt` is bound to. */
export interface SpaceCredentialAuth {
  credential: string
  dpopKey: DpopKey
}

export interface SpaceClientOptions {
  http: HttpClient
  /** Cap for JSON outputs (default 4 MiB). */
  jsonMaxBytes?: number
  /** Cap for getRepo CARs (default: the CAR verifier's cap). */
  carMaxBytes?: number
  carTimeouts?: Partial<HttpTimeouts>
  /** Called once per call with its NSID, outcome and seconds until the response status (or failure). */
  observe?: (method: string, outcome: RequestOutcome, seconds: number) => void
}

interface Presented {
  scheme: 'DPoP' | 'Bearer'
  token: string
  dpopKey: DpopKey
  /** Adds `ath`: true for a credential, false on the exchange. */
  ath: boolean
}

type Params = Record<string, string | number | boolean | undefined>

interface Call {
  nsid: string
  method: 'GET' | 'POST'
  auth: Presented
  params?: Params
  body?: unknown
  accept: string
  maxBytes: number
  timeouts?: Partial<HttpTimeouts>
  signal?: AbortSignal | undefined
}

export interface ListReposArgs {
  space: string
  limit?: number
  cursor?: string
  signal?: AbortSignal
}

export interface ListRepoOpsArgs {
  space: string
  repo: string
  /** Our last verified rev: ops after it. Keep it fixed while paging. */
  since?: string
  cursor?: string
  limit?: number
  excludeValues?: boolean
  signal?: AbortSignal
}

interface PageArgs {
  /** Page size asked for; a page shorter than this ends paging. */
  limit?: number
  maxPages?: number
  signal?: AbortSignal
}

function credentialAuth(auth: SpaceCredentialAuth): Presented {
  return { scheme: 'DPoP', token: auth.credential, dpopKey: auth.dpopKey, ath: true }
}

function xrpcUrl(host: string, nsid: string, params: Params | undefined): URL {
  const url = new URL(`/xrpc/${nsid}`, host)
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value !== undefined) url.searchParams.set(name, String(value))
  }
  return url
}

/** Seconds to add to our clock to match the host's (from its Date header); 0 unless beyond the skew. */
function clockOffsetSec(date: string | undefined): number {
  const at = date === undefined ? NaN : Date.parse(date)
  if (Number.isNaN(at)) return 0
  const offset = (at - Date.now()) / 1000
  return Math.abs(offset) > DPOP_CLOCK_SKEW_SEC ? offset : 0
}

/**
 * DPoP refusals a new proof can fix: `iat` out of window (our clock or a slow queue), a replayed `jti`, a
 * nonce demand. `DpopKeyMismatch` and `MissingDpopProof` are not here: a new proof would fail the same way.
 */
const DPOP_RETRY_NAMES: ReadonlySet<string> = new Set([
  'BadDpopProof',
  'BadDpopProofSignature',
  'DpopProofExpired',
  'UseDpopNonce',
  'use_dpop_nonce',
])

function isDpopRetryable(res: HttpResponse, xrpcError: string | undefined): boolean {
  if (res.status !== 401) return false
  return (
    (xrpcError !== undefined && DPOP_RETRY_NAMES.has(xrpcError)) || res.headers['dpop-nonce'] !== undefined
  )
}

function pagingError(method: string, kind: SpaceErrorKind, detail: string): SpaceCallError {
  return new SpaceCallError({ kind, method, detail })
}

export class SpaceClient {
  private readonly http: HttpClient
  private readonly jsonMaxBytes: number
  private readonly carMaxBytes: number
  private readonly carTimeouts: Partial<HttpTimeouts>
  private readonly observe: NonNullable<SpaceClientOptions['observe']>

  constructor(opts: SpaceClientOptions) {
    this.http = opts.http
    this.observe = opts.observe ?? (() => undefined)
    this.jsonMaxBytes = opts.jsonMaxBytes ?? JSON_MAX_BYTES
    this.carMaxBytes = opts.carMaxBytes ?? DEFAULT_MAX_CAR_BYTES
    this.carTimeouts = opts.carTimeouts ?? CAR_TIMEOUTS
  }

  /** Sends one call, timed for the host request metric (`observe`). */
  private async send(host: string, call: Call): Promise<HttpResponse> {
    const started = performance.now()
    let outcome: RequestOutcome = 'error'
    try {
      const res = await this.attempt(host, call)
      outcome = 'ok'
      return res
    } finally {
      this.observe(call.nsid, outcome, (performance.now() - started) / 1000)
    }
  }

  /** One call plus at most one DPoP retry; returns the 2xx response or throws SpaceCallError. */
  private async attempt(host: string, call: Call): Promise<HttpResponse> {
    const url = xrpcUrl(host, call.nsid, call.params)
    const exchange = call.nsid === SPACE_METHODS.getSpaceCredential
    const proof: CreateDpopProofOptions = { htm: call.method, htu: url.href }
    if (call.auth.ath) proof.credential = call.auth.token
    let offsetSec = 0
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {
        authorization: `${call.auth.scheme} ${call.auth.token}`,
        dpop: await createDpopProof(call.auth.dpopKey, { ...proof, now: Date.now() / 1000 + offsetSec }),
        accept: call.accept,
      }
      const req: HttpRequest = { method: call.method, url, headers, maxBytes: call.maxBytes }
      if (call.body !== undefined) {
        headers['content-type'] = 'application/json'
        req.body = JSON.stringify(call.body)
      }
      if (call.timeouts !== undefined) req.timeouts = call.timeouts
      if (call.signal !== undefined) req.signal = call.signal
      let res: HttpResponse
      try {
        res = await this.http.request(req)
      } catch (err) {
        if (isHostError(err)) throw spaceErrorFromHost(call.nsid, err, exchange)
        throw err
      }
      if (res.status >= 200 && res.status < 300) return res
      const failure = await readHostError(res)
      if (attempt === 0 && isDpopRetryable(res, failure.xrpcError)) {
        const nonce = res.headers['dpop-nonce']
        if (nonce !== undefined && NONCE.test(nonce)) proof.nonce = nonce
        offsetSec = clockOffsetSec(res.headers['date'])
        continue
      }
      throw spaceErrorFromHost(call.nsid, failure, exchange)
    }
  }

  /** Sends a call and returns its JSON output run through `parse`; shape failures are `bad_response`. */
  private async json<T>(
    host: string,
    call: Omit<Call, 'accept' | 'maxBytes'>,
    parse: (body: unknown) => T,
  ): Promise<T> {
    const res = await this.send(host, { ...call, accept: 'application/json', maxBytes: this.jsonMaxBytes })
    let body: unknown
    try {
      body = await res.body.json()
    } catch (err) {
      if (isHostError(err)) throw spaceErrorFromHost(call.nsid, err)
      throw err
    }
    try {
      return parse(body)
    } catch (err) {
      if (err instanceof ShapeError || isProtocolError(err)) {
        throw badResponse(call.nsid, `output has the wrong shape (${err.message})`)
      }
      throw err
    }
  }

  /**
   * Exchanges a delegation token for a space credential bound to `dpopKey` (spec §3.2). The credential is
   * returned as received; verify it with protocol/space-credential before relying on its claims.
   */
  async getSpaceCredential(
    host: string,
    args: {
      space: string
      delegationToken: string
      dpopKey: DpopKey
      clientAttestation?: string
      signal?: AbortSignal
    },
  ): Promise<string> {
    const body: Record<string, string> = { space: canonicalSpaceUri(args.space) }
    if (args.clientAttestation !== undefined) body.clientAttestation = args.clientAttestation
    return this.json(
      host,
      {
        nsid: SPACE_METHODS.getSpaceCredential,
        method: 'POST',
        auth: { scheme: 'Bearer', token: args.delegationToken, dpopKey: args.dpopKey, ath: false },
        body,
        signal: args.signal,
      },
      parseCredentialOutput,
    )
  }

  /** One page of the writer set (space host). */
  async listRepos(host: string, auth: SpaceCredentialAuth, args: ListReposArgs): Promise<ListReposPage> {
    const page = await this.json(
      host,
      {
        nsid: SPACE_METHODS.listRepos,
        method: 'GET',
        auth: credentialAuth(auth),
        params: { space: canonicalSpaceUri(args.space), limit: args.limit, cursor: args.cursor },
        signal: args.signal,
      },
      parseListReposOutput,
    )
    if (page.cursor !== undefined && page.cursor === args.cursor) {
      throw pagingError(SPACE_METHODS.listRepos, 'cursor_loop', 'the host returned the cursor it was sent')
    }
    return page
  }

  /** Every page of the writer set, in order (spec §4.3: page by cursor until a short page). */
  listReposPages(
    host: string,
    auth: SpaceCredentialAuth,
    args: { space: string } & PageArgs,
  ): AsyncGenerator<ListReposPage, void, undefined> {
    const limit = args.limit ?? DEFAULT_LIST_REPOS_LIMIT
    return this.pages(
      SPACE_METHODS.listRepos,
      limit,
      args.maxPages,
      (page) => page.repos.length,
      (cursor) => {
        const req: ListReposArgs = { space: args.space, limit }
        if (cursor !== undefined) req.cursor = cursor
        if (args.signal !== undefined) req.signal = args.signal
        return this.listRepos(host, auth, req)
      },
    )
  }

  /**
   * Streams a repo CAR (repo host). Feed the returned body to `openRepoCar`; transport failures while
   * reading surface from the iterator as HostErrors. Call `discard()` if the body is abandoned unread.
   */
  async getRepo(
    host: string,
    auth: SpaceCredentialAuth,
    args: { space: string; repo: string; excludeValues?: boolean; signal?: AbortSignal },
  ): Promise<ResponseBody> {
    const res = await this.send(host, {
      nsid: SPACE_METHODS.getRepo,
      method: 'GET',
      auth: credentialAuth(auth),
      params: {
        space: canonicalSpaceUri(args.space),
        repo: args.repo,
        excludeValues: args.excludeValues ? true : undefined,
      },
      accept: CAR_MEDIA_TYPE,
      maxBytes: this.carMaxBytes,
      timeouts: this.carTimeouts,
      signal: args.signal,
    })
    const type = res.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
    if (type !== CAR_MEDIA_TYPE) {
      res.body.discard()
      throw badResponse(
        SPACE_METHODS.getRepo,
        `content type is ${JSON.stringify(type ?? null)}, not ${CAR_MEDIA_TYPE}`,
      )
    }
    return res.body
  }

  /** One page of a repo's oplog (repo host). Ops and commit are parsed, not verified. */
  async listRepoOps(host: string, auth: SpaceCredentialAuth, args: ListRepoOpsArgs): Promise<RepoOpsPage> {
    const page = await this.json(
      host,
      {
        nsid: SPACE_METHODS.listRepoOps,
        method: 'GET',
        auth: credentialAuth(auth),
        params: {
          space: canonicalSpaceUri(args.space),
          repo: args.repo,
          since: args.since,
          cursor: args.cursor,
          limit: args.limit,
          excludeValues: args.excludeValues ? true : undefined,
        },
        signal: args.signal,
      },
      parseListRepoOpsOutput,
    )
    if (page.cursor !== undefined && page.cursor === args.cursor) {
      throw pagingError(SPACE_METHODS.listRepoOps, 'cursor_loop', 'the host returned the cursor it was sent')
    }
    return page
  }

  /**
   * Every page of a repo's oplog after `since` (kept fixed, spec §4.5), following cursors until a short
   * page; the last page carries the head commit when the repo exists.
   */
  listRepoOpsPages(
    host: string,
    auth: SpaceCredentialAuth,
    args: { space: string; repo: string; since?: string; excludeValues?: boolean } & PageArgs,
  ): AsyncGenerator<RepoOpsPage, void, undefined> {
    const limit = args.limit ?? DEFAULT_LIST_REPO_OPS_LIMIT
    return this.pages(
      SPACE_METHODS.listRepoOps,
      limit,
      args.maxPages,
      (page) => page.ops.length,
      (cursor) => {
        const req: ListRepoOpsArgs = { space: args.space, repo: args.repo, limit }
        if (args.since !== undefined) req.since = args.since
        if (cursor !== undefined) req.cursor = cursor
        if (args.excludeValues !== undefined) req.excludeValues = args.excludeValues
        if (args.signal !== undefined) req.signal = args.signal
        return this.listRepoOps(host, auth, req)
      },
    )
  }

  private async *pages<P extends { cursor?: string }>(
    method: string,
    limit: number,
    maxPages: number = DEFAULT_MAX_PAGES,
    size: (page: P) => number,
    fetchPage: (cursor: string | undefined) => Promise<P>,
  ): AsyncGenerator<P, void, undefined> {
    const sent = new Set<string>()
    let cursor: string | undefined
    for (let n = 0; ; n++) {
      if (n >= maxPages) throw pagingError(method, 'page_limit', `stopped after ${maxPages} pages`)
      const page = await fetchPage(cursor)
      const more = page.cursor !== undefined && size(page) >= limit
      // A cursor we already sent would replay pages we already yielded; refuse it before yielding.
      if (more && sent.has(page.cursor as string)) {
        throw pagingError(method, 'cursor_loop', `the host repeated an earlier cursor after ${n + 1} pages`)
      }
      yield page
      if (!more) return
      cursor = page.cursor as string
      sent.add(cursor)
    }
  }

  /** The repo's current signed commit (repo host); parsed, not verified. */
  async getLatestCommit(
    host: string,
    auth: SpaceCredentialAuth,
    args: { space: string; repo: string; signal?: AbortSignal },
  ): Promise<SignedCommit> {
    return this.json(
      host,
      {
        nsid: SPACE_METHODS.getLatestCommit,
        method: 'GET',
        auth: credentialAuth(auth),
        params: { space: canonicalSpaceUri(args.space), repo: args.repo },
        signal: args.signal,
      },
      parseLatestCommitOutput,
    )
  }

  /** One record (repo host); the returned URI is checked to name the requested record. */
  async getRecord(
    host: string,
    auth: SpaceCredentialAuth,
    args: { space: string; repo: string; collection: string; rkey: string; signal?: AbortSignal },
  ): Promise<FetchedRecord> {
    const space = canonicalSpaceUri(args.space)
    const want = { space, repo: args.repo, collection: args.collection, rkey: args.rkey }
    return this.json(
      host,
      {
        nsid: SPACE_METHODS.getRecord,
        method: 'GET',
        auth: credentialAuth(auth),
        params: want,
        signal: args.signal,
      },
      (body) => parseGetRecordOutput(body, want),
    )
  }

  /** One page of records (repo host). */
  async listRecords(
    host: string,
    auth: SpaceCredentialAuth,
    args: {
      space: string
      repo: string
      collection?: string
      limit?: number
      cursor?: string
      reverse?: boolean
      excludeValues?: boolean
      signal?: AbortSignal
    },
  ): Promise<ListRecordsPage> {
    const page = await this.json(
      host,
      {
        nsid: SPACE_METHODS.listRecords,
        method: 'GET',
        auth: credentialAuth(auth),
        params: {
          space: canonicalSpaceUri(args.space),
          repo: args.repo,
          collection: args.collection,
          limit: args.limit,
          cursor: args.cursor,
          reverse: args.reverse,
          excludeValues: args.excludeValues,
        },
        signal: args.signal,
      },
      parseListRecordsOutput,
    )
    if (page.cursor !== undefined && page.cursor === args.cursor) {
      throw pagingError(SPACE_METHODS.listRecords, 'cursor_loop', 'the host returned the cursor it was sent')
    }
    return page
  }

  /** Registers `service` (e.g. `did:web:host#atproto_space_syncer`) for notifications (space host). */
  async registerNotify(
    host: string,
    auth: SpaceCredentialAuth,
    args: { space: string; service: string; signal?: AbortSignal },
  ): Promise<{ expiresAt: Date }> {
    return this.json(
      host,
      {
        nsid: SPACE_METHODS.registerNotify,
        method: 'POST',
        auth: credentialAuth(auth),
        body: { space: canonicalSpaceUri(args.space), service: args.service },
        signal: args.signal,
      },
      parseRegisterNotifyOutput,
    )
  }

  /** Removes a notification registration (space host); idempotent. */
  async unregisterNotify(
    host: string,
    auth: SpaceCredentialAuth,
    args: { space: string; service: string; signal?: AbortSignal },
  ): Promise<void> {
    const res = await this.send(host, {
      nsid: SPACE_METHODS.unregisterNotify,
      method: 'POST',
      auth: credentialAuth(auth),
      body: { space: canonicalSpaceUri(args.space), service: args.service },
      accept: 'application/json',
      maxBytes: this.jsonMaxBytes,
      signal: args.signal,
    })
    // No output is defined; whatever the host sent is of no use.
    res.body.discard()
  }

  /** The space's policy and app-access configuration (simplespace, space host). */
  async getSpace(
    host: string,
    auth: SpaceCredentialAuth,
    args: { space: string; signal?: AbortSignal },
  ): Promise<SpaceConfig> {
    const space = canonicalSpaceUri(args.space)
    return this.json(
      host,
      {
        nsid: SPACE_METHODS.getSpace,
        method: 'GET',
        auth: credentialAuth(auth),
        params: { space },
        signal: args.signal,
      },
      (body) => parseGetSpaceOutput(body, space),
    )
  }
}
