/**
 * What a failed com.atproto.space.* / simplespace call means for the crawler.
 *
 * The space client throws `SpaceCallError`, whose `kind` is the decision the crawler branches on (drop the
 * space, hide an author, refresh the credential, back off, ...). The transport details stay on the
 * underlying HostError (`cause`), whose `class` is the metric label. Invariants:
 * - Only `space_deleted` means "delete your copy"; nothing else is a deletion signal (spec §4.2, §7.3).
 * - Auth failures are attributed to what must be renewed: on the credential exchange the delegation token,
 *   elsewhere the space credential; DPoP failures are separate because they persist past a retry only when
 *   the key does not match the credential.
 * - `retryable` holds only for kinds where the same call may succeed later unchanged.
 */
import { isProtocolError } from '../protocol/errors.js'
import type { HostError } from './host-errors.js'

export const SPACE_ERROR_KINDS = [
  'space_deleted',
  'space_not_found',
  'repo_not_found',
  'repo_deactivated',
  'repo_takendown',
  'repo_suspended',
  'record_not_found',
  'credential_expired',
  'credential_invalid',
  'dpop_rejected',
  'delegation_rejected',
  'attestation_rejected',
  'user_not_authorized',
  'app_not_authorized',
  'not_authorized',
  'malformed_cursor',
  'service_not_resolvable',
  'not_supported',
  'bad_request',
  'rate_limited',
  'unavailable',
  'blocked_address',
  'bad_response',
  'cursor_loop',
  'page_limit',
  'aborted',
] as const

export type SpaceErrorKind = (typeof SPACE_ERROR_KINDS)[number]

const ADVICE: Record<SpaceErrorKind, string> = {
  space_deleted: 'the space was deleted: drop every copy and derived artefact of it',
  space_not_found: 'the host does not know this space (not a deletion signal); keep data and retry later',
  repo_not_found: 're-resolve the author DID (migration?) before concluding the repo is gone',
  repo_deactivated: 'hide the author until an account status event re-activates it',
  repo_takendown: 'hide the author until an account status event restores it',
  repo_suspended: 'hide the author until an account status event restores it',
  record_not_found: 'the record is absent at the host',
  credential_expired: 'refresh the space credential, then retry',
  credential_invalid: 'the credential was refused (wrong space or bad token): mint a new one',
  dpop_rejected: 'the DPoP proof was refused after a retry: mint a new credential with a new DPoP key',
  delegation_rejected: 'mint a fresh delegation token (single-use, 60 s) and retry the exchange',
  attestation_rejected: 'the client attestation was refused: check the app JWKS and attestation claims',
  user_not_authorized: 'this user may not read the space: try another user session; keep existing data',
  app_not_authorized: 'the space gates on app identity: add or fix the client attestation',
  not_authorized: 'refused by policy: try another user or app identity; keep existing data',
  malformed_cursor: 'restart paging from the stored since (drop the cursor)',
  service_not_resolvable: 'our notification service id does not resolve: fix our DID document',
  not_supported: 'the host does not implement this method',
  bad_request: 'the host rejected the request as malformed: this is a bug on our side',
  rate_limited: 'back off until Retry-After',
  unavailable: 'the host is unavailable: retry with backoff',
  blocked_address: 'the endpoint is not public and was not contacted: the DID document must change',
  bad_response: 'the host answered with an invalid response: treat it as faulty and retry with backoff',
  cursor_loop: 'the host repeated a pagination cursor: stop paging and retry later',
  page_limit: 'too many pages: stop and resume from the last stored position',
  aborted: 'cancelled by us',
}

const BY_NAME: Record<string, SpaceErrorKind> = {
  SpaceDeleted: 'space_deleted',
  SpaceNotFound: 'space_not_found',
  RepoNotFound: 'repo_not_found',
  RepoDeactivated: 'repo_deactivated',
  RepoTakendown: 'repo_takendown',
  RepoSuspended: 'repo_suspended',
  RecordNotFound: 'record_not_found',
  MalformedCursor: 'malformed_cursor',
  ServiceNotResolvable: 'service_not_resolvable',
  UserNotAuthorized: 'user_not_authorized',
  AppNotAuthorized: 'app_not_authorized',
  NotAuthorized: 'not_authorized',
  Forbidden: 'not_authorized',
  InvalidDelegationToken: 'delegation_rejected',
  InvalidClientAttestation: 'attestation_rejected',
  InvalidCredential: 'credential_invalid',
  InvalidRequest: 'bad_request',
  InvalidSpaceUri: 'bad_request',
  MethodNotImplemented: 'not_supported',
}

/** DPoP proof refusals (spec §3.5); `use_dpop_nonce` is the OAuth spelling, tolerated. */
const DPOP_ERROR_NAMES: ReadonlySet<string> = new Set([
  'MissingDpopProof',
  'BadDpopProof',
  'BadDpopProofSignature',
  'DpopProofExpired',
  'DpopKeyMismatch',
  'UseDpopNonce',
  'use_dpop_nonce',
])

/** Token refusals of the 401 AuthRequired family (spec §8.2), minus DPoP and expiry. */
const AUTH_ERROR_NAMES: ReadonlySet<string> = new Set([
  'AuthRequired',
  'AuthMissing',
  'MissingJwt',
  'BadJwt',
  'BadJwtType',
  'BadJwtIss',
  'BadJwtSub',
  'BadJwtAudience',
  'BadJwtCnf',
  'BadJwtSignature',
  'BadJwtLexiconMethod',
  'JwtReplayed',
  'InvalidToken',
  'ExpiredToken',
  'AccountTakedown',
  'AccountDeactivated',
])

export interface SpaceCallErrorInit {
  kind: SpaceErrorKind
  /** The XRPC method (NSID). */
  method: string
  detail: string
  status?: number
  xrpcError?: string
  retryAfterMs?: number
  cause?: unknown
}

export class SpaceCallError extends Error {
  override readonly name = 'SpaceCallError'
  readonly kind: SpaceErrorKind
  readonly method: string
  readonly status?: number
  readonly xrpcError?: string
  readonly retryAfterMs?: number

  constructor(init: SpaceCallErrorInit) {
    super(`${init.method}: ${init.detail} — ${ADVICE[init.kind]}`, { cause: init.cause })
    this.kind = init.kind
    this.method = init.method
    if (init.status !== undefined) this.status = init.status
    if (init.xrpcError !== undefined) this.xrpcError = init.xrpcError
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs
  }

  /** Whether the same call may succeed later unchanged (the queue's backoff applies). */
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'unavailable'
  }
}

export function isSpaceCallError(err: unknown): err is SpaceCallError {
  return err instanceof SpaceCallError
}

function kindOfAuthFailure(status: number, name: string | undefined, exchange: boolean): SpaceErrorKind {
  if (name !== undefined && DPOP_ERROR_NAMES.has(name)) return 'dpop_rejected'
  if (name === 'JwtExpired') return exchange ? 'delegation_rejected' : 'credential_expired'
  if ((name !== undefined && AUTH_ERROR_NAMES.has(name)) || status === 401) {
    return exchange ? 'delegation_rejected' : 'credential_invalid'
  }
  return status === 403 ? 'not_authorized' : 'bad_request'
}

/**
 * The kind of a HostError for `method`; `exchange` is true for getSpaceCredential, where the presented
 * token is the delegation token rather than the credential.
 */
export function spaceErrorKind(err: HostError, exchange: boolean): SpaceErrorKind {
  const name = err.xrpcError
  if (name !== undefined && BY_NAME[name] === 'not_supported') return 'not_supported'
  switch (err.class) {
    case 'http_429':
      return 'rate_limited'
    case 'http_5xx':
    case 'timeout':
    case 'connect':
    case 'reset':
    case 'tls':
      return 'unavailable'
    case 'blocked_address':
      return 'blocked_address'
    case 'aborted':
      return 'aborted'
    case 'too_large':
    case 'bad_json':
    case 'bad_response':
    case 'redirect':
      return 'bad_response'
    case 'xrpc_error':
    case 'http_4xx': {
      const named = name === undefined ? undefined : BY_NAME[name]
      return named ?? kindOfAuthFailure(err.status ?? 400, name, exchange)
    }
  }
}

export function spaceErrorFromHost(method: string, err: HostError, exchange = false): SpaceCallError {
  const init: SpaceCallErrorInit = {
    kind: spaceErrorKind(err, exchange),
    method,
    detail: err.message,
    cause: err,
  }
  if (err.status !== undefined) init.status = err.status
  if (err.xrpcError !== undefined) init.xrpcError = err.xrpcError
  if (err.retryAfterMs !== undefined) init.retryAfterMs = err.retryAfterMs
  return new SpaceCallError(init)
}

/** A response that arrived intact but does not have the promised shape (or fails protocol checks). */
export function badResponse(method: string, detail: string, cause?: unknown): SpaceCallError {
  const why = isProtocolError(cause) ? `${detail}: ${cause.message}` : detail
  return new SpaceCallError({ kind: 'bad_response', method, detail: why, cause })
}
