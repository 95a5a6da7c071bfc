/**
 * Incremental sync: applying listRepoOps pages to a persisted LtHash state and checking the result
 * against a verified head commit.
 *
 *   create {cid, prev: null}  -> add    "{collection}/{rkey}/{cid}"
 *   update {cid, prev}        -> remove "{collection}/{rkey}/{prev}", add ".../{cid}"
 *   delete {cid: null, prev}  -> remove "{collection}/{rkey}/{prev}"
 *
 * Ops arrive ordered by (rev, idx); one batch shares a rev and may touch a path several times, so they
 * are applied strictly in order. Every op counts toward the hash, including superseded ones that carry
 * no value. Nothing here is trusted until `finish` has checked that the final digest equals the hash of a
 * commit whose signature and MAC the caller already verified; any divergence (gap, `since` ahead of the
 * host's head, last op rev != commit rev, hash mismatch) throws and the caller falls back to recovery.
 * Inlined values are re-hashed; a value that does not match its op's CID is dropped and its path is
 * reported in `needValues` (the caller fetches it with getRecord), never stored.
 */
import { ProtocolError } from './errors.js'
import { assertNsid, assertRecordKey, compareTid } from './identifiers.js'
import { LtHash, recordElement } from './lthash.js'
import { bytesEqual } from './bytes.js'
import { encodeRecordJson, parseRecordCid } from './record-codec.js'
import type { SignedCommit } from './commit.js'

export interface RepoOp {
  rev: string
  collection: string
  rkey: string
  cid: string | null
  prev: string | null
  /** JSON-form record value; present only while `cid` is the record's current CID. */
  value?: unknown
}

/** Net effect on one path after all applied ops. */
export type StagedChange =
  | { kind: 'upsert'; collection: string; rkey: string; cid: string; rev: string; value?: unknown }
  | { kind: 'delete'; collection: string; rkey: string; rev: string }

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v)
}

/** Schema-checks one opEntry from a host. */
export function parseRepoOp(raw: unknown): RepoOp {
  if (!isObject(raw)) throw new ProtocolError('malformed_op', 'op must be an object')
  const { rev, collection, rkey, cid, prev, value } = raw
  if (typeof rev !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(rev)) {
    throw new ProtocolError('malformed_op', 'op.rev must be a TID string')
  }
  try {
    assertNsid(collection, 'op.collection')
    assertRecordKey(rkey, 'op.rkey')
  } catch (err) {
    throw new ProtocolError('malformed_op', (err as Error).message)
  }
  if (cid !== null) parseRecordCid(cid, 'malformed_op', 'op.cid')
  if (prev !== null) parseRecordCid(prev, 'malformed_op', 'op.prev')
  if (cid === null && prev === null) throw new ProtocolError('malformed_op', 'op has neither cid nor prev')
  const op: RepoOp = { rev, collection, rkey, cid: cid as string | null, prev: prev as string | null }
  if (value !== undefined) op.value = value
  return op
}

export class RepoOpsApplier {
  private readonly hash: LtHash
  private readonly staged = new Map<string, StagedChange>()
  private readonly mismatched = new Set<string>()
  private lastRev: string | undefined
  private count = 0

  /**
   * @param state persisted 2048-byte state (omit for an empty repo)
   * @param since the last verified rev (ops must be newer)
   */
  constructor(
    state: Uint8Array | undefined,
    private readonly since: string | undefined,
  ) {
    this.hash = new LtHash(state)
  }

  /** Applies one page of ops in order. */
  apply(ops: readonly RepoOp[]): void {
    for (const op of ops) {
      if (this.since !== undefined && compareTid(op.rev, this.since) <= 0) {
        throw new ProtocolError('ops_out_of_order', `op rev ${op.rev} is not newer than since ${this.since}`)
      }
      if (this.lastRev !== undefined && compareTid(op.rev, this.lastRev) < 0) {
        throw new ProtocolError('ops_out_of_order', `op rev ${op.rev} goes back from ${this.lastRev}`)
      }
      this.lastRev = op.rev
      this.count++
      if (op.prev !== null) this.hash.remove(recordElement(op.collection, op.rkey, op.prev))
      if (op.cid !== null) this.hash.add(recordElement(op.collection, op.rkey, op.cid))
      this.stage(op)
    }
  }

  private stage(op: RepoOp): void {
    const path = `${op.collection}/${op.rkey}`
    this.mismatched.delete(path)
    if (op.cid === null) {
      this.staged.set(path, { kind: 'delete', collection: op.collection, rkey: op.rkey, rev: op.rev })
      return
    }
    const change: StagedChange = {
      kind: 'upsert',
      collection: op.collection,
      rkey: op.rkey,
      cid: op.cid,
      rev: op.rev,
    }
    if (op.value !== undefined) {
      if (inlineValueMatches(op.value, op.cid)) change.value = op.value
      else this.mismatched.add(path)
    }
    this.staged.set(path, change)
  }

  get opCount(): number {
    return this.count
  }

  /** The current (unverified) digest; equals commit.hash once all ops up to head are applied. */
  digest(): Uint8Array {
    return this.hash.digest()
  }

  /**
   * Checks the applied ops against a head commit that the caller has already verified (verifyCommit).
   * Returns the new state and the net changes to store.
   */
  finish(commit: SignedCommit): {
    state: Uint8Array
    rev: string
    changes: StagedChange[]
    needValues: string[]
  } {
    if (this.since !== undefined && compareTid(commit.rev, this.since) < 0) {
      throw new ProtocolError(
        'since_ahead_of_head',
        `host head ${commit.rev} is behind our rev ${this.since}`,
      )
    }
    if (this.lastRev !== undefined && commit.rev !== this.lastRev) {
      throw new ProtocolError(
        'ops_rev_mismatch',
        `last op rev ${this.lastRev} differs from commit rev ${commit.rev}`,
      )
    }
    if (!bytesEqual(this.hash.digest(), commit.hash)) {
      throw new ProtocolError(
        'ops_hash_mismatch',
        'ops applied to our state do not give the commit hash (gap or lie)',
      )
    }
    const changes = [...this.staged.values()]
    const needValues = changes
      .filter(
        (c) =>
          c.kind === 'upsert' && (c.value === undefined || this.mismatched.has(`${c.collection}/${c.rkey}`)),
      )
      .map((c) => `${c.collection}/${c.rkey}`)
    return { state: this.hash.state(), rev: commit.rev, changes, needValues }
  }
}

function inlineValueMatches(value: unknown, cid: string): boolean {
  try {
    return encodeRecordJson(value).cid.toString() === cid
  } catch {
    return false
  }
}
