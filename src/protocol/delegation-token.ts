/**
 * Delegation token: a user's PDS vouches that user `iss` asks for access to space `sub`. The app presents it
 * (as `Bearer`, with a DPoP proof) to the space authority in exchange for a space credential.
 *
 *   header  {alg: ES256K|ES256, typ: "atproto-space-delegation+jwt", kid: "#atproto"}
 *   payload {iss: userDid, sub: spaceRef, aud: "{spaceDid}#atproto_space_host", iat, exp: iat+60, jti}
 *
 * Invariants checked on verify: typ exact; kid `#atproto` or `#atproto_space`; `iss` is a DID; `sub` is a
 * space ref (and equals the expected space if one is given); `aud` equals the audience derived from `sub`'s
 * authority; `exp` not passed by more than 5 s; `jti` present; strict (low-S, 64-byte) signature under the
 * key `kid` names in `iss`'s DID document. Single use per (iss, jti) until `exp`: pass `seen` or record the
 * returned jti yourself (the reference authority records it only after the DPoP proof has been checked).
 */
import type { Signer } from '@atproto/crypto'
import { isValidDid } from '@atproto/syntax'
import { randomBytes } from 'node:crypto'
import { ProtocolError } from './errors.js'
import { signJws } from './jws.js'
import { parseSpaceUri, type SpaceRef } from './space-uri.js'
import {
  SPACE_TOKEN_CLOCK_SKEW_SEC,
  checkExpectedSpace,
  parseSpaceToken,
  spaceHostAudience,
  spaceKeyIdOf,
  spaceSubject,
  type SpaceKeyId,
} from './space-token.js'
import {
  checkNotExpired,
  checkReplay,
  dateClaim,
  optionalDateClaim,
  stringClaim,
  unixNow,
  verifyIssuerSignature,
  type KeyResolver,
  type ReplayCheck,
} from './token-claims.js'

export const DELEGATION_TOKEN_TYP = 'atproto-space-delegation+jwt'
export const DELEGATION_TOKEN_LIFETIME_SEC = 60

const WHAT = 'delegation token'

export interface DelegationTokenClaims {
  iss: string
  sub: string
  aud: string
  iat?: number
  exp: number
  jti: string
}

export interface CreateDelegationTokenOptions {
  /** The user's signing key (their DID document's `#atproto` key). */
  keypair: Signer
  /** The user's DID. */
  iss: string
  /** Canonical space ref. */
  space: string
  kid?: SpaceKeyId
  now?: number
  expiresInSec?: number
  jti?: string
}

export async function createDelegationToken(opts: CreateDelegationTokenOptions): Promise<string> {
  if (!isValidDid(opts.iss)) throw new ProtocolError('bad_token_issuer', `${WHAT} issuer must be a DID`)
  const space = parseSpaceUri(opts.space)
  const iat = unixNow(opts.now)
  const claims: DelegationTokenClaims = {
    iss: opts.iss,
    sub: opts.space,
    aud: spaceHostAudience(space.did),
    iat,
    exp: iat + (opts.expiresInSec ?? DELEGATION_TOKEN_LIFETIME_SEC),
    jti: opts.jti ?? randomBytes(16).toString('hex'),
  }
  const kid = spaceKeyIdOf(opts.kid ?? '#atproto', WHAT)
  return signJws({ typ: DELEGATION_TOKEN_TYP, kid }, { ...claims }, opts.keypair)
}

export interface VerifyDelegationTokenOptions {
  resolveKey: KeyResolver
  /** The space the request is about (e.g. the `space` body field); `sub` must equal it exactly. */
  space?: string
  now?: number
  /** Replay store; omit to record `(iss, jti)` yourself after the remaining request checks. */
  seen?: ReplayCheck
}

export interface VerifiedDelegationToken {
  claims: DelegationTokenClaims
  space: SpaceRef
  keyId: SpaceKeyId
}

export async function verifyDelegationToken(
  token: string,
  opts: VerifyDelegationTokenOptions,
): Promise<VerifiedDelegationToken> {
  const { jws, keyId } = parseSpaceToken(token, DELEGATION_TOKEN_TYP, WHAT)
  const { payload } = jws
  const iss = stringClaim(payload, 'iss', 'bad_token_issuer', WHAT)
  const { sub, space } = spaceSubject(jws, WHAT)
  const aud = stringClaim(payload, 'aud', 'bad_token_audience', WHAT)
  const exp = dateClaim(payload, 'exp', WHAT)
  const iat = optionalDateClaim(payload, 'iat', WHAT)
  const jti = stringClaim(payload, 'jti', 'malformed_token', WHAT)

  checkNotExpired(exp, unixNow(opts.now), SPACE_TOKEN_CLOCK_SKEW_SEC, WHAT)
  if (aud !== spaceHostAudience(space.did)) {
    throw new ProtocolError(
      'bad_token_audience',
      `${WHAT} "aud" must be the space authority's #atproto_space_host`,
    )
  }
  checkExpectedSpace(sub, opts.space, WHAT)
  if (!isValidDid(iss)) throw new ProtocolError('bad_token_issuer', `${WHAT} "iss" is not a DID`)

  await verifyIssuerSignature(jws, iss, keyId, opts.resolveKey, {
    policy: 'strict',
    what: WHAT,
    missingKeyReason: 'bad_token_kid',
  })
  await checkReplay(
    opts.seen,
    { kind: 'delegation', iss, jti, expiresAt: exp + SPACE_TOKEN_CLOCK_SKEW_SEC },
    WHAT,
  )

  const claims: DelegationTokenClaims = { iss, sub, aud, exp, jti }
  if (iat !== undefined) claims.iat = iat
  return { claims, space, keyId }
}
