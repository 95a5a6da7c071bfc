/**
 * Deterministic derivation for devnet: every identifier, key and record in a generated network is a pure
 * function of the seed and a label tuple, so the same seed always yields the same DIDs, keys, records and
 * CIDs (ports and runtime revs, which come from the OS and the clock, are the only exceptions).
 *
 * Invariants:
 * - `derive` is domain-separated: sha256 over a JSON array that starts with a fixed tag, the seed and the
 *   labels, so two different label tuples never collide by concatenation.
 * - Keys made here are TEST KEYS: anyone who knows the seed knows them. Never use devnet keys for anything
 *   but a local simulated network.
 */
import type { Secp256k1Keypair } from '@atproto/crypto'
import { createHash } from 'node:crypto'
import { importTestKeypair } from './native-keypair.js'

const TAG = 'spaceview-devnet-v1'

/** sha256 of the domain-separated label tuple. */
export function derive(seed: string, ...labels: Array<string | number>): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update(JSON.stringify([TAG, seed, ...labels]))
      .digest(),
  )
}

/** Small, fast PRNG (sfc32); good enough for simulation choices, never for secrets. */
export class SeededRandom {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(a: number, b: number, c: number, d: number) {
    this.a = a | 0
    this.b = b | 0
    this.c = c | 0
    this.d = d | 0
    // Discard the first outputs: sfc32 mixes poorly right after seeding.
    for (let i = 0; i < 12; i++) this.nextUint32()
  }

  /** Seeded from sha256 of the label tuple (see `derive`). */
  static from(seed: string, ...labels: Array<string | number>): SeededRandom {
    const view = new DataView(derive(seed, ...labels).buffer)
    return new SeededRandom(view.getUint32(0), view.getUint32(4), view.getUint32(8), view.getUint32(12))
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)]
    if (item === undefined) throw new Error('cannot pick from an empty list')
    return item
  }
}

/** A 32-bit integer hash of small integers (murmur3 finaliser per step): cheap per-record choices. */
export function hashInts(...values: number[]): number {
  let h = 0x811c9dc5
  for (const v of values) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
  }
  return h >>> 0
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** Lowercase RFC 4648 base32 (no padding) of the first `chars` characters' worth of `bytes`. */
export function base32Lower(bytes: Uint8Array, chars: number): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
    if (out.length >= chars) break
    buffer &= (1 << bits) - 1
  }
  return out
}

/** A did:plc-shaped identifier (24 base32 chars) derived from the seed; resolvable only through devnet. */
export function deriveDid(seed: string, label: string): string {
  return `did:plc:${base32Lower(derive(seed, 'did', label), 24)}`
}

const SECP256K1_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/** TEST KEY: a secp256k1 keypair derived from the seed and a label (exportable, so tests can inspect it). */
export async function deriveTestKeypair(
  seed: string,
  ...labels: Array<string | number>
): Promise<Secp256k1Keypair> {
  for (let attempt = 0; ; attempt++) {
    const candidate = derive(seed, 'test-key', ...labels, attempt)
    const scalar = BigInt('0x' + Buffer.from(candidate).toString('hex'))
    // A sha256 output is a valid scalar with overwhelming probability; retry in the 2^-128 case it is not.
    if (scalar > 0n && scalar < SECP256K1_ORDER) return importTestKeypair(candidate)
  }
}
