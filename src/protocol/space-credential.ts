/**
 * Space credential: the authority's grant of read access to a whole space, bound to the holder's DPoP key.
 * Multi-use across every repo host of the space; it carries no `aud` and names no user.
 *
 *   header  {alg: ES256K|ES256, typ: "atproto-space-credential+jwt", kid: "#atproto" | "#atproto_space"}
 *   payload {iss: spaceDid, sub: spaceRef, cnf: {jkt}, iat, exp: iat+7200, jti}
 *
 * Invariants checked on verify: typ exact; kid names the exact key (no fallback); `cnf.jkt` present;
 * `sub` is a space ref and `iss` equals its authority DID; `exp` not passed by more than 5 s; the space
 * equals the expected one if given; strict (low-S, 64-byte) signature under `iss`'s `kid` key. The DPoP
 * proof that must accompany it is checked separately (dpop.ts) against the returned `jkt`.
 */
import type { Signer } from '@atproto/crypto'
import { randomBytes } from 'node:crypto'
import { ProtocolError } from './errors.js'
import { signJws, type JsonObject } from './jws.js'
import { parseSpaceUri, type SpaceRef } from './space-uri.js'
import {
  SPACE_TOKEN_CLOCK_SKEW_SEC,
  checkExpectedSpace,
  parseSpaceToken,
  spaceKeyIdOf,
  spaceSubject,
  type SpaceKeyId,
} from './space-token.js'
import {
  checkNotExpired,
  dateClaim,
  optionalDateClaim,
  optionalStringClaim,
  stringClaim,
  unixNow,
  verifyIssuerSignature,
  type KeyResolver,
} from './token-claims.js'

export const SPACE_CREDENTIAL_TYP = 'atproto-space-credential+jwt'
export const SPACE_CREDENTIAL_LIFETIME_SEC = 7200

const WHAT = 'space credential'
const JKT = /^[A-Za-z0-9_-]{43}$/

export interface SpaceCredentialClaims {
  iss: string
  sub: string
  cnf: { jkt: string }
  iat?: number
  exp: number
  jti?: string
}

export interface CreateSpaceCredentialOptions {
  /** The authority's signing key (the key `kid` names in its DID document). */
  keypair: Signer
  /** Canonical space ref; the issuer is its authority DID. */
  space: string
  /** RFC 7638 thumbprint of the holder's DPoP key. */
  jkt: string
  kid?: SpaceKeyId
  now?: number
  expiresInSec?: number
  jti?: string
}

export async function createSpaceCredential(opts: CreateSpaceCredentialOptions): Promise<string> {
  const space = parseSpaceUri(opts.space)
  if (!JKT.test(opts.jkt))
    throw new ProtocolError('bad_token_cnf', `${WHAT} "jkt" must be a SHA-256 JWK thumbprint`)
  const iat = unixNow(opts.now)
  const claims: SpaceCredentialClaims = {
    iss: space.did,
    sub: opts.space,
    cnf: { jkt: opts.jkt },
    iat,
    exp: iat + (opts.expiresInSec ?? SPACE_CREDENTIAL_LIFETIME_SEC),
    jti: opts.jti ?? randomBytes(16).toString('hex'),
  }
  const kid = spaceKeyIdOf(opts.kid ?? '#atproto', WHAT)
  return signJws({ typ: SPACE_CREDENTIAL_TYP, kid }, { ...claims }, opts.keypair)
}

export interface VerifySpaceCredentialOptions {
  resolveKey: KeyResolver
  /** The space the request is about; `sub` must equal it exactly. */
  space?: string
  now?: number
}

export interface VerifiedSpaceCredential {
  claims: SpaceCredentialClaims
  space: SpaceRef
  keyId: SpaceKeyId
  /** Thumbprint the accompanying DPoP proof's key must have. */
  jkt: string
}

function cnfJkt(payload: JsonObject): string {
  const cnf = payload['cnf']
  const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as JsonObject)['jkt'] : undefined
  if (typeof jkt !== 'string' || jkt.length === 0) {
    throw new ProtocolError('bad_token_cnf', `${WHAT} is not bound to a key (no "cnf.jkt")`)
  }
  return jkt
}

export async function verifySpaceCredential(
  token: string,
  opts: VerifySpaceCredentialOptions,
): Promise<VerifiedSpaceCredential> {
  const { jws, keyId } = parseSpaceToken(token, SPACE_CREDENTIAL_TYP, WHAT)
  const { payload } = jws
  const iss = stringClaim(payload, 'iss', 'bad_token_issuer', WHAT)
  const { sub, space } = spaceSubject(jws, WHAT)
  const exp = dateClaim(payload, 'exp', WHAT)
  const iat = optionalDateClaim(payload, 'iat', WHAT)
  const jti = optionalStringClaim(payload, 'jti', WHAT)
  const jkt = cnfJkt(payload)

  checkNotExpired(exp, unixNow(opts.now), SPACE_TOKEN_CLOCK_SKEW_SEC, WHAT)
  if (iss !== space.did) {
    throw new ProtocolError('bad_token_issuer', `${WHAT} issuer is not the authority of the space it names`)
  }
  checkExpectedSpace(sub, opts.space, WHAT)

  await verifyIssuerSignature(jws, iss, keyId, opts.resolveKey, {
    policy: 'strict',
    what: WHAT,
    missingKeyReason: 'bad_token_kid',
  })

  const claims: SpaceCredentialClaims = { iss, sub, cnf: { jkt }, exp }
  if (iat !== undefined) claims.iat = iat
  if (jti !== undefined) claims.jti = jti
  return { claims, space, keyId, jkt }
}
