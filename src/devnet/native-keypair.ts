/**
 * Devnet's secp256k1 signing keys (TEST KEYS): @atproto/crypto's `Secp256k1Keypair`, with the public key
 * derived and signatures made by libsecp256k1 (the `secp256k1` package's prebuilt binding) instead of
 * pure-JS field arithmetic. Signing natively takes tens of µs instead of 1–2 ms, which capped devnet's write
 * rate (every write is followed by a signed notification on each hop and a signed commit in every
 * listRepoOps answer); deriving the public key natively takes µs instead of ~0.3 ms, which the DID document
 * of every account not seen yet paid (a backfill resolves thousands).
 *
 * Invariants:
 * - Signatures are byte-identical to `Secp256k1Keypair.sign`: ECDSA over sha256(msg), RFC 6979
 *   deterministic nonce, low-S, 64-byte compact r‖s. The public key (compressed, 33 bytes) and so the
 *   did:key are the ones the parent's constructor would derive; the parent's own fields are set to exactly
 *   what that constructor sets, so its other methods (publicKeyBytes, export, …) behave as they would.
 *   All of it is tested against the pure-JS keypair. The did:key is computed once.
 * - Where the binding does not load, the pure-JS keypair is returned: slower, same bytes.
 */
import { createHash } from 'node:crypto'
import { DID_KEY_PREFIX, SECP256K1_DID_PREFIX, SECP256K1_JWT_ALG, Secp256k1Keypair } from '@atproto/crypto'
import { base58btc } from 'multiformats/bases/base58'
import { libsecp256k1, type Libsecp256k1 } from '../protocol/libsecp256k1.js'

/** The binding also derives public keys (the protocol core declares only what it uses). */
type Binding = Libsecp256k1 & {
  publicKeyCreate(seckey: Uint8Array, compressed: boolean): Uint8Array
}

const binding: Binding | null =
  libsecp256k1 && typeof (libsecp256k1 as Partial<Binding>).publicKeyCreate === 'function'
    ? (libsecp256k1 as Binding)
    : null

/** Which library makes devnet's secp256k1 public keys and signatures in this process. */
export const DEVNET_SIGNER_BACKEND: 'libsecp256k1' | 'js' = binding ? 'libsecp256k1' : 'js'

class NativeSecp256k1Keypair extends Secp256k1Keypair {
  declare private readonly lib: Binding
  /** The parent keeps its copy private; this one is for the binding. */
  declare private readonly secret: Uint8Array
  /** The parent re-encodes the point on every `did()` (a pure-JS point decode); it never changes. */
  declare private readonly didKey: string

  /**
   * The parent's constructor derives the public key in pure JS, so it is not run: the instance gets the
   * parent's fields (privateKey, exportable, jwtAlg, publicKey) exactly as that constructor sets them.
   */
  static of(lib: Binding, secret: Uint8Array): NativeSecp256k1Keypair {
    const publicKey = lib.publicKeyCreate(secret, true)
    const prefixed = new Uint8Array(SECP256K1_DID_PREFIX.length + publicKey.length)
    prefixed.set(SECP256K1_DID_PREFIX)
    prefixed.set(publicKey, SECP256K1_DID_PREFIX.length)
    const key = Object.create(NativeSecp256k1Keypair.prototype) as NativeSecp256k1Keypair
    return Object.assign(key, {
      privateKey: secret,
      exportable: true,
      jwtAlg: SECP256K1_JWT_ALG,
      publicKey,
      lib,
      secret,
      didKey: `${DID_KEY_PREFIX}${base58btc.encode(prefixed)}`,
    })
  }

  override did(): string {
    return this.didKey
  }

  override async sign(msg: Uint8Array): Promise<Uint8Array> {
    const digest = createHash('sha256').update(msg).digest()
    return this.lib.ecdsaSign(digest, this.secret).signature
  }
}

/** An exportable TEST keypair over a valid secp256k1 private scalar (32 bytes, 0 < k < n). */
export async function importTestKeypair(privateKey: Uint8Array): Promise<Secp256k1Keypair> {
  const key = Uint8Array.from(privateKey)
  if (binding) return NativeSecp256k1Keypair.of(binding, key)
  return Secp256k1Keypair.import(key, { exportable: true })
}
