/**
 * MergeStore: the per-space merged view of all writers' repos, kept in ClickHouse.
 *
 * Writes (repo updates, full-repo snapshots, repo status) are validated, batched by size and time
 * (batcher.ts) and applied as one atomic insert per batch (repo-writer.ts); each caller's promise settles
 * once its write is durable and visible. Space upserts and ACL snapshots are grouped the same way (a
 * bootstrap of thousands of spaces writes a few inserts, not two per space: each group is one insert, one
 * part, all visible at once); space deletion and account status are direct writes. Every write of this
 * store runs on one serial lane, so a batch's compare-and-set reads cannot
 * interleave with another write. Reads (record-reader.ts) go to ClickHouse and see whole writes, except:
 * - the crawler's point reads of a repo's state: served from a hint cache (hint-cache.ts) that this store's
 *   own writes update as soon as they are visible and that forgets what another instance may have changed
 *   after `stateCacheMs`; its misses are coalesced per space (commit-loader.ts). The cache never decides a
 *   write: the writer's compare-and-set reads ClickHouse, so a stale hint costs a `conflict` or `unchanged`
 *   outcome (and the crawler's retry), never a lost or doubled write;
 * - space epochs and hidden accounts: from the catalog (catalog.ts), exact on the embedded engine (shared
 *   by the stores of this process, updated after each lifecycle/account write) and then also used by reads
 *   and by the writer; a TTL hint on a server, where only getAccountStatus uses it.
 *
 * On the embedded engine this store is the only writer of its database (one process holds the data
 * directory; other processes write through it by store RPC), so the merged-view reads (listRecords,
 * getRecord, countRecords) are also served from an exact cache (view-cache.ts) that every write
 * invalidates once it is visible. On a server other processes may write, and that cache is off.
 *
 * Across processes the contract is one writer per repo at a time (the crawler's per-repo jobs) and space
 * deletion issued by the process that writes the space (or repeated once that process is done).
 */
import pino, { type Logger } from 'pino'
import { AccessSnapshots, type PreparedSnapshot } from './access.js'
import { Accounts, ACCOUNT_STATUSES } from './accounts.js'
import { Batcher } from './batcher.js'
import { Catalog } from './catalog.js'
import { acquireDatabaseShared } from './database-shared.js'
import { openClickHouse, type ClickHouse } from './clickhouse.js'
import { CommitLoader } from './commit-loader.js'
import type { ExactCommits } from './exact-commits.js'
import { DEFAULT_STATE_CACHE_MS, DEFAULT_VIEW_CACHE_BYTES, type MergeConfig } from './config.js'
import { ensureInput, MergeError } from './errors.js'
import { SerialLane } from './lane.js'
import { HintCache } from './hint-cache.js'
import { ViewCache } from './view-cache.js'
import { migrate } from './migrate.js'
import { RecordReader, withAccount, type RepoCommit } from './record-reader.js'
import { knownCommit, RepoWriter, type CommittedRepo, type WriteReport } from './repo-writer.js'
import { authorOf, opRowCount, prepareWrite, spaceOf, type WriteOp, type WriteRequest } from './write-op.js'
import { Spaces } from './spaces.js'
import type {
  AccessSnapshot,
  AccountStatus,
  ListRecordsQuery,
  RecordFilter,
  RecordPage,
  RepoSnapshot,
  RepoState,
  RepoStatePage,
  RepoStatus,
  RepoUpdate,
  SpaceInfo,
  SpacePage,
  UpsertedSpace,
  StoredRecord,
  WriteOutcome,
  WriteResult,
} from './types.js'

/** Most repo states the hint cache holds; an entry is ~2.5 KB (the LtHash state). */
const CACHED_REPOS = 20_000

function repoKey(space: string, author: string): string {
  return `${space}\n${author}`
}

function cachedCommit(c: CommittedRepo): RepoCommit {
  const committed = c.commit.rev !== null
  return {
    space: c.space,
    epoch: c.epoch,
    author: c.author,
    rev: c.commit.rev,
    ltState: committed ? new Uint8Array(Buffer.from(c.commit.ltStateHex, 'hex')) : null,
    commitHash: committed ? new Uint8Array(Buffer.from(c.commit.commitHashHex, 'hex')) : null,
    generation: c.commit.generation,
    version: c.commit.version,
    status: c.commit.status,
    reason: c.commit.reason,
    updatedAt: c.at.toISOString(),
  }
}

/** An access snapshot waiting for its group's insert. */
interface SnapshotWrite {
  space: string
  snapshot: PreparedSnapshot
  at: Date
}

export interface BatchStats {
  ops: number
  rows: number
  bytes: number
  /** How long the oldest write of the batch waited before the batch started. */
  waitedMs: number
  /** Time to check and insert the batch. */
  writeMs: number
  outcomes: Record<WriteOutcome, number>
}

export interface ReadStats {
  op:
    | 'listRecords'
    | 'getRecord'
    | 'countRecords'
    | 'getRepoState'
    | 'listRepoStates'
    | 'listSpaces'
    | 'getSpace'
    | 'getAccountStatus'
    | 'getAccessSnapshot'
    | 'isMember'
  ms: number
  /** Answered from the exact view cache, without a ClickHouse query. */
  cached: boolean
}

/** Optional hooks for metrics; called synchronously, must not throw. */
export interface MergeObserver {
  batch?(stats: BatchStats): void
  read?(stats: ReadStats): void
}

export interface OpenOptions {
  logger?: Logger
  observer?: MergeObserver
  /** Apply pending migrations while opening (default true). */
  migrate?: boolean
}

export class MergeStore {
  private readonly lane = new SerialLane()
  private readonly writer: RepoWriter
  private readonly batcher: Batcher<WriteOp, WriteResult>
  /** Space upserts and access snapshots, grouped like repo writes (each group: one insert). */
  private readonly spaceBatcher: Batcher<string, UpsertedSpace>
  private readonly snapshotBatcher: Batcher<SnapshotWrite, boolean>
  private readonly reader: RecordReader
  private readonly spaces: Spaces
  private readonly accounts: Accounts
  private readonly access: AccessSnapshots
  /** Hints keyed by repoKey(space, author): the stored commit, or null for "nothing stored". */
  private readonly commits: HintCache<string, RepoCommit | null>
  private readonly commitLoader: CommitLoader
  /** Space epochs and hidden accounts (exact on the embedded engine, a hint on a server: catalog.ts). */
  private readonly catalog: Catalog
  /**
   * The embedded database's shared catalog, which this store's lifecycle and account writes must update
   * even when it reads through a catalog of its own (cache off), so the other stores' reads stay exact.
   */
  private readonly sharedCatalog: Catalog | null
  /**
   * The embedded database's repo commits known exactly (exact-commits.ts): every store reports its writes
   * to it; the writer relies on it only where the catalog is exact too.
   */
  private readonly sharedExact: ExactCommits | null
  /** Active epochs of spaces: from the catalog where it is exact, else read from ClickHouse. */
  private readonly activeEpochs: (spaces: readonly string[]) => Promise<Map<string, number>>
  /** Merged-view reads; exact (see the header), only where this store is the database's only writer. */
  private readonly views: ViewCache
  /** False when this instance was opened with the view cache off (it still reports its writes to it). */
  private readonly readViewsCached: boolean
  /** Gives back the embedded database's shared catalog and view cache (database-shared.ts). */
  private readonly releaseShared: () => void
  private closed = false

  private constructor(
    readonly clickhouse: ClickHouse,
    config: MergeConfig,
    private readonly logger: Logger,
    private readonly observer: MergeObserver,
  ) {
    const ttl = config.stateCacheMs ?? DEFAULT_STATE_CACHE_MS
    const ch = config.clickhouse
    const held = ch.transport === 'embedded' ? acquireDatabaseShared(ch.path, ch.database) : null
    this.releaseShared = held?.release ?? (() => undefined)
    this.sharedCatalog = held?.shared.catalog ?? null
    this.sharedExact = held?.shared.exact ?? null
    const viewBytes = held === null ? 0 : (config.viewCacheBytes ?? DEFAULT_VIEW_CACHE_BYTES)
    this.views = held?.shared.views ?? new ViewCache(0)
    this.views.allow(viewBytes)
    this.readViewsCached = viewBytes > 0
    this.catalog = this.sharedCatalog !== null && ttl > 0 ? this.sharedCatalog : new Catalog(false, ttl)
    this.spaces = new Spaces(clickhouse)
    this.accounts = new Accounts(clickhouse)
    this.access = new AccessSnapshots(clickhouse)
    const epochs = (spaces: readonly string[]): Promise<Map<string, number>> =>
      this.spaces.activeEpochs(spaces)
    this.activeEpochs = this.catalog.authoritative
      ? (spaces) => this.catalog.activeEpochs(spaces, epochs)
      : epochs
    this.writer = new RepoWriter(
      clickhouse,
      this.activeEpochs,
      this.catalog.authoritative ? this.sharedExact : null,
    )
    this.reader = new RecordReader(clickhouse, config.readStrategy, this.accounts, this.catalog, this.spaces)
    this.commits = new HintCache(ttl, CACHED_REPOS)
    this.commitLoader = new CommitLoader((space, authors) => this.reader.repoCommits(space, authors))
    this.batcher = new Batcher<WriteOp, WriteResult>({
      ...config.batch,
      size: opRowCount,
      flush: (ops, waitedMs) => this.lane.run(() => this.writeBatch(ops, waitedMs)),
    })
    // Space groups do not wait for companions on an idle store: a bootstrap writes twice in a row, and the
    // calls that arrive while a group is written (the bulk of a burst of bootstraps) form the next group.
    const spaceGroups = { maxRows: config.batch.maxRows, maxDelayMs: 0 }
    this.spaceBatcher = new Batcher<string, UpsertedSpace>({
      ...spaceGroups,
      size: () => 1,
      flush: (spaces) => this.lane.run(() => this.upsertSpaces(spaces)),
    })
    this.snapshotBatcher = new Batcher<SnapshotWrite, boolean>({
      ...spaceGroups,
      size: () => 1,
      flush: (writes) => this.lane.run(() => this.writeSnapshots(writes)),
    })
  }

  static async open(config: MergeConfig, opts: OpenOptions = {}): Promise<MergeStore> {
    const logger = opts.logger ?? pino({ level: 'silent' })
    const ch = openClickHouse(config.clickhouse)
    const store = new MergeStore(ch, config, logger.child({ component: 'merge' }), opts.observer ?? {})
    try {
      if (opts.migrate !== false) await store.migrate()
    } catch (err) {
      await ch.close()
      throw err
    }
    return store
  }

  /** Applies pending schema migrations; returns the versions applied now. */
  migrate(): Promise<number[]> {
    return this.lane.run(() => migrate(this.clickhouse, this.logger))
  }

  // ---- repo writes (batched) ----

  applyRepoUpdate(update: RepoUpdate): Promise<WriteResult> {
    return this.enqueue({ kind: 'update', update })
  }

  /** Replaces everything stored for (space, author) with `snapshot`, in one step (recovery, first fetch). */
  replaceRepo(snapshot: RepoSnapshot): Promise<WriteResult> {
    return this.enqueue({ kind: 'replace', snapshot })
  }

  setRepoStatus(space: string, author: string, status: RepoStatus, reason = ''): Promise<WriteResult> {
    return this.enqueue({ kind: 'status', space, author, status, reason })
  }

  private async enqueue(request: WriteRequest): Promise<WriteResult> {
    this.ensureOpen()
    // Validation and JSON encoding happen here, outside the write lane: they overlap the insert of the
    // previous batch, and a bad write is refused to its caller alone.
    return this.batcher.add(prepareWrite(request))
  }

  private async writeBatch(ops: WriteOp[], waitedMs: number): Promise<WriteResult[]> {
    const t0 = performance.now()
    let report: WriteReport
    try {
      report = await this.writer.write(ops)
    } catch (err) {
      // The insert may have landed even though it reported an error: forget what the batch touched.
      const touched = new Set(ops.map((op) => repoKey(spaceOf(op), authorOf(op))))
      this.commits.drop((key) => touched.has(key))
      for (const space of new Set(ops.map(spaceOf))) this.sharedExact?.forget(space)
      throw err
    } finally {
      for (const space of new Set(ops.map(spaceOf))) this.views.spaceChanged(space)
    }
    for (const c of report.committed) {
      this.commits.set(repoKey(c.space, c.author), cachedCommit(c))
      this.sharedExact?.wrote(c.space, c.epoch, c.author, knownCommit(c.commit))
    }
    const writeMs = performance.now() - t0
    const outcomes: Record<WriteOutcome, number> = {
      applied: 0,
      unchanged: 0,
      conflict: 0,
      space_inactive: 0,
    }
    for (const r of report.results) outcomes[r.outcome]++
    const stats: BatchStats = {
      ops: ops.length,
      rows: report.rows,
      bytes: report.bytes,
      waitedMs,
      writeMs,
      outcomes,
    }
    this.logger.debug(stats, 'batch written')
    this.observer.batch?.(stats)
    return report.results
  }

  /** Writes every pending write (repo writes, space upserts, access snapshots) now and waits for it. */
  async flush(): Promise<void> {
    await Promise.all([this.batcher.drain(), this.spaceBatcher.drain(), this.snapshotBatcher.drain()])
  }

  // ---- spaces, accounts, ACL (on the same lane: upserts and snapshots grouped, the rest direct; reads below) ----

  /**
   * Makes the space active (a new, empty epoch if it was deleted or never seen); idempotent. `created` is
   * true when this call started the epoch (so did any call for the same URI grouped with it).
   */
  async upsertSpace(space: string): Promise<UpsertedSpace> {
    this.ensureOpen()
    ensureInput(typeof space === 'string' && space.startsWith('at://'), 'space must be an at:// space URI')
    return this.spaceBatcher.add(space)
  }

  private async upsertSpaces(spaces: string[]): Promise<UpsertedSpace[]> {
    let upserted: Awaited<ReturnType<Spaces['upsert']>>
    try {
      upserted = await this.spaces.upsert(spaces, new Date())
    } catch (err) {
      // The insert may have landed even though it reported an error: what is cached about these spaces is stale.
      for (const space of new Set(spaces)) this.spaceRowChanged(space)
      throw err
    }
    for (const [space, { info, created }] of upserted) {
      // The row just read or written is the space's current state (the bootstrap's next write, its access
      // snapshot, then needs no read of its own).
      this.sharedCatalog?.spaceActive(info, created)
      // A new epoch starts empty: states cached for an earlier one no longer apply.
      if (created) {
        this.sharedExact?.started(space, info.epoch)
        this.commits.drop((key) => key.startsWith(repoKey(space, '')))
        this.views.spaceChanged(space)
      }
    }
    return spaces.map((space) => {
      const { info, created } = upserted.get(space)!
      return { ...info, created }
    })
  }

  /**
   * The space's lifecycle row (tombstones included), or null if never seen; from the catalog where it is
   * authoritative (catalog.ts).
   */
  getSpace(space: string): Promise<SpaceInfo | null> {
    return this.timed('getSpace', async () => {
      const info = await this.catalog.spaceInfo(space, () => this.spaces.get(space))
      return info && { ...info } // a copy: callers cannot change the catalog's
    })
  }

  /** Tombstones the space and purges its data. Call only on a verified deletion. */
  async deleteSpace(space: string): Promise<SpaceInfo> {
    this.ensureOpen()
    ensureInput(typeof space === 'string' && space.startsWith('at://'), 'space must be an at:// space URI')
    return this.lane.run(async () => {
      try {
        // Reads must go empty with the tombstone, not only once the purge is done.
        const tomb = await this.spaces.delete(space, new Date(), () => this.spaceRowChanged(space))
        this.commits.drop((key) => key.startsWith(repoKey(space, '')))
        this.logger.info({ space, epoch: tomb.epoch }, 'space deleted and purged')
        return tomb
      } finally {
        // Also when the purge failed part way: some rows may be gone already (the tombstone is visible).
        this.spaceRowChanged(space)
      }
    })
  }

  /** Once a write to the space's lifecycle row is visible: what is cached about the space is stale. */
  private spaceRowChanged(space: string): void {
    this.sharedCatalog?.spaceChanged(space)
    this.sharedExact?.forget(space)
    this.views.spaceChanged(space)
  }

  /** Records an account status event; `at` is the event time (newest wins). */
  async setAccountStatus(did: string, status: AccountStatus, at: Date = new Date()): Promise<void> {
    this.ensureOpen()
    ensureInput(typeof did === 'string' && did.startsWith('did:'), 'did must be a DID')
    ensureInput(ACCOUNT_STATUSES.includes(status), `status must be one of ${ACCOUNT_STATUSES.join(', ')}`)
    return this.lane.run(async () => {
      // Hides or shows the author's records in every space (and may have partly purged a deleted one).
      const changed = (): void => {
        this.views.allChanged()
        this.catalog.accountsChanged()
        this.sharedCatalog?.accountsChanged()
      }
      try {
        await this.accounts.setStatus(did, status, at, changed)
      } finally {
        changed()
        // A deletion purges the author's rows (perhaps partly, if it failed): its commits are gone.
        if (status === 'deleted') this.sharedExact?.forgetAuthor(did)
      }
      // A deleted account's rows were purged from every space.
      if (status === 'deleted') this.commits.drop((key) => key.endsWith(repoKey('', did)))
    })
  }

  getAccountStatus(did: string): Promise<AccountStatus> {
    return this.timed('getAccountStatus', () => this.accountStatus(did))
  }

  private async accountStatus(did: string): Promise<AccountStatus> {
    const inactive = await this.catalog.hiddenAccounts(() => this.accounts.allInactive())
    return inactive.get(did) ?? 'active'
  }

  /** Stores the space's access snapshot; false (nothing stored) if the space is not active. */
  async setAccessSnapshot(
    space: string,
    snapshot: { policy: unknown; appAccess: unknown; members: string[] | null },
    fetchedAt: Date = new Date(),
  ): Promise<boolean> {
    this.ensureOpen()
    return this.snapshotBatcher.add({ space, snapshot: this.access.prepare(snapshot), at: fetchedAt })
  }

  private async writeSnapshots(writes: SnapshotWrite[]): Promise<boolean[]> {
    const epochs = await this.activeEpochs([...new Set(writes.map((w) => w.space))])
    // One row per space: the newest snapshot (of equal times, the later call), as one-by-one inserts keep.
    const newest = new Map<string, SnapshotWrite>()
    for (const w of writes) {
      const cur = newest.get(w.space)
      if (epochs.has(w.space) && (cur === undefined || w.at >= cur.at)) newest.set(w.space, w)
    }
    try {
      await this.access.set([...newest.values()].map((w) => ({ ...w, epoch: epochs.get(w.space)! })))
    } finally {
      // Also on an error: the insert may have landed all the same.
      for (const space of newest.keys()) this.sharedCatalog?.snapshotChanged(space)
    }
    return writes.map((w) => epochs.has(w.space))
  }

  /** The access snapshot of the space's current epoch, or null (none stored, or space not active). */
  getAccessSnapshot(space: string): Promise<AccessSnapshot | null> {
    return this.timed('getAccessSnapshot', async () => {
      const snap = await this.catalog.accessSnapshot(space, () => this.access.get(space))
      return snap && { ...snap, members: snap.members && [...snap.members] } // a copy, as getSpace
    })
  }

  /** Membership by the stored member list; null when there is none (unknown, not "no"). */
  isMember(space: string, did: string): Promise<boolean | null> {
    return this.timed('isMember', () => this.access.isMember(space, did))
  }

  // ---- reads ----

  /** A page of the space's merged records. The answer is shared with other callers: do not mutate it. */
  listRecords(query: ListRecordsQuery): Promise<RecordPage> {
    return this.viewRead('listRecords', query.space, query, () => this.reader.listRecords(query))
  }

  /** One merged record, or null. The answer is shared with other callers: do not mutate it. */
  getRecord(space: string, author: string, collection: string, rkey: string): Promise<StoredRecord | null> {
    return this.viewRead('getRecord', space, [author, collection, rkey], () =>
      this.reader.getRecord(space, author, collection, rkey),
    )
  }

  countRecords(space: string, filter?: RecordFilter): Promise<number> {
    return this.viewRead('countRecords', space, filter ?? null, () => this.reader.countRecords(space, filter))
  }

  /** Stored state of (space, author) in the space's current epoch, or null if nothing was ever written. */
  getRepoState(space: string, author: string): Promise<RepoState | null> {
    return this.timed('getRepoState', async () => {
      const commit = await this.commits.get(repoKey(space, author), () =>
        this.commitLoader.load(space, author),
      )
      return commit === null ? null : withAccount(commit, await this.accountStatus(author))
    })
  }

  /**
   * The stored (rev, commit hash) of (space, author) if this process has it without a query (its state
   * cache, which its own writes fill), `null` if it knows nothing was stored, `undefined` if it does not know.
   * For dropping duplicate notifications only (notify-receiver.ts): never a write decision.
   */
  knownRepoHead(
    space: string,
    author: string,
  ): { rev: string | null; commitHash: Uint8Array | null } | null | undefined {
    const c = this.commits.peek(repoKey(space, author))
    if (c === undefined || c === null) return c
    return { rev: c.rev, commitHash: c.commitHash === null ? null : new Uint8Array(c.commitHash) }
  }

  /**
   * The stored (rev, commit hash) of each of `authors` in the space's current epoch (null: nothing stored),
   * if this process knows all of them exactly without a query (exact-commits.ts: the embedded engine, for
   * repos it wrote or looked up and epochs it started); else undefined. For sweeps, which compare them with
   * the host's hints: during a backfill every space is in an epoch this process started, and a burst of
   * sweeps would otherwise queue a listing per space on the read connections.
   */
  knownRepoHeads(
    space: string,
    authors: readonly string[],
  ): Map<string, { rev: string | null; commitHash: Uint8Array | null }> | undefined {
    // As the writer: exact knowledge is used only with the exact catalog (a store with caching off reads).
    const heads = this.catalog.authoritative ? this.sharedExact?.headsOf(space, authors) : undefined
    if (heads === undefined) return undefined
    const out = new Map<string, { rev: string | null; commitHash: Uint8Array | null }>()
    for (const [author, c] of heads) {
      if (c === null) out.set(author, { rev: null, commitHash: null })
      else
        out.set(author, {
          rev: c.rev,
          commitHash: c.commitHashHex === '' ? null : new Uint8Array(Buffer.from(c.commitHashHex, 'hex')),
        })
    }
    return out
  }

  /** Repo states of a space's current epoch, by author DID ascending; `ltState` is not loaded (null). */
  listRepoStates(
    space: string,
    opts: { author?: string; cursor?: string; limit: number },
  ): Promise<RepoStatePage> {
    return this.timed('listRepoStates', () => this.reader.listRepoStates(space, opts))
  }

  /** Active spaces by URI ascending; `cursor` is a space URI to resume strictly after. */
  listSpaces(opts: { cursor?: string; limit: number }): Promise<SpacePage> {
    return this.timed('listSpaces', () => this.spaces.list(opts))
  }

  private async timed<T>(op: ReadStats['op'], read: () => Promise<T>): Promise<T> {
    this.ensureOpen()
    const t0 = performance.now()
    const out = await read()
    this.observer.read?.({ op, ms: performance.now() - t0, cached: false })
    return out
  }

  /** A merged-view read of `space`, through the view cache; `args` identify it within its op. */
  private async viewRead<T>(
    op: ReadStats['op'],
    space: string,
    args: unknown,
    read: () => Promise<T>,
  ): Promise<T> {
    this.ensureOpen()
    const t0 = performance.now()
    const key = `${op}\n${space}\n${JSON.stringify(args)}`
    const { value, hit } = this.readViewsCached
      ? await this.views.read(space, key, read)
      : { value: await read(), hit: false }
    this.observer.read?.({ op, ms: performance.now() - t0, cached: hit })
    return value
  }

  /** Writes what is pending, then releases the connection (and the embedded data directory). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.flush()
    } finally {
      this.releaseShared()
      await this.lane.run(() => this.clickhouse.close())
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new MergeError('closed', 'the merge store is closed; open a new one')
  }
}
