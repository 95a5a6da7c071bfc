/**
 * Devnet's secp256k1 signing keys (TEST KEYS): @atproto/crypto's `Secp256k1Keypair`, signing with
 * libsecp256k1 (the `secp256k1` package's prebuilt binding, tens of µs a signature) instead of pure-JS
 * field arithmetic (1–2 ms), which capped devnet's write rate: every write is followed by a signed
 * notification on each hop and a signed commit in every listRepoOps answer.
 *
 * Invariants:
 * - Signatures are byte-identical to `Secp256k1Keypair.sign`: ECDSA over sha256(msg), RFC 6979
 *   deterministic nonce, low-S, 64-byte compact r‖s (tested against it). Everything else (public key,
 *   did:key, export) is the parent class's; the did:key is computed once.
 * - Where the binding does not load, the pure-JS keypair is returned: slower, same bytes.
 */
import { createHash } from 'node:crypto'
import { Secp256k1Keypair } from '@atproto/crypto'
import { libsecp256k1, type Libsecp256k1 } from '../protocol/libsecp256k1.js'

/** Which library makes devnet's secp256k1 signatures in this process. */
export const DEVNET_SIGNER_BACKEND: 'libsecp256k1' | 'js' = libsecp256k1 ? 'libsecp256k1' : 'js'

class NativeSecp256k1Keypair extends Secp256k1Keypair {
  /** The parent re-encodes the point on every `did()` (a pure-JS point decode); it never changes. */
  private readonly didKey: string

  constructor(
    private readonly lib: Libsecp256k1,
    /** The parent keeps its copy private; this one is for the binding. */
    private readonly secret: Uint8Array,
  ) {
    super(secret, true)
    this.didKey = super.did()
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
  if (libsecp256k1) return new NativeSecp256k1Keypair(libsecp256k1, key)
  return Secp256k1Keypair.import(key, { exportable: true })
}
