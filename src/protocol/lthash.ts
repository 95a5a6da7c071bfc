/**
 * LtHash: the order-independent set hash that summarises a permissioned repo.
 *
 * State is 2048 bytes = 1024 little-endian uint16 lanes, all zero for the empty set. An element (for a
 * record: "{collection}/{rkey}/{cid}") is expanded with BLAKE3 in XOF mode to 2048 bytes and added or
 * subtracted lane-wise mod 2^16. It is a multiset hash: adding twice does not cancel. The repo's `hash`
 * is sha256(state). The persisted form is the full state, never just the digest, so later ops can be
 * applied to it.
 *
 * This is on the hot path of every record we index: expansion uses hash-wasm's BLAKE3 (about 8x the
 * throughput of a pure-JS BLAKE3 at 2 KiB output) with one reusable hasher. Lane arithmetic works two
 * lanes per 32-bit word (SWAR: the low 15 bits of each lane are added with no carry between lanes, the
 * top bits by xor), half the iterations of a lane loop and no view per element; the word view is only
 * the lane layout on little-endian hosts (asserted at load).
 */
import { createHash } from 'node:crypto'
import { createBLAKE3 } from 'hash-wasm'
import { ProtocolError } from './errors.js'

export const LTHASH_STATE_BYTES = 2048
const WORDS = LTHASH_STATE_BYTES / 4
/** Per 32-bit word: the low 15 bits of each of its two uint16 lanes, and their top bits. */
const LOW = 0x7fff7fff
const HIGH = 0x80008000 | 0

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('spaceview requires a little-endian host (LtHash lanes are little-endian uint16)')
}

const blake3 = await createBLAKE3(LTHASH_STATE_BYTES * 8)
/** The element being folded in, copied out of the hasher's fresh digest so it can be read as words. */
const elementWords = new Int32Array(WORDS)
const elementBytes = new Uint8Array(elementWords.buffer)

/** BLAKE3-XOF(utf8(element)) to 2048 bytes. */
export function expandElement(element: string): Uint8Array {
  blake3.init()
  blake3.update(element)
  return blake3.digest('binary')
}

export class LtHash {
  /** Two lanes per word: lane 2i in the low half of word i, lane 2i+1 in the high half (little-endian). */
  private readonly words: Int32Array

  /** Starts from the empty set, or from a persisted 2048-byte state (copied). */
  constructor(state?: Uint8Array) {
    const bytes = new Uint8Array(LTHASH_STATE_BYTES)
    if (state) {
      if (state.length !== LTHASH_STATE_BYTES) {
        throw new ProtocolError(
          'malformed_commit',
          `LtHash state must be ${LTHASH_STATE_BYTES} bytes, got ${state.length}`,
        )
      }
      bytes.set(state)
    }
    this.words = new Int32Array(bytes.buffer)
  }

  add(element: string): this {
    elementBytes.set(expandElement(element))
    const s = this.words
    for (let i = 0; i < WORDS; i++) {
      const a = s[i]!
      const b = elementWords[i]!
      s[i] = ((a & LOW) + (b & LOW)) ^ ((a ^ b) & HIGH)
    }
    return this
  }

  remove(element: string): this {
    elementBytes.set(expandElement(element))
    const s = this.words
    for (let i = 0; i < WORDS; i++) {
      const a = s[i]!
      const b = elementWords[i]!
      // Each lane's top bit is set in advance and restored by the xor: no borrow crosses into the next lane.
      s[i] = ((a | HIGH) - (b & LOW)) ^ ((a ^ ~b) & HIGH)
    }
    return this
  }

  /** A copy of the 2048-byte state, for persistence. */
  state(): Uint8Array {
    return new Uint8Array(this.words.buffer.slice(0))
  }

  /** sha256(state): the value a signed commit carries as `hash`. */
  digest(): Uint8Array {
    return new Uint8Array(createHash('sha256').update(new Uint8Array(this.words.buffer)).digest())
  }

  clone(): LtHash {
    return new LtHash(new Uint8Array(this.words.buffer))
  }
}

/** The set-hash element of one record. */
export function recordElement(collection: string, rkey: string, cid: string): string {
  return `${collection}/${rkey}/${cid}`
}

/** The element of an index entry keyed by path ("{collection}/{rkey}"). */
export function pathElement(path: string, cid: string): string {
  return `${path}/${cid}`
}
