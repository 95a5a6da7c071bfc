/**
 * Records and CIDs in the atproto data model.
 *
 * Record blocks are DAG-CBOR (DRISL) and are addressed by CIDv1, codec dag-cbor (0x71), sha2-256. JSON
 * (XRPC) form uses {"$link"} for CIDs and {"$bytes"} for bytes. Encoding and decoding go through
 * @atproto/lex-cbor / @atproto/lex-json, which enforce the data model (string keys, no floats, no
 * duplicate keys, canonical encoding); this module only adds typed errors and the CID checks a syncer
 * needs: a CID we accept must be v1/dag-cbor/sha2-256, and a block must hash to its CID.
 *
 * The CAR verifier works on raw CID bytes (36 bytes: 0x01 0x71 0x12 0x20 + digest) rather than CID
 * objects: for a 100k-record repo, building an object per CID and a Buffer per digest was a large share of
 * the cost. `recordCidMatches` and `cidBytesToString` are those byte-level forms.
 */
import { hash } from 'node:crypto'
import { decode as cborDecode, encode as cborEncode } from '@atproto/lex-cbor'
import { type Cid, createCid, decodeCid, parseCid } from '@atproto/lex-data'
import { jsonToLex, lexToJson } from '@atproto/lex-json'
import { ProtocolError, type ProtocolErrorReason } from './errors.js'

export type { Cid }
export const DAG_CBOR_CODEC = 0x71
export const SHA2_256_CODE = 0x12

export function isRecordCid(cid: Cid): boolean {
  return cid.version === 1 && cid.code === DAG_CBOR_CODEC && cid.multihash.code === SHA2_256_CODE
}

/** Parses a CID string from a host and requires CIDv1 dag-cbor sha2-256. */
export function parseRecordCid(value: unknown, reason: ProtocolErrorReason, what = 'cid'): Cid {
  let cid: Cid
  try {
    if (typeof value !== 'string') throw new Error('not a string')
    cid = parseCid(value)
  } catch {
    throw new ProtocolError(reason, `${what} is not a valid CID`)
  }
  if (!isRecordCid(cid)) throw new ProtocolError(reason, `${what} must be CIDv1 dag-cbor sha2-256`)
  return cid
}

/** One-shot SHA-256 (crypto.hash avoids a Hash object per block on the hot path). */
export function sha256Bytes(bytes: Uint8Array): Uint8Array {
  return hash('sha256', bytes, 'buffer')
}

/**
 * True when the 36 bytes at cid[at] are a record CID in byte form: CIDv1 (0x01), dag-cbor (0x71),
 * sha2-256 (0x12), 32-byte digest (0x20). Bytes after them are not looked at (`at` lets a caller point
 * into a larger block instead of slicing it).
 */
export function isRecordCidBytes(cid: Uint8Array, at = 0): boolean {
  return (
    cid.length - at >= 36 &&
    cid[at] === 0x01 &&
    cid[at + 1] === 0x71 &&
    cid[at + 2] === 0x12 &&
    cid[at + 3] === 0x20
  )
}

/**
 * True when the 36 bytes at cid[at] are a record CID and `bytes` hash to it. The digest is taken as a
 * 'binary' (latin1) string, one char per byte: a string is far cheaper to allocate than a Buffer's backing
 * store. CIDs are public, so the comparison need not be constant-time.
 */
export function recordCidMatches(cid: Uint8Array, bytes: Uint8Array, at = 0): boolean {
  if (!isRecordCidBytes(cid, at)) return false
  const digest = hash('sha256', bytes, 'binary')
  for (let i = 0; i < 32; i++) if (digest.charCodeAt(i) !== cid[at + 4 + i]) return false
  return true
}

const BASE32 = Uint8Array.from('abcdefghijklmnopqrstuvwxyz234567', (c) => c.charCodeAt(0))
let base32Chars = Buffer.alloc(64)

/** String form of CID bytes cid[at, at + length): multibase base32 ("b", RFC 4648 lowercase, no padding). */
export function cidBytesToString(cid: Uint8Array, at = 0, length = cid.length - at): string {
  const need = 1 + Math.ceil((length * 8) / 5)
  if (need > base32Chars.length) base32Chars = Buffer.alloc(need)
  const out = base32Chars
  const end = at + length
  let n = 0
  out[n++] = 0x62 // 'b'
  let i = at
  // Whole 5-byte groups are 8 characters each (a 36-byte CID is 7 groups and one byte).
  for (; i + 5 <= end; i += 5, n += 8) {
    const b0 = cid[i]!
    const b1 = cid[i + 1]!
    const b2 = cid[i + 2]!
    const b3 = cid[i + 3]!
    const b4 = cid[i + 4]!
    out[n] = BASE32[b0 >> 3]!
    out[n + 1] = BASE32[((b0 << 2) | (b1 >> 6)) & 31]!
    out[n + 2] = BASE32[(b1 >> 1) & 31]!
    out[n + 3] = BASE32[((b1 << 4) | (b2 >> 4)) & 31]!
    out[n + 4] = BASE32[((b2 << 1) | (b3 >> 7)) & 31]!
    out[n + 5] = BASE32[(b3 >> 2) & 31]!
    out[n + 6] = BASE32[((b3 << 3) | (b4 >> 5)) & 31]!
    out[n + 7] = BASE32[b4 & 31]!
  }
  let bits = 0
  let value = 0
  for (; i < end; i++) {
    value = ((value << 8) | cid[i]!) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out[n++] = BASE32[(value >>> bits) & 31]!
    }
  }
  if (bits > 0) out[n++] = BASE32[(value << (5 - bits)) & 31]!
  return out.toString('latin1', 0, n)
}

/** CIDv1 dag-cbor sha2-256 of a block. */
export function cidForBlock(bytes: Uint8Array): Cid {
  return createCid(DAG_CBOR_CODEC, SHA2_256_CODE, sha256Bytes(bytes))
}

/** True when `bytes` hash to `cid` (digest compared, codec and hash function checked). */
export function blockMatchesCid(cid: Cid, bytes: Uint8Array): boolean {
  if (!isRecordCid(cid)) return false
  return Buffer.compare(cid.multihash.digest, sha256Bytes(bytes)) === 0
}

export function decodeCidBytes(bytes: Uint8Array): Cid {
  return decodeCid(bytes)
}

/** Decodes a DAG-CBOR block to a data-model value; any decoder complaint becomes `reason`. */
export function decodeBlock(bytes: Uint8Array, reason: ProtocolErrorReason, what: string): unknown {
  try {
    return cborDecode(bytes)
  } catch (err) {
    throw new ProtocolError(reason, `${what} is not valid DAG-CBOR: ${(err as Error).message}`)
  }
}

export function encodeBlock(value: unknown): Uint8Array {
  return cborEncode(value as Parameters<typeof cborEncode>[0])
}

/** Data-model value (CIDs as objects, bytes as Uint8Array) → JSON form ({"$link"}, {"$bytes"}). */
export function recordToJson(value: unknown): unknown {
  return lexToJson(value as Parameters<typeof lexToJson>[0])
}

/** JSON form → data-model value; rejects JSON that is not valid in the data model. */
export function recordFromJson(value: unknown, reason: ProtocolErrorReason = 'malformed_op'): unknown {
  try {
    return jsonToLex(value as Parameters<typeof jsonToLex>[0], { strict: true })
  } catch (err) {
    throw new ProtocolError(reason, `record value is not valid atproto data: ${(err as Error).message}`)
  }
}

/** DAG-CBOR encoding and CID of a JSON-form record, as a host computes them at write time. */
export function encodeRecordJson(value: unknown): { bytes: Uint8Array; cid: Cid } {
  const bytes = encodeBlock(recordFromJson(value))
  return { bytes, cid: cidForBlock(bytes) }
}
