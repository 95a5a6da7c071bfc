/**
 * did:key ↔ JWT `alg` mapping for the two key types atproto uses.
 *
 * A did:key is `did:key:` + multibase base58btc (`z…`) of a multicodec-prefixed compressed public key:
 * varint `e7 01` = secp256k1 (JWT alg `ES256K`), varint `80 24` = P-256 (`ES256`).
 *
 * Invariants: only those two key types are accepted; the key bytes must decode to a point on the curve
 * (decoded and cached by signature.ts); anything else is an `invalid_did_key` ProtocolError whose message
 * never repeats the key.
 */
import { signingKeyOf } from './signature.js'

/** The JWS algorithms atproto signing keys produce. */
export type AtprotoJwtAlg = 'ES256K' | 'ES256'

export const ATPROTO_JWT_ALGS: readonly AtprotoJwtAlg[] = ['ES256K', 'ES256']

export function isAtprotoJwtAlg(value: unknown): value is AtprotoJwtAlg {
  return value === 'ES256K' || value === 'ES256'
}

/** Returns the JWT alg that signatures by this did:key must declare. */
export function jwtAlgOfDidKey(didKey: string): AtprotoJwtAlg {
  return signingKeyOf(didKey).alg
}
