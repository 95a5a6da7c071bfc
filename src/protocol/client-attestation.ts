/**
 * Client attestation: an app proves its OAuth client identity to a space authority (sent in the
 * `getSpaceCredential` body as `clientAttestation`), signed with a key from the client's published JWKS.
 *
 *   header  {alg, typ: "atproto-client-attestation+jwt", kid: <JWKS kid>}
 *   payload {iss: client_id, sub: client_id, aud: "{spaceDid}#atproto_space_host", iat, exp, jti}
 *
 * Invariants checked on verify: bounded size; typ exact; `iss` == `sub` (== the expected client_id if
 * given); `aud` exact; `exp` and `jti` required; no clock skew (expired once `now >= exp`, as jose does);
 * signature under a public asymmetric key of the JWKS selected by `kid`. The JWKS is data: fetching client
 * metadata / `jwks_uri` is the caller's job. Single use per (client_id, jti) until `exp` via `seen`.
 */
import {
  SignJWT,
  createLocalJWKSet,
  errors,
  jwtVerify,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyOptions,
  type KeyObject,
} from 'jose'
import { randomBytes } from 'node:crypto'
import { ProtocolError, type ProtocolErrorReason } from './errors.js'
import { parseJws } from './jws.js'
import { spaceHostAudience } from './space-token.js'
import {
  checkReplay,
  dateClaim,
  optionalDateClaim,
  stringClaim,
  unixNow,
  type ReplayCheck,
} from './token-claims.js'

export const CLIENT_ATTESTATION_TYP = 'atproto-client-attestation+jwt'
export const CLIENT_ATTESTATION_LIFETIME_SEC = 60

/** Asymmetric JWS algorithms a client key may use (never `none` or HMAC). */
export const CLIENT_ATTESTATION_ALGS = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
] as const

const WHAT = 'client attestation'

export interface ClientAttestationClaims {
  iss: string
  sub: string
  aud: string
  iat?: number
  exp: number
  jti: string
}

export interface CreateClientAttestationOptions {
  /** The client's private signing key (its public half is in the client metadata JWKS). */
  privateKey: CryptoKey | KeyObject | JWK
  alg: (typeof CLIENT_ATTESTATION_ALGS)[number]
  /** `kid` of the key in the JWKS. */
  kid: string
  clientId: string
  /** Authority DID of the space; the audience is its `#atproto_space_host`. */
  spaceDid: string
  now?: number
  expiresInSec?: number
  jti?: string
}

export async function createClientAttestation(opts: CreateClientAttestationOptions): Promise<string> {
  const iat = unixNow(opts.now)
  const claims: ClientAttestationClaims = {
    iss: opts.clientId,
    sub: opts.clientId,
    aud: spaceHostAudience(opts.spaceDid),
    iat,
    exp: iat + (opts.expiresInSec ?? CLIENT_ATTESTATION_LIFETIME_SEC),
    jti: opts.jti ?? randomBytes(16).toString('hex'),
  }
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: opts.alg, typ: CLIENT_ATTESTATION_TYP, kid: opts.kid })
    .sign(opts.privateKey)
}

export interface VerifyClientAttestationOptions {
  /** The client's public keys (client metadata `jwks`, or the document at its `jwks_uri`). */
  jwks: JSONWebKeySet
  /** Authority DID of the space being asked; `aud` must be its `#atproto_space_host`. */
  spaceDid: string
  /** The client_id the caller resolved the JWKS for; `iss` must equal it. */
  clientId?: string
  now?: number
  seen?: ReplayCheck
}

export interface VerifiedClientAttestation {
  clientId: string
  claims: ClientAttestationClaims
}

function checkStructure(token: string, opts: VerifyClientAttestationOptions): ClientAttestationClaims {
  const { header, payload } = parseJws(token)
  if (header['typ'] !== CLIENT_ATTESTATION_TYP) {
    throw new ProtocolError('bad_token_type', `${WHAT} header "typ" must be "${CLIENT_ATTESTATION_TYP}"`)
  }
  const alg = header['alg']
  if (typeof alg !== 'string' || !(CLIENT_ATTESTATION_ALGS as readonly string[]).includes(alg)) {
    throw new ProtocolError('bad_token_alg', `${WHAT} "alg" must be an asymmetric signature algorithm`)
  }
  const iss = stringClaim(payload, 'iss', 'bad_token_issuer', WHAT)
  const sub = stringClaim(payload, 'sub', 'bad_token_subject', WHAT)
  const aud = stringClaim(payload, 'aud', 'bad_token_audience', WHAT)
  const exp = dateClaim(payload, 'exp', WHAT)
  const iat = optionalDateClaim(payload, 'iat', WHAT)
  const jti = stringClaim(payload, 'jti', 'malformed_token', WHAT)
  if (iss !== sub)
    throw new ProtocolError('bad_token_issuer', `${WHAT} "iss" and "sub" must both be the client_id`)
  if (opts.clientId !== undefined && iss !== opts.clientId) {
    throw new ProtocolError('bad_token_issuer', `${WHAT} is issued by a different client_id than expected`)
  }
  if (aud !== spaceHostAudience(opts.spaceDid)) {
    throw new ProtocolError(
      'bad_token_audience',
      `${WHAT} "aud" is not this space authority's #atproto_space_host`,
    )
  }
  const claims: ClientAttestationClaims = { iss, sub, aud, exp, jti }
  if (iat !== undefined) claims.iat = iat
  return claims
}

const CLAIM_REASONS: Record<string, ProtocolErrorReason> = {
  iss: 'bad_token_issuer',
  sub: 'bad_token_subject',
  aud: 'bad_token_audience',
  typ: 'bad_token_type',
  nbf: 'token_not_yet_valid',
  iat: 'token_not_yet_valid',
}

/** Maps a jose failure to our reasons; messages come from us, not from the token. */
function fromJoseError(err: unknown): ProtocolError {
  if (err instanceof errors.JWTExpired) return new ProtocolError('token_expired', `${WHAT} has expired`)
  if (err instanceof errors.JWTClaimValidationFailed) {
    const reason = CLAIM_REASONS[err.claim] ?? 'malformed_token'
    return new ProtocolError(reason, `${WHAT} claim "${err.claim}" failed validation (${err.reason})`)
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return new ProtocolError('bad_token_kid', `${WHAT} names no key of the client's JWKS that fits its alg`)
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return new ProtocolError('bad_token_alg', `${WHAT} "alg" is not supported`)
  }
  if (
    err instanceof errors.JWSSignatureVerificationFailed ||
    err instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return new ProtocolError(
      'bad_token_signature',
      `${WHAT} signature does not verify under the client's key`,
    )
  }
  if (err instanceof errors.JWKSInvalid || err instanceof errors.JWKInvalid) {
    return new ProtocolError('bad_token_kid', `the client's JWKS is not a set of usable public keys`)
  }
  return new ProtocolError('malformed_token', `${WHAT} could not be verified (not a well-formed signed JWT)`)
}

/**
 * Signature + claims via jose. When several JWKS keys fit (no `kid`, or a repeated one), each is tried in
 * turn, as jose's key-set error invites.
 */
async function verifyWithJwks(token: string, jwks: JSONWebKeySet, options: JWTVerifyOptions): Promise<void> {
  try {
    await jwtVerify(token, createLocalJWKSet(jwks), options)
    return
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw fromJoseError(err)
    let last: unknown = err
    for await (const key of err) {
      try {
        await jwtVerify(token, key, options)
        return
      } catch (inner) {
        last = inner
      }
    }
    throw fromJoseError(last)
  }
}

export async function verifyClientAttestation(
  token: string,
  opts: VerifyClientAttestationOptions,
): Promise<VerifiedClientAttestation> {
  const claims = checkStructure(token, opts)
  const now = unixNow(opts.now)
  if (claims.exp <= now) throw new ProtocolError('token_expired', `${WHAT} has expired`)
  await verifyWithJwks(token, opts.jwks, {
    algorithms: [...CLIENT_ATTESTATION_ALGS],
    typ: CLIENT_ATTESTATION_TYP,
    issuer: claims.iss,
    subject: claims.iss,
    audience: claims.aud,
    requiredClaims: ['exp', 'jti'],
    currentDate: new Date(now * 1000),
  })
  await checkReplay(
    opts.seen,
    { kind: 'client_attestation', iss: claims.iss, jti: claims.jti, expiresAt: claims.exp },
    WHAT,
  )
  return { clientId: claims.iss, claims }
}
