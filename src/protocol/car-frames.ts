/**
 * CARv1 framing over a byte stream: the header, then sections of varint(length) | CID | block bytes.
 *
 * This only splits the stream; it does not hash or interpret blocks (repo-car.ts does). It exists because
 * @ipld/car's block iterator builds a CID object and several promises per block, which dominated the
 * cost of verifying large repos; here a section is a few offsets into the buffered stream, its CID is
 * compared in place, and only the block is handed out (as a view).
 *
 * Invariants:
 *   - At most `maxBytes` are pulled from the source (car_too_large as soon as a chunk crosses the cap), and
 *     a section whose block exceeds the caller's cap is rejected from its length prefix, before buffering.
 *   - Errors thrown by the source itself pass through untouched (they are transport failures, not CAR
 *     faults); every framing fault is a ProtocolError: car_truncated when the stream ends inside the header
 *     or a section, bad_car_header for a bad header, malformed_car for a bad section.
 *   - Varints must be minimal and at most 9 bytes (the multiformats unsigned-varint rules) and safe
 *     integers; a section must be non-empty and hold its whole CID.
 *   - Returned subarrays are never written to afterwards: buffers are only ever replaced, not reused.
 * The header's DAG-CBOR and shape are checked by @ipld/car's own header reader.
 */
import { bytesReader, readHeader } from '@ipld/car/decoder'
import { ProtocolError } from './errors.js'

export interface CarHeaderV1 {
  roots: { bytes: Uint8Array }[]
}

const MAX_VARINT_BYTES = 9
/** Enough for a CID's prefix (v0 marker, or version, codec, hash code and digest length varints). */
const CID_PREFIX_WINDOW = 4 * MAX_VARINT_BYTES
/** A section's length varint and CID prefix always lie within its first SECTION_HEAD bytes. */
const SECTION_HEAD = MAX_VARINT_BYTES + CID_PREFIX_WINDOW

/** Parsing outcome of `readVarint` when the bytes end before the varint does. */
const INCOMPLETE = -1

/**
 * Reads a CAR one section at a time. After `next()` returns true, the current section is exposed by
 * `block()`, `cid()` and `cidEquals()` until the next call: no object is built per section.
 */
export class CarFrameReader {
  private readonly source: AsyncIterator<Uint8Array>
  private buf: Uint8Array = new Uint8Array(0)
  private pos = 0
  private pulled = 0
  private ended = false
  /** Length in bytes of the varint last decoded by `readVarint`. */
  private varintLength = 0
  /** The current section within `buf`: CID at [cidAt, blockAt), block at [blockAt, blockEnd). */
  private cidAt = 0
  private blockAt = 0
  private blockEnd = 0

  constructor(
    source: AsyncIterable<Uint8Array>,
    private readonly maxBytes: number,
  ) {
    this.source = source[Symbol.asyncIterator]()
  }

  /** Reads the CARv1 header (version 1 only; its encoded size capped at `maxHeaderBytes`). */
  async header(maxHeaderBytes: number): Promise<CarHeaderV1> {
    await this.fill(MAX_VARINT_BYTES)
    if (this.pos === this.buf.length) throw new ProtocolError('car_truncated', 'CAR is empty')
    const length = this.readVarint(this.pos, 'bad_car_header', 'header length')
    if (length === INCOMPLETE) throw new ProtocolError('car_truncated', 'CAR ends inside the header length')
    if (length > maxHeaderBytes) {
      throw new ProtocolError('car_too_large', `CAR header is ${length} bytes (cap ${maxHeaderBytes})`)
    }
    const total = this.varintLength + length
    if (!(await this.fill(total))) throw new ProtocolError('car_truncated', 'CAR ends inside the header')
    const bytes = this.buf.subarray(this.pos, this.pos + total)
    this.pos += total
    try {
      return await readHeader(bytesReader(bytes), 1)
    } catch (err) {
      throw new ProtocolError('bad_car_header', `CAR header is invalid: ${(err as Error).message}`)
    }
  }

  /**
   * Advances to the next section; false where the CAR ends cleanly (between sections). `maxBlockBytes`
   * caps the block (the section less its CID). The source is only awaited when the section is not
   * already buffered.
   */
  async next(maxBlockBytes: number): Promise<boolean> {
    if (this.buf.length - this.pos < SECTION_HEAD && !this.ended) await this.fill(SECTION_HEAD)
    if (this.pos === this.buf.length) return false
    // From here, fewer buffered bytes than needed means the source has ended.
    const length = this.readVarint(this.pos, 'malformed_car', 'section length')
    if (length === INCOMPLETE) throw new ProtocolError('car_truncated', 'CAR ends inside a section length')
    if (length === 0) throw new ProtocolError('malformed_car', 'CAR section has zero length')
    const lengthBytes = this.varintLength
    const cidAt = this.pos + lengthBytes
    const window = Math.min(length, CID_PREFIX_WINDOW)
    if (cidAt + window > this.buf.length)
      throw new ProtocolError('car_truncated', 'CAR ends in the middle of a block')
    const cidLength = this.cidLength(cidAt, cidAt + window)
    if (cidLength > length) throw new ProtocolError('malformed_car', 'CAR section is shorter than its CID')
    const blockLength = length - cidLength
    if (blockLength > maxBlockBytes) {
      throw new ProtocolError('car_too_large', `block is ${blockLength} bytes (cap ${maxBlockBytes})`)
    }
    const total = lengthBytes + length
    if (this.buf.length - this.pos < total && !(await this.fill(total))) {
      throw new ProtocolError('car_truncated', 'CAR ends in the middle of a block')
    }
    // fill() may have moved the buffered bytes: offsets are taken from this.pos after it.
    this.cidAt = this.pos + lengthBytes
    this.blockAt = this.cidAt + cidLength
    this.blockEnd = this.pos + total
    this.pos = this.blockEnd
    return true
  }

  /** The current section's block bytes (a view; never written to afterwards). */
  block(): Uint8Array {
    return this.buf.subarray(this.blockAt, this.blockEnd)
  }

  /** The current section's CID bytes as they appear in the CAR (not yet checked against the block). */
  cid(): Uint8Array {
    return this.buf.subarray(this.cidAt, this.blockAt)
  }

  /** True when the current section's CID is exactly expected[at, at + length). */
  cidEquals(expected: Uint8Array, at = 0, length = expected.length - at): boolean {
    if (this.blockAt - this.cidAt !== length || at + length > expected.length) return false
    const buf = this.buf
    for (let i = 0, p = this.cidAt; i < length; i++, p++) if (buf[p] !== expected[at + i]) return false
    return true
  }

  /**
   * Ensures at least `n` bytes are buffered from `pos`, pulling chunks as needed; false if the source
   * ends first. Leftover bytes and new chunks are joined into a fresh buffer (never one handed out).
   */
  private async fill(n: number): Promise<boolean> {
    let have = this.buf.length - this.pos
    if (have >= n) return true
    const parts: Uint8Array[] = have > 0 ? [this.buf.subarray(this.pos)] : []
    while (have < n && !this.ended) {
      const r = await this.source.next()
      if (r.done) {
        this.ended = true
        break
      }
      const chunk = r.value
      this.pulled += chunk.length
      if (this.pulled > this.maxBytes) {
        throw new ProtocolError('car_too_large', `CAR exceeds the ${this.maxBytes}-byte cap`)
      }
      if (chunk.length === 0) continue
      parts.push(chunk)
      have += chunk.length
    }
    if (parts.length === 1) {
      this.buf = parts[0]!
    } else {
      const joined = new Uint8Array(have)
      let off = 0
      for (const p of parts) {
        joined.set(p, off)
        off += p.length
      }
      this.buf = joined
    }
    this.pos = 0
    return have >= n
  }

  /**
   * Decodes an unsigned varint at `at` from the buffered bytes; INCOMPLETE if they end first. Sets
   * `varintLength`.
   */
  private readVarint(at: number, reason: 'malformed_car' | 'bad_car_header', what: string): number {
    const buf = this.buf
    let value = 0
    let scale = 1
    for (let i = at; ; i++) {
      if (i >= buf.length) return INCOMPLETE
      const b = buf[i]!
      value += (b & 0x7f) * scale
      if (b < 0x80) {
        this.varintLength = i - at + 1
        if (b === 0 && i > at) throw new ProtocolError(reason, `${what} varint is not minimally encoded`)
        break
      }
      if (i - at + 1 === MAX_VARINT_BYTES) throw new ProtocolError(reason, `${what} varint is too long`)
      scale *= 128
    }
    if (!Number.isSafeInteger(value)) throw new ProtocolError(reason, `${what} varint is too large`)
    return value
  }

  /** Byte length of the CID at `at`, whose prefix must lie within [at, end). */
  private cidLength(at: number, end: number): number {
    const buf = this.buf
    // CIDv0 is a bare sha2-256 multihash: 0x12 0x20 and a 32-byte digest.
    if (end - at >= 2 && buf[at] === 0x12 && buf[at + 1] === 0x20) return 34
    // CIDv1: version, codec, multihash code, digest length (varints), then the digest.
    let p = at
    let digestLength = 0
    for (let field = 0; field < 4; field++) {
      const v = p < end ? this.readVarint(p, 'malformed_car', 'CID') : INCOMPLETE
      p += this.varintLength
      if (v === INCOMPLETE || p > end)
        throw new ProtocolError('malformed_car', 'CAR section is shorter than its CID')
      if (field === 0 && v !== 1) throw new ProtocolError('malformed_car', `unexpected CID version ${v}`)
      digestLength = v
    }
    return p - at + digestLength
  }
}
