/**
 * Records and CIDs in the atproto data model.
 *
 * Record blocks are DAG-CBOR (DRISL) and are addressed by CIDv1, codec dag-cbor (0x71), sha2-256. JSON
 * (XRPC) form uses {"$link"} for CIDs and {"$bytes"} for bytes. Encoding and decoding go through
 * @atproto/lex-cbor / @atproto/lex-json, which enforce the data model (string keys, no floats, no
 * duplicate keys, canonical encoding); this module only adds typed errors and the CID checks a syncer
 * needs: a CID we accept must be v1/dag-cbor/sha2-256, and a block must hash to its CID.
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
