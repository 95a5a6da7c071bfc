/**
 * Fast record encoding for the flat record shapes devnet generates (maps of strings, non-negative
 * integers, nested maps and CID links): canonical DAG-CBOR bytes and their CIDv1 (dag-cbor, sha2-256)
 * string. The generic data-model path costs ~50 µs a record (encoder, hasher set-up, CID base32), which
 * dominates a 10-million-record network; this path is several times cheaper.
 *
 * Invariants: bytes are identical to the canonical encoder (map keys ordered length-first, then bytewise;
 * shortest-form lengths and integers; CID links as tag 42 over 0x00 + CID bytes) and the CID string equals
 * the library's — the tests compare both with @atproto/lex-cbor / encodeRecordJson. Anything outside the
 * supported shapes throws rather than guessing. `encodeIfPlain` takes hostile input (a write's record): it
 * encodes only values made of ASCII strings, small non-negative integers, plain maps (no `$`-prefixed key
 * but `$type`) and sole-key `$link` objects, and answers undefined for anything else, which the caller
 * then sends through the data-model path with its full validation.
 */
import { parseCid } from '@atproto/lex-data'
import { createSHA256 } from 'hash-wasm'

const sha256 = await createSHA256()

export type FastValue = string | number | { $link: string } | { [key: string]: FastValue }

const utf8 = new TextEncoder()

/** Key order of a canonical map: UTF-8 length first, then bytewise (plain string order for ASCII keys). */
function compareKeys(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
}

class Writer {
  private buf = new Uint8Array(256)
  private len = 0

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n))
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  byte(b: number): void {
    this.ensure(1)
    this.buf[this.len++] = b
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }

  head(major: number, n: number): void {
    const m = major << 5
    if (n < 24) this.byte(m | n)
    else if (n < 0x100) {
      this.byte(m | 24)
      this.byte(n)
    } else if (n < 0x10000) {
      this.byte(m | 25)
      this.byte(n >> 8)
      this.byte(n & 0xff)
    } else if (n < 0x100000000) {
      this.byte(m | 26)
      this.byte((n >>> 24) & 0xff)
      this.byte((n >>> 16) & 0xff)
      this.byte((n >>> 8) & 0xff)
      this.byte(n & 0xff)
    } else {
      throw new RangeError('fast-cbor encodes lengths and integers below 2^32 only')
    }
  }

  /** A text string: ASCII is copied char by char (TextEncoder allocates per call and is the hot spot). */
  text(value: string): void {
    let ascii = true
    for (let i = 0; i < value.length; i++) {
      if (value.charCodeAt(i) > 0x7f) {
        ascii = false
        break
      }
    }
    if (!ascii) {
      const b = utf8.encode(value)
      this.head(3, b.length)
      this.bytes(b)
      return
    }
    this.head(3, value.length)
    this.ensure(value.length)
    for (let i = 0; i < value.length; i++) this.buf[this.len++] = value.charCodeAt(i)
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.len)
  }
}

function write(w: Writer, value: FastValue): void {
  if (typeof value === 'string') {
    w.text(value)
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0)
      throw new RangeError('fast-cbor encodes non-negative integers only')
    w.head(0, value)
  } else if (typeof value['$link'] === 'string' && Object.keys(value).length === 1) {
    const cid = parseCid(value['$link'] as string).bytes
    w.byte(0xd8)
    w.byte(42)
    w.head(2, cid.length + 1)
    w.byte(0)
    w.bytes(cid)
  } else {
    const map = value as { [key: string]: FastValue }
    const keys = Object.keys(map)
    // Canonical order is over UTF-8 bytes; for ASCII keys that is plain string order.
    for (const k of keys) {
      for (let i = 0; i < k.length; i++) {
        if (k.charCodeAt(i) > 0x7f) throw new RangeError('fast-cbor encodes ASCII map keys only')
      }
    }
    keys.sort(compareKeys)
    w.head(5, keys.length)
    for (const k of keys) {
      w.text(k)
      write(w, map[k] as FastValue)
    }
  }
}

/** Canonical DAG-CBOR bytes of a supported JSON-form value. */
export function encodeFast(value: FastValue): Uint8Array {
  const w = new Writer()
  write(w, value)
  return w.result()
}

const BASE32_CODES = Array.from('abcdefghijklmnopqrstuvwxyz234567', (c) => c.charCodeAt(0))
const CID_PREFIX = [0x01, 0x71, 0x12, 0x20] // CIDv1, dag-cbor, sha2-256, 32-byte digest

/** The CIDv1 (dag-cbor, sha2-256) of a block in byte form: 0x01 0x71 0x12 0x20 + sha256(bytes). */
export function blockCidBytes(bytes: Uint8Array): Uint8Array {
  sha256.init()
  sha256.update(bytes)
  const cid = new Uint8Array(36)
  cid.set(CID_PREFIX)
  cid.set(sha256.digest('binary'), 4)
  return cid
}

/**
 * The string form of CID bytes: multibase "b" + RFC 4648 base32, lowercase. Built from char codes in one
 * go: appending char by char leaves a rope of one heap node per character, which cost ~1.5 KB per CID kept.
 */
export function cidBytesString(cid: Uint8Array): string {
  const codes: number[] = [0x62] // 'b'
  let buffer = 0
  let bits = 0
  for (let i = 0; i < cid.length; i++) {
    buffer = ((buffer << 8) | (cid[i] as number)) & 0xffff
    bits += 8
    while (bits >= 5) {
      codes.push(BASE32_CODES[(buffer >>> (bits - 5)) & 31] as number)
      bits -= 5
    }
  }
  if (bits > 0) codes.push(BASE32_CODES[(buffer << (5 - bits)) & 31] as number)
  return String.fromCharCode(...codes)
}

/** The CIDv1 (dag-cbor, sha2-256) string of a block. */
export function blockCidString(bytes: Uint8Array): string {
  return cidBytesString(blockCidBytes(bytes))
}

/** Whether a JSON value is in the narrow shape `encodeIfPlain` accepts (see the module comment). */
function isPlain(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return isAscii(value)
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value < 0x100000000
  if (depth > 32 || typeof value !== 'object' || value === null || Array.isArray(value)) return false
  if (Object.getPrototypeOf(value) !== Object.prototype) return false
  const keys = Object.keys(value)
  const obj = value as Record<string, unknown>
  if (keys.includes('$link')) return keys.length === 1 && typeof obj['$link'] === 'string'
  for (const k of keys) {
    if (!isAscii(k) || (k.startsWith('$') && k !== '$type')) return false
    if (!isPlain(obj[k], depth + 1)) return false
  }
  return true
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/**
 * Canonical bytes and CID string of a record in the plain shape, or undefined (use the data-model path).
 * A `$link` that is not a CID also answers undefined, so the data-model path reports it.
 */
export function encodeIfPlain(value: unknown): { bytes: Uint8Array; cid: string } | undefined {
  if (!isPlain(value, 0)) return undefined
  let bytes: Uint8Array
  try {
    bytes = encodeFast(value as FastValue)
  } catch {
    return undefined
  }
  return { bytes, cid: blockCidString(bytes) }
}
