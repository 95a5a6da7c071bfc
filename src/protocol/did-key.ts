/**
 * did:key ↔ JWT `alg` mapping for the two key types atproto uses.
 *
 * A did:key is `did:key:` + multibase base58btc (`z…`) of a multicodec-prefixed compressed public key:
 * varint `e7 01` = secp256k1 (JWT alg `ES256K`), varint `80 24` = P-256 (`ES256`).
 *
 * Invariants: only those two key types are accepted; the key bytes must decode to a point on the curve
 * (checked by @atproto/crypto's parser); anything else is an `invalid_did_key` ProtocolError whose message
 * never repeats the key.
 */
import { parseDidKey } from '@atproto/crypto'
import { ProtocolError } from './errors.js'

/** The JWS algorithms atproto signing keys produce. */
export type AtprotoJwtAlg = 'ES256K' | 'ES256'

export const ATPROTO_JWT_ALGS: readonly AtprotoJwtAlg[] = ['ES256K', 'ES256']

export function isAtprotoJwtAlg(value: unknown): value is AtprotoJwtAlg {
  return value === 'ES256K' || value === 'ES256'
}

/** Returns the JWT alg that signatures by this did:key must declare. */
export function jwtAlgOfDidKey(didKey: string): AtprotoJwtAlg {
  if (typeof didKey !== 'string' || !didKey.startsWith('did:key:z')) {
    throw new ProtocolError('invalid_did_key', 'signing key is not a base58btc did:key')
  }
  let alg: string
  try {
    alg = parseDidKey(didKey).jwtAlg
  } catch {
    throw new ProtocolError('invalid_did_key', 'signing key is not a valid secp256k1 or P-256 did:key')
  }
  if (!isAtprotoJwtAlg(alg)) {
    throw new ProtocolError('invalid_did_key', 'signing key type is neither secp256k1 nor P-256')
  }
  return alg
}
