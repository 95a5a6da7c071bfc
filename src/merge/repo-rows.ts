/**
 * Rows of the `records` table (see migrations/0001_initial.ts): record versions, tombstones and commit
 * rows, in ClickHouse's RowBinary format. A row is `head + tail`:
 * - the head holds what one applied write shares (space, epoch, author, version, rev, indexed_at) and is
 *   only known once the write is checked against the stored commit;
 * - the tail holds what is specific to one record (collection, rkey, cid, JSON value …) and is built when
 *   the write is submitted, outside the write lane, so the expensive part (JSON encoding) overlaps the
 *   insert of the previous batch.
 * RowBinary writes every string as its byte length then its bytes, so values go in as they are (no
 * escaping) and no input can shift a field or forge another row.
 *
 * The tails of one write are encoded ONCE, when it is submitted, into one buffer plus the end offset of
 * every row (`encodeTails`). A batch (`BatchRows`) then only copies bytes: each row of a write's tails behind
 * that write's head, into insert chunks of bounded size. No batch-sized JS value is ever built.
 */
import { ensureInput, MergeError } from './errors.js'
import type { RecordKey, RecordWrite, RepoStatus } from './types.js'

/** Column order of every row built here; the insert names these columns explicitly. */
export const RECORD_COLUMNS = [
  'space',
  'epoch',
  'author',
  'version',
  'rev',
  'indexed_at',
  'kind',
  'collection',
  'rkey',
  'is_deleted',
  'cid',
  'value',
  'generation',
  'status',
  'reason',
  'lt_state',
  'commit_hash',
] as const

/** Values of the Enum8 columns `kind` and `status` (migrations/0001_initial.ts); RowBinary sends these. */
export const KIND_CODE = { commit: 1, record: 2 } as const
export const STATUS_CODE: Record<RepoStatus, number> = { active: 1, recovering: 2, failed: 3 }

/** Repo state as stored in a commit row. */
export interface CommitRow {
  ltStateHex: string
  commitHashHex: string
  generation: number
  status: RepoStatus
  reason: string
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Bytes of the LEB128 length prefix of a string of `n` bytes. */
function varintSize(n: number): number {
  let size = 1
  for (; n >= 0x80; n >>>= 7) size++
  return size
}

/** The writer's buffer starts at this size and goes back to it after a write that grew it past KEPT_BYTES. */
const INITIAL_BYTES = 1 << 16
const KEPT_BYTES = 1 << 20

/**
 * Appends RowBinary values to a reusable buffer. One writer serves every encoding: each runs synchronously,
 * starts with `begin` (dropping whatever an encoding that threw half-way left) and ends with `take`, which
 * copies the bytes out.
 */
class RowBinaryWriter {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES)
  private pos = 0
  private readonly ends: number[] = []

  begin(): this {
    this.pos = 0
    this.ends.length = 0
    return this
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(bigger, 0, 0, this.pos)
    this.buf = bigger
  }

  uint8(v: number): this {
    this.room(1)
    this.buf[this.pos++] = v
    return this
  }

  uint32(v: number): this {
    this.room(4)
    this.pos = this.buf.writeUInt32LE(v, this.pos)
    return this
  }

  /** A UInt64 (or a non-negative Int64) given as a safe integer. */
  uint64(v: number): this {
    this.room(8)
    this.pos = this.buf.writeUInt32LE(v % 0x1_0000_0000, this.pos)
    this.pos = this.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.pos)
    return this
  }

  /** DateTime64(3): milliseconds since the epoch as an Int64. */
  time(d: Date): this {
    this.room(8)
    this.pos = this.buf.writeBigInt64LE(BigInt(d.getTime()), this.pos)
    return this
  }

  /** A String: LEB128 byte length, then the UTF-8 bytes. */
  string(s: string): this {
    if (s.length === 0) return this.uint8(0)
    // The bytes go behind room for the longest prefix they can need (3 bytes per UTF-16 unit); if the
    // prefix turns out shorter, they move back.
    const reserve = varintSize(s.length * 3)
    this.room(reserve + s.length * 3)
    const start = this.pos + reserve
    const n = this.buf.write(s, start)
    const size = varintSize(n)
    if (size < reserve) this.buf.copyWithin(this.pos + size, start, start + n)
    let p = this.pos
    let v = n
    for (; v >= 0x80; v >>>= 7) this.buf[p++] = (v & 0x7f) | 0x80
    this.buf[p] = v
    this.pos += size + n
    return this
  }

  /** Marks the end of a row. */
  endRow(): void {
    this.ends.push(this.pos)
  }

  /** The bytes written and row ends marked since `begin`. */
  take(): { bytes: Buffer; ends: Uint32Array } {
    const bytes = Buffer.from(this.buf.subarray(0, this.pos))
    const ends = Uint32Array.from(this.ends)
    if (this.buf.length > KEPT_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_BYTES)
    return { bytes, ends }
  }
}

const writer = new RowBinaryWriter()

/**
 * The head shared by the rows of one applied write. `rev` is the rev of the commit the write lands on
 * (empty for a status change of a repo never committed); record rows carry it too.
 */
export function encodeHead(
  space: string,
  epoch: number,
  author: string,
  version: number,
  rev: string,
  at: Date,
): Buffer {
  writer.begin().string(space).uint32(epoch).string(author).uint64(version).string(rev).time(at)
  return writer.take().bytes
}

/** The prepared tails of one write: row i is `bytes[ends[i - 1] .. ends[i]]` (from 0 for the first). */
export interface Tails {
  bytes: Buffer
  ends: Uint32Array
}

/** The JSON text of a record's value; refuses values outside the JSON data model. */
export function recordJson(w: RecordWrite): string {
  let json: string | undefined
  try {
    json = JSON.stringify(w.value)
  } catch (err) {
    throw new MergeError(
      'invalid_input',
      `record ${w.collection}/${w.rkey} is not in the JSON data model: ${String(err)}`,
    )
  }
  ensureInput(
    typeof json === 'string',
    `record ${w.collection}/${w.rkey} has no JSON value; pass the decoded record`,
  )
  return json
}

/** The tails of one write (see the header): a tombstone per deleted key, then a row per record version. */
export function encodeTails(deletes: readonly RecordKey[], records: readonly RecordWrite[]): Tails {
  writer.begin()
  for (const k of deletes) {
    writer.uint8(KIND_CODE.record).string(k.collection).string(k.rkey).uint8(1)
    // cid, value, generation, status, reason, lt_state, commit_hash
    writer.uint8(0).uint8(0).uint32(0).uint8(STATUS_CODE.active).uint8(0).uint8(0).uint8(0)
    writer.endRow()
  }
  for (const w of records) {
    const json = recordJson(w)
    writer.uint8(KIND_CODE.record).string(w.collection).string(w.rkey).uint8(0).string(w.cid).string(json)
    // generation, status, reason, lt_state, commit_hash
    writer.uint32(0).uint8(STATUS_CODE.active).uint8(0).uint8(0).uint8(0)
    writer.endRow()
  }
  return writer.take()
}

/** The tail of the commit row: the repo state after the write. */
export function encodeCommit(c: CommitRow): Tails {
  // collection, rkey, is_deleted, cid, value
  writer.begin().uint8(KIND_CODE.commit).uint8(0).uint8(0).uint8(0).uint8(0).uint8(0)
  writer.uint32(c.generation).uint8(STATUS_CODE[c.status]).string(c.reason)
  writer.string(c.ltStateHex).string(c.commitHashHex)
  writer.endRow()
  return writer.take()
}

/** Insert chunks are about this big: large snapshots are never one giant buffer. */
const CHUNK_BYTES = 8 << 20

/** The rows of one batch: (head, tails) pairs, expanded into RowBinary only when inserted. */
export class BatchRows {
  private readonly parts: { head: Buffer; tails: Tails }[] = []
  /** Rows so far. */
  rows = 0
  /** Bytes of RowBinary so far. */
  bytes = 0

  /** Appends every row of `tails`, each prefixed with `head` (an encodeHead). */
  push(head: Buffer, tails: Tails): void {
    const rows = tails.ends.length
    if (rows === 0) return
    this.parts.push({ head, tails })
    this.rows += rows
    this.bytes += tails.bytes.length + rows * head.length
  }

  /** The RowBinary bytes, in chunks of whole rows (fresh buffers: a consumer may hold on to them). */
  *chunks(): Generator<Buffer> {
    let out = Buffer.allocUnsafe(Math.min(this.bytes, CHUNK_BYTES))
    let pos = 0
    for (const { head, tails } of this.parts) {
      let start = 0
      for (const end of tails.ends) {
        const size = head.length + end - start
        if (pos + size > out.length) {
          if (pos > 0) yield out.subarray(0, pos)
          out = Buffer.allocUnsafe(Math.max(size, CHUNK_BYTES))
          pos = 0
        }
        pos += head.copy(out, pos)
        pos += tails.bytes.copy(out, pos, start, end)
        start = end
      }
    }
    if (pos > 0) yield out.subarray(0, pos)
  }
}
