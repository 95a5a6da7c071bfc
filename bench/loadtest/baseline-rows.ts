/**
 * The `records` rows of the load test's one-row-per-insert baseline (baseline-syncer.ts) as TabSeparated
 * lines: `rowHead` + `recordTail` / `tombstoneTail` / `commitTail`, in the column order of RECORD_COLUMNS
 * (src/merge/repo-rows.ts), inserted with `insertTsv`. spaceview itself inserts these rows as RowBinary;
 * the baseline keeps the plainest encoding, as a straightforward syncer would.
 *
 * Every string field goes through tsv(), so no input can break a line and forge another row.
 */
import { recordJson, type CommitRow } from '../../src/merge/repo-rows.js'
import { tsv, tsvTime } from '../../src/merge/tsv.js'
import type { RecordKey, RecordWrite } from '../../src/merge/types.js'

/** TSV: the head of the lines of one applied write . */
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

/** TSV: a record version. */
export function recordTail(w: RecordWrite): string {
  // JSON text has no raw control characters (JSON escapes them), so only backslashes need escaping.
  const json = recordJson(w)
  const value = json.includes('\\') ? json.replaceAll('\\', '\\\\') : json
  return `record\t${tsv(w.collection)}\t${tsv(w.rkey)}\t0\t${tsv(w.cid)}\t${value}\t0\tactive\t\t\t`
}

/** TSV: a deletion of (collection, rkey). */
export function tombstoneTail(k: RecordKey): string {
  return `record\t${tsv(k.collection)}\t${tsv(k.rkey)}\t1\t\t\t0\tactive\t\t\t`
}

/** TSV: the repo state after the write. */
export function commitTail(c: CommitRow): string {
  return `commit\t\t\t0\t\t\t${c.generation}\t${c.status}\t${tsv(c.reason)}\t${c.ltStateHex}\t${c.commitHashHex}`
}
