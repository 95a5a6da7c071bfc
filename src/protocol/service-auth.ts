/**
 * atproto service auth: the short-lived inter-service JWT a server sends as `Authorization: Bearer`
 * (e.g. an authority's `notifyWrite` / `notifySpaceDeleted` to a syncer).
 *
 *   header  {typ: "JWT", alg: ES256K|ES256}
 *   payload {iat, iss: did | did#service, aud: receiver service id, exp: iat+60, lxm: called NSID, jti}
 *
 * Invariants checked on verify: `typ` is "JWT" (any case) or absent; `iss` is a DID optionally followed by
 * one non-empty `#fragment`; `aud` equals ours exactly; `lxm` equals the called method when one is expected;
 * rejected once `now > exp` (no skew); optional cap on remaining lifetime; signature under the issuer DID's
 * `#atproto` key (`#atproto_label` for a `#atproto_labeler` issuer), lenient like upstream: high-S accepted,
 * DER still rejected. The returned `jti` (if any) is for the caller's replay tracking; with `seen` a jti is
 * required.
 */
import type { Signer } from '@atproto/crypto'
import { isValidDid } from '@atproto/syntax'
import { randomBytes } from 'node:crypto'
import { ProtocolError } from './errors.js'
import { atprotoAlgOf, parseJws, signJws, type ParsedJws } from './jws.js'
import {
  checkReplay,
  dateClaim,
  optionalDateClaim,
  optionalStringClaim,
  stringClaim,
  unixNow,
  verifyIssuerSignature,
  type KeyResolver,
  type ReplayCheck,
} from './token-claims.js'

export const SERVICE_AUTH_LIFETIME_SEC = 60

const WHAT = 'service auth token'

export interface ServiceAuthClaims {
  iss: string
  aud: string
  exp: number
  iat?: number
  lxm?: string
  jti?: string
}

export interface CreateServiceAuthOptions {
  /** The issuer's `#atproto` signing key. */
  keypair: Signer
  iss: string
  aud: string
  lxm?: string
  now?: number
  expiresInSec?: number
  jti?: string
}

export async function createServiceAuth(opts: CreateServiceAuthOptions): Promise<string> {
  splitIssuer(opts.iss)
  const iat = unixNow(opts.now)
  const claims: ServiceAuthClaims = {
    iat,
    iss: opts.iss,
    aud: opts.aud,
    exp: iat + (opts.expiresInSec ?? SERVICE_AUTH_LIFETIME_SEC),
    jti: opts.jti ?? randomBytes(16).toString('hex'),
  }
  if (opts.lxm !== undefined) claims.lxm = opts.lxm
  return signJws({ typ: 'JWT' }, { ...claims }, opts.keypair)
}

export interface VerifyServiceAuthOptions {
  /** Our own service id (e.g. `did:web:host#atproto_space_syncer`); `aud` must equal it exactly. */
  audience: string
  /** NSID of the method being called; when given, `lxm` must equal it. */
  lxm?: string
  /** When given, `iss` must equal it exactly (e.g. the authority DID of the notified space). */
  issuer?: string
  resolveKey: KeyResolver
  now?: number
  /** Reject tokens whose `exp` lies more than this many seconds after `now`. */
  maxLifetimeSec?: number
  seen?: ReplayCheck
  /**
   * Tokens whose signature verified before, by their exact text: a hit skips the signature check (and the
   * key lookup), nothing else. For receivers whose senders reuse a token for many calls and that can
   * accept a token signed by a key rotated away minutes ago (hints); never for anything destructive.
   */
  signatureMemo?: SignatureMemo
}

export interface SignatureMemo {
  has(token: string): boolean
  /** Records a token whose signature just verified; `exp` (unix seconds) bounds how long it is kept. */
  add(token: string, exp: number): void
}

export interface VerifiedServiceAuth {
  claims: ServiceAuthClaims
  /** `iss` without its `#fragment`: the DID whose key signed the token. */
  issuerDid: string
}

/** Splits `did` / `did#frag`, rejecting anything else. */
export function splitIssuer(iss: string): { did: string; fragment?: string } {
  const hash = iss.indexOf('#')
  const did = hash === -1 ? iss : iss.slice(0, hash)
  const fragment = hash === -1 ? undefined : iss.slice(hash + 1)
  if (!isValidDid(did) || fragment === '' || fragment?.includes('#')) {
    throw new ProtocolError('bad_token_issuer', `${WHAT} "iss" must be a DID or DID#service`)
  }
  return fragment === undefined ? { did } : { did, fragment }
}

/** The verification method that signs for an issuer: labelers use `#atproto_label`, everyone else `#atproto`. */
export function serviceAuthKeyId(fragment: string | undefined): string {
  return fragment === 'atproto_labeler' ? '#atproto_label' : '#atproto'
}

function checkType(jws: ParsedJws): void {
  const typ = jws.header['typ']
  if (typ === undefined || (typeof typ === 'string' && typ.toLowerCase() === 'jwt')) return
  const shown = typeof typ === 'string' && /^[\w.+-]{1,64}$/.test(typ) ? `"${typ}"` : 'this value'
  throw new ProtocolError('bad_token_type', `${WHAT} header "typ" must be "JWT" or absent, not ${shown}`)
}

function readClaims(jws: ParsedJws): ServiceAuthClaims {
  const { payload } = jws
  const claims: ServiceAuthClaims = {
    iss: stringClaim(payload, 'iss', 'bad_token_issuer', WHAT),
    aud: stringClaim(payload, 'aud', 'bad_token_audience', WHAT),
    exp: dateClaim(payload, 'exp', WHAT),
  }
  const iat = optionalDateClaim(payload, 'iat', WHAT)
  const lxm = optionalStringClaim(payload, 'lxm', WHAT)
  const jti = optionalStringClaim(payload, 'jti', WHAT)
  if (iat !== undefined) claims.iat = iat
  if (lxm !== undefined) claims.lxm = lxm
  if (jti !== undefined) claims.jti = jti
  return claims
}

function checkTimes(claims: ServiceAuthClaims, opts: VerifyServiceAuthOptions): void {
  const now = unixNow(opts.now)
  if (now > claims.exp) throw new ProtocolError('token_expired', `${WHAT} expired ${now - claims.exp} s ago`)
  if (opts.maxLifetimeSec !== undefined && claims.exp - now > opts.maxLifetimeSec) {
    throw new ProtocolError(
      'token_lifetime_too_long',
      `${WHAT} is valid for ${claims.exp - now} s more; at most ${opts.maxLifetimeSec} s is accepted`,
    )
  }
}

function checkAddressing(claims: ServiceAuthClaims, opts: VerifyServiceAuthOptions): void {
  if (claims.aud !== opts.audience)
    throw new ProtocolError('bad_token_audience', `${WHAT} is addressed to another service`)
  if (opts.lxm !== undefined && claims.lxm !== opts.lxm) {
    const detail = claims.lxm === undefined ? 'has no "lxm"' : 'is for a different method ("lxm")'
    throw new ProtocolError('bad_token_lxm', `${WHAT} ${detail}; expected ${opts.lxm}`)
  }
  if (opts.issuer !== undefined && claims.iss !== opts.issuer) {
    throw new ProtocolError('bad_token_issuer', `${WHAT} is issued by someone other than expected`)
  }
}

export async function verifyServiceAuth(
  token: string,
  opts: VerifyServiceAuthOptions,
): Promise<VerifiedServiceAuth> {
  const jws = parseJws(token)
  checkType(jws)
  atprotoAlgOf(jws)
  const claims = readClaims(jws)
  const { did, fragment } = splitIssuer(claims.iss)
  checkTimes(claims, opts)
  checkAddressing(claims, opts)
  if (opts.seen && claims.jti === undefined) {
    throw new ProtocolError('malformed_token', `${WHAT} has no "jti", so its reuse cannot be detected`)
  }

  if (!opts.signatureMemo?.has(token)) {
    await verifyIssuerSignature(jws, did, serviceAuthKeyId(fragment), opts.resolveKey, {
      policy: 'lenient',
      what: WHAT,
      missingKeyReason: 'bad_token_issuer',
    })
    opts.signatureMemo?.add(token, claims.exp)
  }
  if (claims.jti !== undefined) {
    await checkReplay(
      opts.seen,
      { kind: 'service_auth', iss: claims.iss, jti: claims.jti, expiresAt: claims.exp },
      WHAT,
    )
  }
  return { claims, issuerDid: did }
}
