/**
 * ECDSA verification for atproto signing keys (secp256k1 = ES256K, P-256 = ES256) on OpenSSL through
 * node:crypto, with the exact acceptance rules of @atproto/crypto's `verifySignature`.
 *
 * Every signed thing the protocol checks (commits, service auth, space credentials, delegation tokens)
 * goes through `verifyDidKeySignature`. A did:key is decoded once (base58btc multikey → the point,
 * decompressed and checked to be on its curve by OpenSSL, taking the same forms as @atproto/crypto's
 * parser) and kept as a KeyObject in a bounded LRU, so a verify is one native call instead of several
 * milliseconds of pure-JS field arithmetic.
 *
 * secp256k1 goes to libsecp256k1 (the `secp256k1` package's prebuilt binding, ~50 µs a verify) when that
 * binding loads, else to OpenSSL (~330 µs: OpenSSL has no tuned code for this curve). P-256 always goes to
 * OpenSSL, which has. Both backends get the same bytes and accept exactly the same signatures (tested).
 *
 * Invariants:
 * - Only secp256k1 and P-256 did:keys are accepted; anything else is an `invalid_did_key` ProtocolError
 *   whose message never repeats the key. Failed decodes are not cached.
 * - A signature is accepted only in the 64-byte compact form r‖s (DER or any other length is false),
 *   over sha256(data), with 1 ≤ r, s < n (OpenSSL checks the range).
 * - `allowHighS: false` (the default, atproto's strict rule) rejects s > n/2; `true` accepts the high-S
 *   twin, as upstream service auth does. Never DER in either mode.
 * - Pure: no I/O; the cache only memoises key decoding. `verifyWithKeyOffThread` runs the same OpenSSL
 *   call on libuv's thread pool, for servers whose event loop is the bottleneck.
 */
import { createHash, createPublicKey, verify as osslVerify, type KeyObject } from 'node:crypto'
import { base58btc } from 'multiformats/bases/base58'
import { ProtocolError } from './errors.js'
import type { AtprotoJwtAlg } from './did-key.js'
import { libsecp256k1, type Libsecp256k1 } from './libsecp256k1.js'

/** A decoded did:key, ready for OpenSSL. */
export interface SigningKey {
  alg: AtprotoJwtAlg
  readonly key: KeyObject
  /** The uncompressed point 0x04‖x‖y (65 bytes), for libsecp256k1. */
  point: Uint8Array
}

/** Which library verifies secp256k1 signatures in this process (for logs and benchmarks). */
export const SECP256K1_BACKEND: 'libsecp256k1' | 'openssl' = libsecp256k1 ? 'libsecp256k1' : 'openssl'

export const COMPACT_SIGNATURE_LENGTH = 64

interface Curve {
  /** DER SubjectPublicKeyInfo up to the 65-byte uncompressed point (id-ecPublicKey + curve OID). */
  spkiPrefix: Buffer
  /** floor(n / 2), big-endian 32 bytes: the largest low-S value. */
  halfOrder: Buffer
}

const CURVES: Record<AtprotoJwtAlg, Curve> = {
  ES256K: {
    spkiPrefix: Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex'),
    halfOrder: Buffer.from('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'hex'),
  },
  ES256: {
    spkiPrefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
    halfOrder: Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex'),
  },
}

/** Distinct keys kept decoded; a worker sees one per author (plus authorities), re-decoding is cheap. */
const SIGNING_KEY_CACHE_SIZE = 10_000

const cache = new Map<string, SigningKey>()

/** Multicodec prefixes (varint) of the two key types, as they lead a did:key's decoded bytes. */
const MULTICODEC: ReadonlyArray<{ alg: AtprotoJwtAlg; prefix: readonly [number, number] }> = [
  { alg: 'ES256K', prefix: [0xe7, 0x01] },
  { alg: 'ES256', prefix: [0x80, 0x24] },
]

function decode(didKey: string): SigningKey {
  if (typeof didKey !== 'string' || !didKey.startsWith('did:key:z')) {
    throw new ProtocolError('invalid_did_key', 'signing key is not a base58btc did:key')
  }
  let bytes: Uint8Array
  try {
    bytes = base58btc.decode(didKey.slice('did:key:'.length))
  } catch {
    throw new ProtocolError('invalid_did_key', 'signing key is not a valid secp256k1 or P-256 did:key')
  }
  const codec = MULTICODEC.find(({ prefix }) => bytes[0] === prefix[0] && bytes[1] === prefix[1])
  if (codec === undefined) {
    throw new ProtocolError('invalid_did_key', 'signing key type is neither secp256k1 nor P-256')
  }
  return keyOfEncodedPoint(codec.alg, bytes.subarray(2))
}

/**
 * A key from its SEC1 encoding: compressed (0x02/0x03‖x) or uncompressed (0x04‖x‖y), the two forms
 * @atproto/crypto's parser takes. Decompressed, and refused unless on the curve, in native code (the pure-JS
 * square root took ~0.2 ms a key, once per author): by libsecp256k1 for secp256k1 where it loads (~7 µs),
 * else by OpenSSL (~0.1 ms).
 */
function keyOfEncodedPoint(alg: AtprotoJwtAlg, encoded: Uint8Array): SigningKey {
  const form = encoded[0]
  const wellFormed =
    (encoded.length === 33 && (form === 0x02 || form === 0x03)) || (encoded.length === 65 && form === 0x04)
  if (!wellFormed) {
    throw new ProtocolError('invalid_did_key', 'signing key is not a valid secp256k1 or P-256 did:key')
  }
  const notOnCurve = () => new ProtocolError('invalid_did_key', 'signing key is not a point on its curve')
  if (alg === 'ES256K' && libsecp256k1 !== null) {
    let point: Uint8Array
    try {
      point = libsecp256k1.publicKeyConvert(encoded, false)
    } catch {
      throw notOnCurve()
    }
    return signingKey(alg, point)
  }
  let key: KeyObject
  try {
    key = createPublicKey({ key: spki(alg, encoded), format: 'der', type: 'spki' })
  } catch {
    throw notOnCurve()
  }
  if (form === 0x04) return signingKey(alg, encoded, key)
  const jwk = key.export({ format: 'jwk' })
  const point = Buffer.concat([
    Buffer.from([0x04]),
    Buffer.from(jwk.x as string, 'base64url'),
    Buffer.from(jwk.y as string, 'base64url'),
  ])
  return signingKey(alg, point, key)
}

/** DER SubjectPublicKeyInfo of an encoded point of either form. */
function spki(alg: AtprotoJwtAlg, encoded: Uint8Array): Buffer {
  const prefix = CURVES[alg].spkiPrefix
  if (encoded.length === 65) return Buffer.concat([prefix, encoded])
  // The prefix ends with the lengths of the outer SEQUENCE and of the BIT STRING (00‖point); a compressed
  // point is 32 bytes shorter, so both shrink by 32.
  const der = Buffer.concat([prefix, encoded])
  der[1] = der[1]! - 32
  der[prefix.length - 2] = der[prefix.length - 2]! - 32
  return der
}

/**
 * A SigningKey of a point already known to be on its curve. Its KeyObject is made on first use: where
 * libsecp256k1 verifies secp256k1, OpenSSL never needs one.
 */
function signingKey(alg: AtprotoJwtAlg, point: Uint8Array, known?: KeyObject): SigningKey {
  let key = known
  return {
    alg,
    point,
    get key(): KeyObject {
      key ??= createPublicKey({ key: spki(alg, point), format: 'der', type: 'spki' })
      return key
    },
  }
}

function memoised(id: string, make: () => SigningKey): SigningKey {
  const hit = cache.get(id)
  if (hit) {
    // Refresh recency: Map iteration order is insertion order, so the first entry is the least recent.
    cache.delete(id)
    cache.set(id, hit)
    return hit
  }
  const key = make()
  if (cache.size >= SIGNING_KEY_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
  cache.set(id, key)
  return key
}

/** Decodes a did:key (memoised in a bounded LRU). Throws `invalid_did_key`. */
export function signingKeyOf(didKey: string): SigningKey {
  return memoised(didKey, () => decode(didKey))
}

/**
 * A P-256 key from the base64url coordinates of a JWK (DPoP proofs carry one), memoised like did:keys.
 * Throws `invalid_did_key` unless x and y are 32 bytes each and a point on the curve.
 */
export function p256KeyOfJwk(x: string, y: string): SigningKey {
  return memoised(`jwk:P-256:${x}.${y}`, () => {
    const xs = Buffer.from(x, 'base64url')
    const ys = Buffer.from(y, 'base64url')
    if (xs.length !== 32 || ys.length !== 32) {
      throw new ProtocolError('invalid_did_key', 'P-256 JWK coordinates must be 32 bytes each')
    }
    return keyOfEncodedPoint('ES256', Buffer.concat([Buffer.from([0x04]), xs, ys]))
  })
}

/** s > n/2, comparing the big-endian 32-byte s half of a compact signature with floor(n/2). */
function isHighS(sig: Uint8Array, halfOrder: Buffer): boolean {
  for (let i = 0; i < 32; i++) {
    const a = sig[32 + i] as number
    const b = halfOrder[i] as number
    if (a !== b) return a > b
  }
  return false
}

export interface VerifyOptions {
  /** Accept the high-S twin of a valid signature (upstream service auth); default false. */
  allowHighS?: boolean
}

export type SignatureBackend = 'libsecp256k1' | 'openssl'

/**
 * libsecp256k1 verify of a compact signature over sha256(data). The library itself refuses high-S and any
 * r or s outside [1, n); for `allowHighS` the signature is first normalised (on a copy) to its low-S twin.
 */
function libsecp256k1Verify(
  lib: Libsecp256k1,
  key: SigningKey,
  data: Uint8Array,
  sig: Uint8Array,
  allowHighS: boolean,
): boolean {
  const digest = createHash('sha256').update(data).digest()
  try {
    return lib.ecdsaVerify(allowHighS ? lib.signatureNormalize(Uint8Array.from(sig)) : sig, digest, key.point)
  } catch {
    // The binding throws for a signature it cannot parse (r or s ≥ n): not a valid signature.
    return false
  }
}

/** The checks before any curve arithmetic: the 64-byte compact form, and low-S unless high-S is allowed. */
function inAcceptedForm(key: SigningKey, sig: Uint8Array, allowHighS: boolean): boolean {
  if (!(sig instanceof Uint8Array) || sig.length !== COMPACT_SIGNATURE_LENGTH) return false
  return allowHighS || !isHighS(sig, CURVES[key.alg].halfOrder)
}

/**
 * ECDSA-SHA256 of `data` under an already decoded key, 64-byte compact, low-S unless allowed. `backend`
 * picks the library for secp256k1 (tests compare the two); the default is the fastest that loaded.
 */
export function verifyWithKey(
  key: SigningKey,
  data: Uint8Array,
  sig: Uint8Array,
  opts: VerifyOptions = {},
  backend: SignatureBackend = SECP256K1_BACKEND,
): boolean {
  const allowHighS = opts.allowHighS === true
  if (!inAcceptedForm(key, sig, allowHighS)) return false
  if (key.alg === 'ES256K' && backend === 'libsecp256k1') {
    if (!libsecp256k1) throw new Error('libsecp256k1 is not available in this process')
    return libsecp256k1Verify(libsecp256k1, key, data, sig, allowHighS)
  }
  return osslVerify('sha256', data, { key: key.key, dsaEncoding: 'ieee-p1363' }, sig)
}

/**
 * `verifyWithKey` with OpenSSL's work on libuv's thread pool (node:crypto's callback form), for a verifier
 * whose event loop is its bottleneck: a server checks a fresh DPoP proof per request, ~100–150 µs of
 * OpenSSL each, and this leaves ~35 µs of it on the loop. Same acceptance rules and result; libsecp256k1
 * verifies stay inline (a ~50 µs native call costs less than the hand-off).
 */
export function verifyWithKeyOffThread(
  key: SigningKey,
  data: Uint8Array,
  sig: Uint8Array,
  opts: VerifyOptions = {},
): Promise<boolean> {
  const allowHighS = opts.allowHighS === true
  if (!inAcceptedForm(key, sig, allowHighS)) return Promise.resolve(false)
  if (key.alg === 'ES256K' && libsecp256k1) {
    return Promise.resolve(libsecp256k1Verify(libsecp256k1, key, data, sig, allowHighS))
  }
  return new Promise((resolve) => {
    // An error, thrown or passed, is a signature OpenSSL cannot use: not a valid one.
    try {
      osslVerify('sha256', data, { key: key.key, dsaEncoding: 'ieee-p1363' }, sig, (err, ok) =>
        resolve(err === null && ok),
      )
    } catch {
      resolve(false)
    }
  })
}

/**
 * Verifies `sig` over `data` under `didKey`. False for any signature that is not a valid one by this key
 * in the accepted form; throws `invalid_did_key` only for a key that cannot be decoded.
 */
export function verifyDidKeySignature(
  didKey: string,
  data: Uint8Array,
  sig: Uint8Array,
  opts: VerifyOptions = {},
): boolean {
  return verifyWithKey(signingKeyOf(didKey), data, sig, opts)
}
