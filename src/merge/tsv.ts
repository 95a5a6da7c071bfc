/**
 * TabSeparated encoding for inserts. TSV is the cheapest text format for both sides: values are written
 * as-is except for five escapes, and the engine parses it without building JSON trees. The small tables'
 * rows are built as TSV directly; `tsvFromRowBinary` rewrites RowBinary rows (the records table's format,
 * repo-rows.ts) as TSV for the embedded engine's raw insert, which takes text formats only.
 *
 * Invariant: every string field goes through `tsv()` (or, rewritten from RowBinary, the same escapes byte
 * by byte), so no input (an rkey, a reason, a record value) can break a line and forge another row.
 */

const NEEDS_ESCAPE = /[\\\t\n\r\0]/
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' }

/** Escapes a string field. Most fields (DIDs, NSIDs, TIDs, CIDs, JSON text) need nothing, so test first. */
export function tsv(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/[\\\t\n\r\0]/g, (c) => ESCAPES[c]!) : s
}

/** DateTime64(3) literal in UTC: "YYYY-MM-DD hh:mm:ss.sss". */
export function tsvTime(d: Date): string {
  return d.toISOString().slice(0, 23).replace('T', ' ')
}

/** Inverse of tsvTime as ClickHouse prints it back: ISO-8601 UTC. */
export function isoFromClickHouse(s: string): string {
  return `${s.replace(' ', 'T')}Z`
}

/**
 * Joins TSV lines (or groups of whole lines) into chunks of bounded size, so huge inserts never build one
 * giant JS string.
 */
export function tsvBody(lines: readonly string[], maxChunkChars = 8 << 20): string[] {
  const out: string[] = []
  let start = 0
  let chars = 0
  for (let i = 0; i < lines.length; i++) {
    chars += lines[i]!.length + 1
    if (chars >= maxChunkChars || i === lines.length - 1) {
      out.push(lines.slice(start, i + 1).join('\n') + '\n')
      start = i + 1
      chars = 0
    }
  }
  return out
}

const BACKSLASH = 0x5c
/** Byte → the letter of its TSV escape (after a backslash); 0 for the bytes written as they are. */
const BYTE_ESCAPES = new Uint8Array(256)
for (const [byte, letter] of [
  [0x5c, 0x5c],
  [0x09, 0x74],
  [0x0a, 0x6e],
  [0x0d, 0x72],
  [0x00, 0x30],
] as const)
  BYTE_ESCAPES[byte] = letter

/** An output buffer that grows. */
class Out {
  buf: Buffer
  pos = 0
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size)
  }
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(bigger, 0, 0, this.pos)
    this.buf = bigger
  }
  /** A short ASCII string (a number, an enum name), byte by byte: cheaper than a native call. */
  ascii(s: string): void {
    this.room(s.length)
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i)
  }
  byte(b: number): void {
    this.room(1)
    this.buf[this.pos++] = b
  }
  bytes(src: Buffer, start: number, end: number): void {
    this.room(end - start)
    this.pos += src.copy(this.buf, this.pos, start, end)
  }
}

/** Reads one value of a column at `pos` of `src`, writes it as TSV to `out`; returns the position after it. */
type Transcode = (src: Buffer, pos: number, out: Out) => number

/** A RowBinary String, escaped byte-wise (UTF-8 multi-byte sequences never contain the escaped bytes). */
const stringColumn: Transcode = (src, pos, out) => {
  let len = 0
  for (let shift = 0; ; shift += 7) {
    if (pos >= src.length) throw new Error('RowBinary input ends inside a string length')
    const b = src[pos++]!
    len += (b & 0x7f) * 2 ** shift
    if (b < 0x80) break
  }
  const end = pos + len
  if (end > src.length) throw new Error('RowBinary input ends inside a string')
  let from = pos
  for (let i = pos; i < end; i++) {
    const escape = BYTE_ESCAPES[src[i]!]!
    if (escape === 0) continue
    out.bytes(src, from, i)
    out.byte(BACKSLASH)
    out.byte(escape)
    from = i + 1
  }
  out.bytes(src, from, end)
  return end
}

function transcoderOf(type: string): Transcode {
  if (type === 'String' || type === 'LowCardinality(String)') return stringColumn
  if (type === 'UInt8')
    return (src, pos, out) => {
      out.ascii(String(src.readUInt8(pos)))
      return pos + 1
    }
  if (type === 'UInt32')
    return (src, pos, out) => {
      out.ascii(String(src.readUInt32LE(pos)))
      return pos + 4
    }
  if (type === 'UInt64')
    return (src, pos, out) => {
      const high = src.readUInt32LE(pos + 4)
      out.ascii(
        high < 0x20_0000
          ? String(high * 0x1_0000_0000 + src.readUInt32LE(pos))
          : src.readBigUInt64LE(pos).toString(),
      )
      return pos + 8
    }
  if (type === "DateTime64(3, 'UTC')") {
    // The rows of one insert mostly share their time: format each distinct value once.
    let last = NaN
    let text = ''
    return (src, pos, out) => {
      const ms = Number(src.readBigInt64LE(pos))
      if (ms !== last) {
        last = ms
        text = tsvTime(new Date(ms))
      }
      out.ascii(text)
      return pos + 8
    }
  }
  if (type.startsWith('Enum8(')) {
    const names = new Map<number, string>()
    for (const m of type.matchAll(/'([^']*)' = (-?\d+)/g)) names.set(Number(m[2]), m[1]!)
    return (src, pos, out) => {
      const name = names.get(src.readInt8(pos))
      if (name === undefined) throw new Error(`RowBinary value ${src.readInt8(pos)} is not in ${type}`)
      out.ascii(tsv(name))
      return pos + 1
    }
  }
  throw new Error(`no TabSeparated rewrite of RowBinary ${type}`)
}

/**
 * The TabSeparated text of RowBinary rows whose columns have `types` (as system.columns names them), for an
 * engine entry point that takes text formats only. Covers the column types the store inserts in RowBinary.
 */
export function tsvFromRowBinary(types: readonly string[], src: Buffer): Buffer {
  const columns = types.map(transcoderOf)
  const last = columns.length - 1
  const out = new Out(src.length + (src.length >> 2) + 64)
  let pos = 0
  while (pos < src.length) {
    for (let i = 0; i <= last; i++) {
      pos = columns[i]!(src, pos, out)
      out.byte(i === last ? 0x0a : 0x09)
    }
  }
  if (pos !== src.length) throw new Error('RowBinary input ends inside a row')
  return out.buf.subarray(0, out.pos)
}
