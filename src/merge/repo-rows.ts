/**
 * TSV lines of the `records` table (see migrations/0001_initial.ts): record versions, tombstones and commit
 * rows. A line is `head + tail`:
 * - the head holds what one applied write shares (space, epoch, author, version, rev, indexed_at) and is
 *   only known once the write is checked against the stored commit;
 * - the tail holds what is specific to one record (collection, rkey, cid, JSON value …) and is built when
 *   the write is submitted, outside the write lane, so the expensive part (JSON encoding) overlaps the
 *   insert of the previous batch.
 * Every string field goes through tsv(), so no input can break a line and forge another row.
 *
 * The tails of one write are encoded ONCE, when it is submitted, into one UTF-8 buffer of '\n'-terminated
 * lines (`encodeTails`); no field contains a raw newline, so every '\n' ends a line. A batch (`BatchLines`)
 * then only copies bytes: each line of a write's tails behind that write's head, into insert chunks of
 * bounded size. No batch-sized JS string is ever built (joining, re-joining and UTF-8 encoding them was
 * most of the insert path's CPU and GC).
 */
import { ensureInput, MergeError } from './errors.js'
import { tsv, tsvTime } from './tsv.js'
import type { RecordKey, RecordWrite, RepoStatus } from './types.js'

/** Column order of every line built here; the insert names these columns explicitly. */
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

/**
 * Fields shared by the lines of one applied write. `rev` is the rev of the commit the write lands on (empty
 * for a status change of a repo never committed); record rows carry it too.
 */
export function rowHead(
  space: string,
  epoch: number,
  author: string,
  version: number,
  rev: string,
  at: Date,
): string {
  return `${tsv(space)}\t${epoch}\t${tsv(author)}\t${version}\t${tsv(rev)}\t${tsvTime(at)}\t`
}

/** A record version; refuses values outside the JSON data model. */
export function recordTail(w: RecordWrite): string {
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
  // JSON text has no raw control characters (JSON escapes them), so only backslashes need escaping.
  const value = json.includes('\\') ? json.replaceAll('\\', '\\\\') : json
  return `record\t${tsv(w.collection)}\t${tsv(w.rkey)}\t0\t${tsv(w.cid)}\t${value}\t0\tactive\t\t\t`
}

/** A deletion of (collection, rkey). */
export function tombstoneTail(k: RecordKey): string {
  return `record\t${tsv(k.collection)}\t${tsv(k.rkey)}\t1\t\t\t0\tactive\t\t\t`
}

/** The repo state after the write. */
export function commitTail(c: CommitRow): string {
  return `commit\t\t\t0\t\t\t${c.generation}\t${c.status}\t${tsv(c.reason)}\t${c.ltStateHex}\t${c.commitHashHex}`
}

/** The prepared tails of one write: `lines` '\n'-terminated lines as UTF-8 bytes. */
export interface Tails {
  bytes: Buffer
  lines: number
}

const NO_TAILS: Tails = { bytes: Buffer.alloc(0), lines: 0 }

/** The tails of one write (see the header). */
export function encodeTails(tails: readonly string[]): Tails {
  if (tails.length === 0) return NO_TAILS
  return { bytes: Buffer.from(`${tails.join('\n')}\n`), lines: tails.length }
}

/** Insert chunks are about this big: large snapshots are never one giant buffer. */
const CHUNK_BYTES = 8 << 20
const NEWLINE = 0x0a

/** The lines of one batch: (head, tails) pairs, expanded into TSV bytes only when inserted. */
export class BatchLines {
  private readonly parts: { head: Buffer; tails: Buffer }[] = []
  /** Lines (rows) so far. */
  rows = 0
  /** Bytes of TSV so far. */
  bytes = 0

  /** Appends every line of `tails`, each prefixed with `head` (a rowHead). */
  push(head: string, tails: Tails): void {
    if (tails.lines === 0) return
    const h = Buffer.from(head)
    this.parts.push({ head: h, tails: tails.bytes })
    this.rows += tails.lines
    this.bytes += tails.bytes.length + tails.lines * h.length
  }

  /** Appends one line built now (a commit row or a tombstone), given without its newline. */
  pushLine(head: string, tail: string): void {
    this.push(head, encodeTails([tail]))
  }

  /** The TSV bytes, in chunks of whole lines (fresh buffers: a consumer may hold on to them). */
  *chunks(): Generator<Buffer> {
    let out = Buffer.allocUnsafe(Math.min(this.bytes, CHUNK_BYTES))
    let pos = 0
    for (const { head, tails } of this.parts) {
      let start = 0
      while (start < tails.length) {
        const end = tails.indexOf(NEWLINE, start) + 1
        const size = head.length + end - start
        if (pos + size > out.length) {
          if (pos > 0) yield out.subarray(0, pos)
          out = Buffer.allocUnsafe(Math.max(size, CHUNK_BYTES))
          pos = 0
        }
        pos += head.copy(out, pos)
        pos += tails.copy(out, pos, start, end)
        start = end
      }
    }
    if (pos > 0) yield out.subarray(0, pos)
  }
}
