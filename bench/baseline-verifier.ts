/**
 * The benchmark's baseline: a straightforward CAR verifier and LtHash built on @noble/hashes (pure-JS
 * BLAKE3 and SHA-256), reading the whole CAR into memory with @ipld/car and decoding the index with the
 * general DAG-CBOR decoder. Same checks as src/protocol/repo-car.ts, none of its engineering (streaming
 * framing, WASM BLAKE3 (hash-wasm), native SHA-256, the dedicated index decoder). Bench-only; never used
 * by spaceview.
 */
import { blake3 } from '@noble/hashes/blake3.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { CarBufferReader } from '@ipld/car'
import { decode } from '@atproto/lex-cbor'
import { lexToJson } from '@atproto/lex-json'
import { parseSignedCommit, verifyCommit } from '../src/protocol/commit.js'

export class NobleLtHash {
  readonly state = new Uint16Array(1024)
  add(element: string): void {
    const e = blake3(new TextEncoder().encode(element), { dkLen: 2048 })
    const dv = new DataView(e.buffer, e.byteOffset, e.byteLength)
    for (let i = 0; i < 1024; i++) this.state[i] = (this.state[i]! + dv.getUint16(i * 2, true)) & 0xffff
  }
  digest(): Uint8Array {
    return sha256(new Uint8Array(this.state.buffer))
  }
}

const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/** Verifies a whole CAR (with `decodeValues`, also decodes each record to JSON); returns the record count. */
export async function baselineVerify(
  car: Uint8Array,
  ctx: { space: string; author: string; didKey: string },
  decodeValues: boolean,
): Promise<number> {
  const reader = CarBufferReader.fromBytes(car)
  const blocks = [...reader.blocks()]
  const [commitBlock, indexBlock, ...records] = blocks
  if (!commitBlock || !indexBlock) throw new Error('missing blocks')
  for (const b of blocks) if (!eq(sha256(b.bytes), b.cid.multihash.digest)) throw new Error('cid mismatch')
  const commit = parseSignedCommit(decode(commitBlock.bytes))
  await verifyCommit({ commit, ...ctx })
  const index = decode(indexBlock.bytes) as Record<string, { toString(): string; bytes: Uint8Array }>
  const lt = new NobleLtHash()
  const entries = Object.entries(index)
  for (const [path, cid] of entries) lt.add(`${path}/${cid.toString()}`)
  if (!eq(lt.digest(), commit.hash)) throw new Error('hash mismatch')
  if (records.length !== entries.length) throw new Error('missing records')
  records.forEach((b, i) => {
    if (!eq(b.cid.bytes, entries[i]![1].bytes)) throw new Error('order')
    if (decodeValues) lexToJson(decode(b.bytes))
  })
  return records.length
}
