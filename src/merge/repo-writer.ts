/**
 * Applies a batch of repo writes (incremental updates, full snapshots, status changes) as ONE insert into
 * `records`.
 *
 * Why this is safe without transactions:
 * - One insert of one block into the unpartitioned table becomes one part, visible all at once or not at
 *   all (ClickHouse's single-block insert atomicity; `insertRowBinary` keeps the block whole). A repo's
 *   record rows and its commit row are in the same insert, so readers see a repo update entirely or not.
 * - A snapshot (recovery) writes every record of the new repo plus a tombstone for every stored key it no
 *   longer has, under a higher version, in that same part: the swap to the new generation is one step, with
 *   no moment where the author's records are missing or doubled.
 * - Every write is checked against the stored commit first (compare-and-set on rev), so replaying a batch,
 *   or any older write, finds the repo already there and writes nothing. A process killed mid-insert leaves
 *   no part behind; the retried job recomputes the same rows.
 * Repos whose commit is known exactly (exact-commits.ts, embedded engine: absent in an epoch this process
 * started and never wrote to, else what this process last wrote or read) are not looked up.
 * Invariant the callers keep: one writer per repo at a time (the crawler runs one job per repo), and within
 * this process all writes go through one serial lane (store.ts), so the stored commit read at the start of a
 * batch is still current when the batch is inserted.
 */
import type { EpochLoader } from './catalog.js'
import type { ClickHouse } from './clickhouse.js'
import type { ExactCommits, KnownCommit } from './exact-commits.js'
import {
  BatchRows,
  encodeCommit,
  encodeHead,
  encodeTails,
  hex,
  RECORD_COLUMNS,
  type CommitRow,
} from './repo-rows.js'
import { tableRef } from './schema.js'
import { RECORDS } from './tables.js'
import type { RecordKey, RepoStatus, WriteOutcome, WriteResult } from './types.js'
import { authorOf, spaceOf, type WriteOp } from './write-op.js'

/** The stored commit of a repo after a batch (for the store's write-through state cache). */
export interface CommittedRepo {
  space: string
  author: string
  epoch: number
  commit: StoredCommit
  at: Date
}

export interface WriteReport {
  results: WriteResult[]
  /** Final commit of every repo the batch changed. */
  committed: CommittedRepo[]
  /** Rows inserted (records, tombstones, commits). */
  rows: number
  /** Bytes of RowBinary inserted. */
  bytes: number
}

export interface StoredCommit extends CommitRow {
  rev: string | null
  version: number
}

/** A stored commit without its LtHash state, as exact-commits.ts keeps it. */
export function knownCommit(c: StoredCommit): KnownCommit {
  const { ltStateHex: _lt, ...known } = c
  return known
}

interface CommitRowFromDb {
  space: string
  epoch: number | string
  author: string
  rev: string
  version: number | string
  generation: number | string
  status: RepoStatus
  reason: string
  commit_hash: string
  lt_state?: string
}

/** Repos per lookup query: keeps bound parameters small (HTTP sends them in the URL). */
const PER_LOOKUP = 1000

function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < xs.length; i += PER_LOOKUP) out.push(xs.slice(i, i + PER_LOOKUP))
  return out
}

function repoKey(space: string, author: string): string {
  return `${space}\n${author}`
}

function pathOf(collection: string, rkey: string): string {
  return `${collection}/${rkey}`
}

export class RepoWriter {
  private readonly records: string

  /**
   * `activeEpochs` must be authoritative (ClickHouse, or the embedded engine's exact catalog): it decides
   * `space_inactive` and the epoch the rows are written in. `exact`, if given, must be exact (the embedded
   * engine's), and the caller reports every batch to it.
   */
  constructor(
    private readonly ch: ClickHouse,
    private readonly activeEpochs: EpochLoader,
    private readonly exact: ExactCommits | null,
  ) {
    this.records = tableRef(ch.target, RECORDS.name)
  }

  async write(ops: readonly WriteOp[], at: Date = new Date()): Promise<WriteReport> {
    const epochs = await this.activeEpochs([...new Set(ops.map(spaceOf))])
    const live = ops.filter((op) => epochs.has(spaceOf(op)))
    const commits = await this.storedCommits(live, epochs)
    const keys = await this.storedKeys(live, epochs, commits)
    // Ops of each repo not applied yet: a snapshot's key set is only kept current for later ops of its repo.
    const pending = new Map<string, number>()
    for (const op of live) {
      const key = repoKey(spaceOf(op), authorOf(op))
      pending.set(key, (pending.get(key) ?? 0) + 1)
    }

    const batch = new BatchRows()
    const changed = new Map<string, { space: string; author: string }>()
    const results = ops.map((op): WriteResult => {
      const epoch = epochs.get(spaceOf(op))
      if (epoch === undefined) return { outcome: 'space_inactive', rev: null, generation: 0, version: 0 }
      const key = repoKey(spaceOf(op), authorOf(op))
      const cur = commits.get(key) ?? null
      const later = pending.get(key)! - 1
      pending.set(key, later)
      const applied = this.apply(op, epoch, cur, keys.get(key), later > 0, batch, at)
      if (applied.next !== null) {
        commits.set(key, applied.next)
        changed.set(key, { space: spaceOf(op), author: authorOf(op) })
      }
      const now = applied.next ?? cur
      return {
        outcome: applied.outcome,
        rev: now?.rev ?? null,
        generation: now?.generation ?? 0,
        version: now?.version ?? 0,
      }
    })

    if (batch.rows > 0)
      await this.ch.insertRowBinary(this.records, RECORD_COLUMNS, batch.chunks(), batch.rows)
    const committed: CommittedRepo[] = []
    for (const [key, { space, author }] of changed) {
      committed.push({ space, author, epoch: epochs.get(space)!, commit: commits.get(key)!, at })
    }
    return { results, committed, rows: batch.rows, bytes: batch.bytes }
  }

  /**
   * Computes the rows of one op against the current commit `cur` and appends them to `batch`.
   * `keys` (only tracked for repos that get a snapshot in this batch) is the live key set; it is kept current
   * only while `more` ops of the repo follow in the batch (nothing reads it after the last one).
   */
  private apply(
    op: WriteOp,
    epoch: number,
    cur: StoredCommit | null,
    keys: Set<string> | undefined,
    more: boolean,
    batch: BatchRows,
    at: Date,
  ): { outcome: WriteOutcome; next: StoredCommit | null } {
    const version = (cur?.version ?? 0) + 1
    if (op.kind === 'update') {
      const u = op.update
      const curRev = cur?.rev ?? null
      if (curRev !== null && u.rev <= curRev) return { outcome: 'unchanged', next: null }
      if (u.since !== curRev) return { outcome: 'conflict', next: null }
      const head = encodeHead(u.space, epoch, u.author, version, u.rev, at)
      batch.push(head, op.tails)
      if (keys !== undefined && more) {
        for (const d of u.deletes) keys.delete(pathOf(d.collection, d.rkey))
        for (const w of u.upserts) keys.add(pathOf(w.collection, w.rkey))
      }
      const next: StoredCommit = {
        rev: u.rev,
        version,
        ltStateHex: hex(u.ltState),
        commitHashHex: hex(u.commitHash),
        generation: cur?.generation ?? 0,
        status: 'active',
        reason: '',
      }
      batch.push(head, encodeCommit(next))
      return { outcome: 'applied', next }
    }
    if (op.kind === 'replace') {
      const s = op.snapshot
      const hashHex = hex(s.commitHash)
      if (cur !== null && cur.rev !== null && s.force !== true) {
        if (s.rev < cur.rev || (s.rev === cur.rev && hashHex === cur.commitHashHex)) {
          return { outcome: 'unchanged', next: null }
        }
      }
      const head = encodeHead(s.space, epoch, s.author, version, s.rev, at)
      // Tombstones for the stored keys the snapshot no longer has (none on a repo's first fetch).
      if (keys !== undefined && keys.size > 0) {
        const fresh = new Set(s.records.map((w) => pathOf(w.collection, w.rkey)))
        const gone: RecordKey[] = []
        for (const p of keys) {
          if (fresh.has(p)) continue
          const slash = p.indexOf('/')
          gone.push({ collection: p.slice(0, slash), rkey: p.slice(slash + 1) })
        }
        batch.push(head, encodeTails(gone, []))
      }
      batch.push(head, op.tails)
      if (keys !== undefined && more) {
        keys.clear()
        for (const w of s.records) keys.add(pathOf(w.collection, w.rkey))
      }
      const next: StoredCommit = {
        rev: s.rev,
        version,
        ltStateHex: hex(s.ltState),
        commitHashHex: hashHex,
        generation: (cur?.generation ?? 0) + 1,
        status: 'active',
        reason: '',
      }
      batch.push(head, encodeCommit(next))
      return { outcome: 'applied', next }
    }
    const same =
      cur === null
        ? op.status === 'active' && op.reason === ''
        : cur.status === op.status && cur.reason === op.reason
    if (same) return { outcome: 'unchanged', next: null }
    const next: StoredCommit = {
      rev: cur?.rev ?? null,
      version,
      ltStateHex: cur?.ltStateHex ?? '',
      commitHashHex: cur?.commitHashHex ?? '',
      generation: cur?.generation ?? 0,
      status: op.status,
      reason: op.reason,
    }
    batch.push(encodeHead(op.space, epoch, op.author, version, next.rev ?? '', at), encodeCommit(next))
    return { outcome: 'applied', next }
  }

  /**
   * Runs `sql` (with {spaces} and {authors} parameters) for the repos of `ops`, a chunk at a time. The
   * rows may include other (space, author) pairs of the same spaces and authors; callers filter.
   */
  private async byRepos<T>(ops: readonly WriteOp[], sql: string): Promise<T[]> {
    const repos = new Map<string, { space: string; author: string }>()
    for (const op of ops)
      repos.set(repoKey(spaceOf(op), authorOf(op)), { space: spaceOf(op), author: authorOf(op) })
    const out: T[] = []
    for (const part of chunks([...repos.values()])) {
      const spaces = [...new Set(part.map((r) => r.space))]
      const authors = [...new Set(part.map((r) => r.author))]
      out.push(...(await this.ch.queryOnWriter<T>(sql, { spaces, authors })))
    }
    return out
  }

  /**
   * Current commits of the repos in `ops`. The 4 KB LtHash state is read only when a status change has to
   * copy it; the checks themselves need rev, version and hash.
   */
  private async storedCommits(
    ops: readonly WriteOp[],
    epochs: Map<string, number>,
  ): Promise<Map<string, StoredCommit>> {
    const out = new Map<string, StoredCommit>()
    const exact = this.exact
    const asked: WriteOp[] = []
    for (const op of ops) {
      const known = exact?.commitOf(spaceOf(op), epochs.get(spaceOf(op))!, authorOf(op))
      if (known === null) continue // nothing stored
      // A status change copies the LtHash state, which is not kept: it reads the commit.
      if (known !== undefined && op.kind !== 'status') {
        out.set(repoKey(spaceOf(op), authorOf(op)), { ...known, ltStateHex: '' })
      } else {
        asked.push(op)
      }
    }
    if (asked.length === 0) return out
    const mark = exact?.since() ?? 0
    const wanted = new Set(asked.map((op) => repoKey(spaceOf(op), authorOf(op))))
    const withLt = asked.some((op) => op.kind === 'status')
    // One thread: the commit rows sit together at the head of each part (kind leads the key), a few granules.
    const rows = await this.byRepos<CommitRowFromDb>(
      asked,
      `SELECT space, epoch, author, rev, version, generation, status, reason, commit_hash${withLt ? ', lt_state' : ''}
       FROM ${this.records} FINAL
       WHERE kind = 'commit' AND space IN {spaces:Array(String)} AND collection = ''
         AND author IN {authors:Array(String)} AND rkey = ''
       SETTINGS max_threads = 1`,
    )
    for (const r of rows) {
      const key = repoKey(r.space, r.author)
      if (!wanted.has(key) || epochs.get(r.space) !== Number(r.epoch)) continue
      out.set(key, {
        rev: r.rev === '' ? null : r.rev,
        version: Number(r.version),
        ltStateHex: r.lt_state ?? '',
        commitHashHex: r.commit_hash,
        generation: Number(r.generation),
        status: r.status,
        reason: r.reason,
      })
    }
    // What this lane read is what is stored until a write (of this or another store) changes it.
    for (const op of asked) {
      const space = spaceOf(op)
      const found = out.get(repoKey(space, authorOf(op)))
      exact?.read(space, epochs.get(space)!, authorOf(op), found ? knownCommit(found) : null, mark)
    }
    return out
  }

  /** Live record keys of every repo that gets a snapshot in this batch (needed for its tombstones). */
  private async storedKeys(
    ops: readonly WriteOp[],
    epochs: Map<string, number>,
    commits: Map<string, StoredCommit>,
  ): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>()
    const stored: WriteOp[] = []
    for (const op of ops) {
      if (op.kind !== 'replace') continue
      const key = repoKey(spaceOf(op), authorOf(op))
      if (out.has(key)) continue
      out.set(key, new Set())
      if (commits.get(key)?.rev != null) stored.push(op)
    }
    if (stored.length === 0) return out
    const rows = await this.byRepos<{
      space: string
      epoch: number | string
      author: string
      collection: string
      rkey: string
    }>(
      stored,
      `SELECT space, epoch, author, collection, rkey FROM ${this.records} FINAL
       WHERE kind = 'record' AND space IN {spaces:Array(String)} AND author IN {authors:Array(String)}`,
    )
    for (const r of rows) {
      if (epochs.get(r.space) !== Number(r.epoch)) continue
      out.get(repoKey(r.space, r.author))?.add(pathOf(r.collection, r.rkey))
    }
    return out
  }
}
