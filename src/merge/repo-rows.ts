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
 * The tails of one write are kept as ONE string, lines joined by '\n' (`joinTails`), and receive their head
 * in one native pass (`withHead`): no field contains a raw newline, so every '\n' starts a line. A 50k-row
 * batch is then ~250 strings instead of 100k, which is most of what the insert path cost in GC.
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

/** The tails of one write as one string (see the header); '' for none. */
export function joinTails(tails: readonly string[]): string {
  return tails.join('\n')
}

/** The lines of joined `tails` (non-empty), each prefixed with `head`, without a final newline. */
export function withHead(head: string, tails: string): string {
  return head + tails.replaceAll('\n', `\n${head}`)
}
