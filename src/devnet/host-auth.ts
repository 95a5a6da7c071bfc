/**
 * Request authentication for devnet hosts, built on the protocol token verifiers:
 *
 * - space credential: `Authorization: DPoP <credential>` + `DPoP: <proof>` — credential checks (typ, cnf,
 *   iss == authority, expiry + 5 s, kid key, strict signature), then the proof (ES256, htm, htu = this
 *   host's public origin + path, iat window, `ath` required, jkt binding, jti single use). The handler
 *   then requires `sub` == the `space` parameter (400 InvalidCredential).
 * - delegation token (getSpaceCredential): `Authorization: Bearer <token>` + a proof without `ath`; the
 *   token's (iss, jti) is consumed only after the proof verified, so a bad proof does not burn the token.
 * - service auth (notifyWrite between hosts): Bearer JWT, signature by the issuer's `#atproto` key and
 *   `lxm`; the audience is checked by the handler (it depends on the body), as in the reference. A token
 *   whose signature verified is remembered until it expires (senders reuse a token for a while), so a
 *   repeat costs no signature check; a hit still re-checks `lxm`, expiry and the issuer's current key.
 * - member session: `Authorization: Bearer <access token>` handed out by devnet in place of OAuth, or a
 *   real OAuth session from the host's authorization server (`Authorization: DPoP <oauth access token>` +
 *   proof with ath and the server nonce, oauth-server.ts); it identifies an account for writes, delegation
 *   tokens, listSpaces, simplespace management and the owner's own reads (`read_self`). OAuth refusals are
 *   401 with the `WWW-Authenticate: DPoP error=…` challenge OAuth clients act on.
 *
 * Every failure is an XrpcError with the reference error name: 401 for the auth family (BadJwt*,
 * JwtExpired, JwtReplayed, DPoP errors, AuthMissing, AccountTakedown/Deactivated), 400 InvalidToken for an
 * unknown scheme or unknown session token.
 */
import { isProtocolError, type ProtocolError, type ProtocolErrorReason } from '../protocol/errors.js'
import { verifyDelegationToken } from '../protocol/delegation-token.js'
import { verifyDpopProof, type VerifiedDpopProof } from '../protocol/dpop.js'
import { parseJws, peekJwsHeader } from '../protocol/jws.js'
import { serviceAuthKeyId, splitIssuer, verifyServiceAuth } from '../protocol/service-auth.js'
import { SPACE_CREDENTIAL_TYP, verifySpaceCredential } from '../protocol/space-credential.js'
import { SPACE_TOKEN_CLOCK_SKEW_SEC } from '../protocol/space-token.js'
import { checkNotExpired, unixNow } from '../protocol/token-claims.js'
import type { Account, AccountRegistry } from './accounts.js'
import type { IdentityResolver } from './identity-resolver.js'
import { OAuthError, type DevnetOAuthServer } from './oauth-server.js'
import type { ReplayStore } from './replay-store.js'
import { XrpcError, type XrpcContext } from './xrpc-router.js'

export type ReadAuth =
  { kind: 'credential'; space: string; jkt: string } | { kind: 'session'; account: Account }

export interface DelegationAuth {
  userDid: string
  /** The delegation token's `sub`. */
  space: string
  /** Thumbprint of the proof key, to bind the credential to. */
  jkt: string
}

const TOKEN_ERRORS: Partial<Record<ProtocolErrorReason, string>> = {
  malformed_token: 'BadJwt',
  bad_token_type: 'BadJwtType',
  bad_token_alg: 'BadJwt',
  bad_token_kid: 'BadJwtIss',
  invalid_did_key: 'BadJwtIss',
  bad_token_signature: 'BadJwtSignature',
  token_expired: 'JwtExpired',
  token_not_yet_valid: 'BadJwt',
  bad_token_issuer: 'BadJwtIss',
  bad_token_subject: 'BadJwtSub',
  bad_token_audience: 'BadJwtAudience',
  bad_token_lxm: 'BadJwtLexiconMethod',
  bad_token_cnf: 'BadJwtCnf',
  token_replayed: 'JwtReplayed',
  token_lifetime_too_long: 'BadJwt',
}

const unauthorized = (error: string, message: string): XrpcError => new XrpcError(401, error, message)

interface CachedCredential {
  iss: string
  sub: string
  jkt: string
  exp: number
  keyId: string
  /** The issuer key the signature verified under. */
  didKey: string
}

const CREDENTIAL_CACHE_LIMIT = 10_000

interface CachedServiceAuth {
  iss: string
  aud: string
  lxm: string | undefined
  exp: number
  /** The DID and key id the signature verified under, and that key. */
  issuerDid: string
  keyId: string
  didKey: string
}

const SERVICE_AUTH_CACHE_LIMIT = 10_000

/** Maps a token verification failure to the reference's 401 error name. */
export function tokenError(err: unknown): XrpcError {
  if (!isProtocolError(err)) throw err
  return unauthorized(TOKEN_ERRORS[err.reason] ?? 'BadJwt', err.message)
}

/**
 * Maps a DPoP proof failure. dpop.ts reports all proof defects as `bad_dpop_proof`; the reference splits
 * out signature problems (incl. an iat in the future) and expiry, so the message decides those two.
 */
export function dpopError(err: unknown): XrpcError {
  if (!isProtocolError(err)) throw err
  const e = err as ProtocolError
  if (e.reason === 'dpop_key_mismatch') return unauthorized('DpopKeyMismatch', e.message)
  if (e.reason === 'bad_dpop_proof' && / s old; the limit is /.test(e.message)) {
    return unauthorized('DpopProofExpired', e.message)
  }
  if (
    e.reason === 'bad_dpop_proof' &&
    /signature does not verify|in the future|"alg" must be/.test(e.message)
  ) {
    return unauthorized('BadDpopProofSignature', e.message)
  }
  return unauthorized('BadDpopProof', e.message)
}

function splitAuthorization(ctx: XrpcContext): { scheme: string; token: string } {
  const header = ctx.headers['authorization']
  if (!header) throw unauthorized('AuthMissing', 'Authentication Required')
  const space = header.indexOf(' ')
  if (space < 0) throw new XrpcError(400, 'InvalidToken', 'Malformed authorization header')
  return { scheme: header.slice(0, space).toLowerCase(), token: header.slice(space + 1).trim() }
}

export class HostAuth {
  /**
   * Credentials whose signature already verified. A syncer presents one credential for thousands of reads;
   * re-running a secp256k1 verification each time would dominate devnet's CPU at scale. A hit still
   * re-checks expiry and that the issuer's current key is the one the signature verified under.
   */
  private readonly credentials = new Map<string, CachedCredential>()
  /** Service-auth tokens whose signature verified (see the module comment). */
  private readonly serviceTokens = new Map<string, CachedServiceAuth>()

  constructor(
    private readonly origin: string,
    private readonly accounts: AccountRegistry,
    private readonly resolver: IdentityResolver,
    private readonly replay: ReplayStore,
    private readonly oauth: DevnetOAuthServer,
  ) {}

  /** URL the DPoP `htu` must name: this host's public origin + the request path. */
  private htu(ctx: XrpcContext): string {
    return `${this.origin}${ctx.url.pathname}`
  }

  private proofHeader(ctx: XrpcContext): string {
    const proof = ctx.headers['dpop']
    if (typeof proof !== 'string' || proof.length === 0)
      throw unauthorized('MissingDpopProof', 'DPoP proof required')
    return proof
  }

  /** A space credential + DPoP proof (the credential's space is returned for the handler to compare). */
  async credential(ctx: XrpcContext): Promise<{ kind: 'credential'; space: string; jkt: string }> {
    const { scheme, token } = splitAuthorization(ctx)
    if (scheme !== 'dpop') {
      throw new XrpcError(400, 'InvalidToken', 'A space credential must be presented with the DPoP scheme')
    }
    return this.verifyCredential(ctx, token)
  }

  private async verifyCredential(
    ctx: XrpcContext,
    token: string,
  ): Promise<{ kind: 'credential'; space: string; jkt: string }> {
    let typ: unknown
    try {
      typ = peekJwsHeader(token)['typ']
    } catch {
      throw new XrpcError(400, 'InvalidToken', 'DPoP-scheme token is not a JWT')
    }
    if (typ !== SPACE_CREDENTIAL_TYP) {
      throw new XrpcError(400, 'InvalidToken', 'a DPoP-scheme token here must be a space credential')
    }
    let verified: CachedCredential
    try {
      verified = await this.verifiedCredential(token)
    } catch (err) {
      throw tokenError(err)
    }
    try {
      await verifyDpopProof(this.proofHeader(ctx), {
        htm: ctx.req.method ?? 'GET',
        htu: this.htu(ctx),
        credential: { token, jkt: verified.jkt },
        seen: this.replay.check,
      })
    } catch (err) {
      if (err instanceof XrpcError) throw err
      throw dpopError(err)
    }
    return { kind: 'credential', space: verified.sub, jkt: verified.jkt }
  }

  private async verifiedCredential(token: string): Promise<CachedCredential> {
    const hit = this.credentials.get(token)
    if (hit) {
      if ((await this.resolver.resolveKey(hit.iss, hit.keyId, false)) === hit.didKey) {
        checkNotExpired(hit.exp, unixNow(), SPACE_TOKEN_CLOCK_SKEW_SEC, 'space credential')
        return hit
      }
      this.credentials.delete(token)
    }
    const v = await verifySpaceCredential(token, { resolveKey: this.resolver.resolveKey })
    const didKey = await this.resolver.resolveKey(v.claims.iss, v.keyId, false)
    const entry: CachedCredential = {
      iss: v.claims.iss,
      sub: v.claims.sub,
      jkt: v.jkt,
      exp: v.claims.exp,
      keyId: v.keyId,
      didKey: didKey ?? '',
    }
    if (this.credentials.size >= CREDENTIAL_CACHE_LIMIT) {
      const oldest = this.credentials.keys().next().value
      if (oldest !== undefined) this.credentials.delete(oldest)
    }
    this.credentials.set(token, entry)
    return entry
  }

  /** A space credential, or the devnet session of an account (own-repo reads). */
  async read(ctx: XrpcContext): Promise<ReadAuth> {
    const { scheme, token } = splitAuthorization(ctx)
    if (scheme === 'dpop') return this.verifyCredential(ctx, token)
    if (scheme === 'bearer') {
      const account = this.sessionAccount(token)
      if (account.status === 'takendown') throw unauthorized('AccountTakedown', 'Account has been taken down')
      return { kind: 'session', account }
    }
    throw new XrpcError(400, 'InvalidToken', `Unsupported authorization scheme "${scheme}"`)
  }

  private sessionAccount(token: string): Account {
    const account = this.accounts.byAccessToken(token)
    if (!account || account.status === 'deleted') {
      throw new XrpcError(
        400,
        'InvalidToken',
        'Token could not be verified (devnet expects an account access token)',
      )
    }
    return account
  }

  /** An OAuth access token (DPoP scheme) issued by this host's authorization server. */
  private async oauthAccount(ctx: XrpcContext, token: string): Promise<Account> {
    if (!this.oauth.isAccessTokenShaped(token)) {
      throw new XrpcError(400, 'InvalidToken', 'DPoP-scheme token is not an OAuth access token of this host')
    }
    try {
      const proof = ctx.headers['dpop']
      return await this.oauth.verifyAccess(
        token,
        typeof proof === 'string' ? proof : undefined,
        ctx.req.method ?? 'GET',
        this.htu(ctx),
      )
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err
      throw new XrpcError(err.status, err.error, err.message, err.headers)
    }
  }

  /**
   * The member session: the devnet access token (Bearer) or an OAuth session (DPoP). `active` also refuses
   * deactivated accounts.
   */
  async session(ctx: XrpcContext, opts: { active?: boolean } = {}): Promise<Account> {
    const { scheme, token } = splitAuthorization(ctx)
    if (scheme !== 'bearer' && scheme !== 'dpop') {
      throw new XrpcError(400, 'InvalidToken', 'This method takes a member session (Bearer or OAuth DPoP)')
    }
    const account = scheme === 'dpop' ? await this.oauthAccount(ctx, token) : this.sessionAccount(token)
    if (account.status === 'takendown') throw unauthorized('AccountTakedown', 'Account has been taken down')
    if (opts.active && account.status === 'deactivated') {
      throw unauthorized('AccountDeactivated', 'Account is deactivated')
    }
    return account
  }

  /** getSpaceCredential: delegation token (Bearer) + DPoP proof without `ath`. */
  async delegation(ctx: XrpcContext): Promise<DelegationAuth> {
    const { scheme, token } = splitAuthorization(ctx)
    if (scheme !== 'bearer') {
      throw new XrpcError(
        400,
        'InvalidToken',
        'The delegation token must be presented with the Bearer scheme',
      )
    }
    let verified
    try {
      verified = await verifyDelegationToken(token, { resolveKey: this.resolver.resolveKey })
    } catch (err) {
      throw tokenError(err)
    }
    let proof: VerifiedDpopProof
    try {
      proof = await verifyDpopProof(this.proofHeader(ctx), {
        htm: 'POST',
        htu: this.htu(ctx),
        seen: this.replay.check,
      })
    } catch (err) {
      if (err instanceof XrpcError) throw err
      throw dpopError(err)
    }
    const { iss, jti, exp, sub } = verified.claims
    const replayed = await this.replay.check({
      kind: 'delegation',
      iss,
      jti,
      expiresAt: exp + SPACE_TOKEN_CLOCK_SKEW_SEC,
    })
    if (replayed) throw unauthorized('JwtReplayed', 'delegation token has already been used')
    return { userDid: iss, space: sub, jkt: proof.jkt }
  }

  /** Service auth for `lxm`; returns the claims for the handler's iss/aud checks. */
  async service(ctx: XrpcContext, lxm: string): Promise<{ iss: string; aud: string }> {
    const { scheme, token } = splitAuthorization(ctx)
    if (scheme !== 'bearer')
      throw new XrpcError(400, 'InvalidToken', 'Service auth must use the Bearer scheme')
    const hit = this.serviceTokens.get(token)
    if (
      hit &&
      hit.lxm === lxm &&
      unixNow() <= hit.exp &&
      (await this.resolver.resolveKey(hit.issuerDid, hit.keyId, false)) === hit.didKey
    ) {
      return { iss: hit.iss, aud: hit.aud }
    }
    if (hit) this.serviceTokens.delete(token)
    let aud: unknown
    try {
      aud = parseJws(token).payload['aud']
    } catch (err) {
      throw tokenError(err)
    }
    if (typeof aud !== 'string') throw unauthorized('BadJwtAudience', 'service auth token has no "aud"')
    let verified
    try {
      verified = await verifyServiceAuth(token, {
        audience: aud,
        lxm,
        resolveKey: this.resolver.resolveKey,
      })
    } catch (err) {
      throw tokenError(err)
    }
    const { claims, issuerDid } = verified
    const keyId = serviceAuthKeyId(splitIssuer(claims.iss).fragment)
    const didKey = await this.resolver.resolveKey(issuerDid, keyId, false)
    if (didKey !== null) {
      if (this.serviceTokens.size >= SERVICE_AUTH_CACHE_LIMIT) {
        const oldest = this.serviceTokens.keys().next().value
        if (oldest !== undefined) this.serviceTokens.delete(oldest)
      }
      this.serviceTokens.set(token, {
        iss: claims.iss,
        aud,
        lxm: claims.lxm,
        exp: claims.exp,
        issuerDid,
        keyId,
        didKey,
      })
    }
    return { iss: claims.iss, aud }
  }
}
