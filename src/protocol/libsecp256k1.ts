/**
 * libsecp256k1 through the `secp256k1` package's prebuilt binding (without the package's pure-JS
 * fallback), or null where the binding does not load on this platform. Callers keep a fallback of their
 * own for null: signature.ts verifies with OpenSSL, devnet signs with @atproto/crypto's pure-JS keypair.
 *
 * Loading a native module is the only thing done here; no I/O at call time.
 */
import { createRequire } from 'node:module'

/** The part of the binding's API spaceview uses. */
export interface Libsecp256k1 {
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pubkey: Uint8Array): boolean
  signatureNormalize(sig: Uint8Array): Uint8Array
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number }
  /** SEC1 re-encoding of a public key (33 or 65 bytes in); throws unless it is a point on the curve. */
  publicKeyConvert(pubkey: Uint8Array, compressed: boolean): Uint8Array
}

function load(): Libsecp256k1 | null {
  try {
    return createRequire(import.meta.url)('secp256k1/bindings.js') as Libsecp256k1
  } catch {
    return null
  }
}

export const libsecp256k1: Libsecp256k1 | null = load()
