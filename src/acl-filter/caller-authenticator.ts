/**
 * Authenticates an API request as a user (atproto service auth) or as the holder of a space credential
 * (credential + DPoP proof), exactly as a repo host would accept each (spec §3.2, §3.4, §3.5).
 *
 *   Authorization: Bearer <service-auth JWT>   iss = caller DID, aud = one of our ids, lxm = called NSID
 *   Authorization: DPoP <space credential>     + header `DPoP: <proof>` (htm, htu = our origin + path, ath)
 *
 * Invariants:
 * - Service auth: `typ` JWT; `aud` one of ours; `lxm` equal to the called method; `iss` a bare DID (no
 *   `#service`); rejected once expired (no skew), when `iat`/`nbf` lies more than 5 s ahead, or when it
 *   would stay valid longer than `maxServiceAuthLifetimeSec`; signature under the issuer's current
 *   `#atproto` key (re-resolved once on failure); jti single-use across processes (Redis).
 * - Cheap checks run before the signature, so a malformed or misaddressed token costs no crypto, and a
 *   refused token's jti is recorded only once its signature is good (nobody can burn someone else's jti).
 * - Credentials: verified once (signature, issuer = authority, expiry) and kept in a bounded in-memory
 *   cache strictly until their `exp` (then verified afresh, so an expired one is refused); every request
 *   still needs a fresh DPoP proof by the bound key, whose jti is single-use (Redis). The credential admits
 *   its own space only (the ACL filter enforces that).
 * - One clock (`clock`, default Date.now) for every time check here and in the verifiers.
 * - Failures are CallerAuthErrors whose messages say what is wrong without echoing tokens.
 */
import { createHash } from 'node:crypto'
import { isIdentityError } from '../identity/identity-error.js'
import { verifyDpopProof } from '../protocol/dpop.js'
import { ProtocolError, isProtocolError } from '../protocol/errors.js'
import { parseJws } from '../protocol/jws.js'
import { verifyServiceAuth } from '../protocol/service-auth.js'
import { verifySpaceCredential } from '../protocol/space-credential.js'
import type { KeyResolver, ReplayCheck } from '../protocol/token-claims.js'
import { CallerAuthError, type Caller } from './caller.js'

/** Allowance for clocks ahead of ours on `iat` / `nbf` (the spec's space-token skew). */
export const FUTURE_SKEW_SEC = 5
export const DEFAULT_MAX_SERVICE_AUTH_LIFETIME_SEC = 300
export const DEFAULT_CREDENTIAL_CACHE_SIZE = 10_000

export interface CallerAuthenticatorOptions {
  /** `aud` values naming this service, e.g. `did:web:host` and `did:web:host#atproto_space_syncer`. */
  audiences: readonly string[]
  /** Our public origin; a DPoP proof's `htu` must be it plus the request path. */
  publicUrl: string
  resolveKey: KeyResolver
  replay: ReplayCheck
  maxServiceAuthLifetimeSec?: number
  credentialCacheSize?: number
  /** Current time in Unix ms (default Date.now). */
  clock?: () => number
}

/** The parts of an HTTP request authentication looks at. */
export interface AuthRequest {
  method: string
  /** URL path, without query. */
  path: string
  authorization?: string | undefined
  dpop?: string | undefined
}

interface CachedCredential {
  space: string
  jkt: string
  /** Unix ms; the entry is used strictly before it. */
  expiresAt: number
}

function fail(err: unknown): never {
  if (isProtocolError(err)) throw new CallerAuthError(err.reason, err.message, { cause: err })
  if (isIdentityError(err)) {
    throw new CallerAuthError(
      'issuer_unresolvable',
      "the token signer's DID document could not be fetched; retry later",
      { cause: err },
    )
  }
  throw err
}

function splitAuthorization(header: string): { scheme: string; token: string } {
  const space = header.indexOf(' ')
  if (space <= 0)
    throw new CallerAuthError(
      'unsupported_scheme',
      'Authorization must be "Bearer <jwt>" or "DPoP <credential>"',
    )
  return { scheme: header.slice(0, space).toLowerCase(), token: header.slice(space + 1).trim() }
}

export class CallerAuthenticator {
  private readonly audiences: ReadonlySet<string>
  private readonly firstAudience: string
  private readonly maxLifetimeSec: number
  private readonly cacheSize: number
  private readonly credentials = new Map<string, CachedCredential>()
  private readonly clock: () => number

  constructor(private readonly opts: CallerAuthenticatorOptions) {
    const [first] = opts.audiences
    if (first === undefined) throw new Error('at least one service audience is required')
    this.firstAudience = first
    this.audiences = new Set(opts.audiences)
    this.maxLifetimeSec = opts.maxServiceAuthLifetimeSec ?? DEFAULT_MAX_SERVICE_AUTH_LIFETIME_SEC
    this.cacheSize = opts.credentialCacheSize ?? DEFAULT_CREDENTIAL_CACHE_SIZE
    this.clock = opts.clock ?? Date.now
  }

  /** Authenticates a request to method `lxm` (its NSID). */
  async authenticate(req: AuthRequest, lxm: string): Promise<Caller> {
    if (req.authorization === undefined || req.authorization === '') {
      throw new CallerAuthError(
        'missing',
        'authentication required: send "Authorization: Bearer <service-auth JWT>" or a space credential with DPoP',
      )
    }
    const { scheme, token } = splitAuthorization(req.authorization)
    if (scheme === 'bearer') return this.serviceAuth(token, lxm)
    if (scheme === 'dpop') return this.credential(token, req)
    throw new CallerAuthError('unsupported_scheme', 'Authorization scheme must be Bearer or DPoP')
  }

  private async serviceAuth(token: string, lxm: string): Promise<Caller> {
    try {
      const { payload } = parseJws(token)
      const now = this.clock() / 1000
      for (const claim of ['iat', 'nbf'] as const) {
        const at = payload[claim]
        if (typeof at === 'number' && at > now + FUTURE_SKEW_SEC) {
          throw new ProtocolError(
            'token_not_yet_valid',
            `service auth token is not valid yet ("${claim}" is ${Math.ceil(at - now)} s in the future)`,
          )
        }
      }
      const aud = payload['aud']
      const audience = typeof aud === 'string' && this.audiences.has(aud) ? aud : this.firstAudience
      const verified = await verifyServiceAuth(token, {
        audience,
        lxm,
        resolveKey: this.opts.resolveKey,
        maxLifetimeSec: this.maxLifetimeSec,
        seen: this.opts.replay,
        now,
      })
      if (verified.claims.iss !== verified.issuerDid) {
        throw new ProtocolError('bad_token_issuer', 'service auth "iss" must be the calling user\'s bare DID')
      }
      return { kind: 'user', did: verified.issuerDid }
    } catch (err) {
      fail(err)
    }
  }

  private async credential(token: string, req: AuthRequest): Promise<Caller> {
    if (req.dpop === undefined || req.dpop === '') {
      throw new CallerAuthError('missing_dpop_proof', 'a space credential must come with a DPoP proof header')
    }
    try {
      const cred = await this.verifiedCredential(token)
      await verifyDpopProof(req.dpop, {
        htm: req.method,
        htu: new URL(req.path, this.opts.publicUrl).href,
        credential: { token, jkt: cred.jkt },
        seen: this.opts.replay,
        now: this.clock() / 1000,
      }).catch((err: unknown) => {
        // A reused proof is a bad proof, as the reference host reports it (the credential itself is fine).
        if (isProtocolError(err) && err.reason === 'token_replayed') {
          throw new ProtocolError('bad_dpop_proof', err.message)
        }
        throw err
      })
      return { kind: 'space_credential', space: cred.space, expiresAt: cred.expiresAt }
    } catch (err) {
      fail(err)
    }
  }

  private async verifiedCredential(token: string): Promise<CachedCredential> {
    const key = createHash('sha256').update(token).digest('base64url')
    const hit = this.credentials.get(key)
    if (hit !== undefined && this.clock() < hit.expiresAt) return hit
    this.credentials.delete(key)
    const verified = await verifySpaceCredential(token, {
      resolveKey: this.opts.resolveKey,
      now: this.clock() / 1000,
    })
    const entry: CachedCredential = {
      space: verified.claims.sub,
      jkt: verified.jkt,
      expiresAt: verified.claims.exp * 1000,
    }
    if (this.credentials.size >= this.cacheSize) {
      const oldest = this.credentials.keys().next().value
      if (oldest !== undefined) this.credentials.delete(oldest)
    }
    this.credentials.set(key, entry)
    return entry
  }
}
