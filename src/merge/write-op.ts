/**
 * Repo writes between the store's API and the batch writer. A WriteRequest is what a caller asked for; a
 * WriteOp is the same request validated, with the record-specific part of every row already encoded
 * (repo-rows.ts). Preparing happens when the write is submitted, so a malformed write is refused to its own
 * caller (never failing the batch it would have joined) and the JSON encoding — most of the CPU of a
 * write — runs while the previous batch is being inserted.
 */
import { ensureInput } from './errors.js'
import { encodeTails, type Tails } from './repo-rows.js'
import type { RepoSnapshot, RepoStatus, RepoUpdate } from './types.js'

export type WriteRequest =
  | { kind: 'update'; update: RepoUpdate }
  | { kind: 'replace'; snapshot: RepoSnapshot }
  | { kind: 'status'; space: string; author: string; status: RepoStatus; reason: string }

/** `tails`: the prepared row tails (repo-rows.ts) of the op's tombstones and records. */
export type WriteOp =
  | { kind: 'update'; update: RepoUpdate; tails: Tails }
  | { kind: 'replace'; snapshot: RepoSnapshot; tails: Tails }
  | { kind: 'status'; space: string; author: string; status: RepoStatus; reason: string }

const LT_STATE_BYTES = 2048
const COMMIT_HASH_BYTES = 32
const REPO_STATUSES: readonly string[] = ['active', 'recovering', 'failed'] satisfies RepoStatus[]

export function spaceOf(op: WriteRequest): string {
  return op.kind === 'update' ? op.update.space : op.kind === 'replace' ? op.snapshot.space : op.space
}

export function authorOf(op: WriteRequest): string {
  return op.kind === 'update' ? op.update.author : op.kind === 'replace' ? op.snapshot.author : op.author
}

/** Rows an op inserts, not counting a snapshot's tombstones (unknown until applied); sizes batches. */
export function opRowCount(op: WriteOp): number {
  if (op.kind === 'update') return op.update.upserts.length + op.update.deletes.length + 1
  if (op.kind === 'replace') return op.snapshot.records.length + 1
  return 1
}

function checkCommit(c: { rev: unknown; ltState: unknown; commitHash: unknown }): void {
  ensureInput(typeof c.rev === 'string' && c.rev.length > 0, 'rev must be the commit TID')
  ensureInput(
    c.ltState instanceof Uint8Array && c.ltState.length === LT_STATE_BYTES,
    `ltState must be the ${LT_STATE_BYTES}-byte LtHash state`,
  )
  ensureInput(
    c.commitHash instanceof Uint8Array && c.commitHash.length === COMMIT_HASH_BYTES,
    `commitHash must be the ${COMMIT_HASH_BYTES}-byte commit hash`,
  )
}

function checkPaths(keys: Iterable<{ collection: unknown; rkey: unknown }>, what: string): void {
  // rkeys seen per collection (no path string built per record)
  const seen = new Map<string, Set<string>>()
  for (const k of keys) {
    ensureInput(
      typeof k.collection === 'string' &&
        k.collection.length > 0 &&
        typeof k.rkey === 'string' &&
        k.rkey.length > 0,
      `${what}: every record needs a collection and an rkey`,
    )
    let rkeys = seen.get(k.collection)
    if (rkeys === undefined) seen.set(k.collection, (rkeys = new Set()))
    ensureInput(
      !rkeys.has(k.rkey),
      `${what}: ${k.collection}/${k.rkey} appears twice; pass the net effect (one entry per path)`,
    )
    rkeys.add(k.rkey)
  }
}

function checkCids(writes: readonly { cid: unknown }[], what: string): void {
  for (const w of writes)
    ensureInput(typeof w.cid === 'string' && w.cid.length > 0, `${what}: every record needs a cid`)
}

export function prepareWrite(req: WriteRequest): WriteOp {
  const space = spaceOf(req)
  const author = authorOf(req)
  ensureInput(
    typeof space === 'string' && space.startsWith('at://'),
    `space must be an at:// space URI, got ${String(space)}`,
  )
  ensureInput(
    typeof author === 'string' && author.startsWith('did:'),
    `author must be a DID, got ${String(author)}`,
  )
  if (req.kind === 'update') {
    const u = req.update
    const what = `update of ${u.author} to ${u.rev}`
    checkCommit(u)
    ensureInput(
      u.since === null || typeof u.since === 'string',
      `${what}: since must be the stored rev or null`,
    )
    ensureInput(
      Array.isArray(u.upserts) && Array.isArray(u.deletes),
      `${what}: upserts and deletes must be arrays`,
    )
    checkPaths([...u.upserts, ...u.deletes], what)
    checkCids(u.upserts, what)
    return {
      kind: 'update',
      update: u,
      tails: encodeTails(u.deletes, u.upserts),
    }
  }
  if (req.kind === 'replace') {
    const s = req.snapshot
    const what = `snapshot of ${s.author} at ${s.rev}`
    checkCommit(s)
    ensureInput(Array.isArray(s.records), `${what}: records must be an array`)
    checkPaths(s.records, what)
    checkCids(s.records, what)
    return { kind: 'replace', snapshot: s, tails: encodeTails([], s.records) }
  }
  ensureInput(REPO_STATUSES.includes(req.status), `status must be one of ${REPO_STATUSES.join(', ')}`)
  ensureInput(typeof req.reason === 'string', 'reason must be a string')
  return req
}
