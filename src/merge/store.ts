/**
 * MergeStore: the per-space merged view of all writers' repos, kept in ClickHouse.
 *
 * Writes (repo updates, full-repo snapshots, repo status) are validated, batched by size and time
 * (batcher.ts) and applied as one atomic insert per batch (repo-writer.ts); each caller's promise settles
 * once its write is durable and visible. Space lifecycle, account status and ACL snapshots are small direct
 * writes. Every write of this process runs on one serial lane, so a batch's compare-and-set reads cannot
 * interleave with another write. Reads (record-reader.ts) go straight to ClickHouse and see whole writes.
 *
 * Across processes the contract is one writer per repo at a time (the crawler's per-repo jobs) and space
 * deletion issued by the process that writes the space (or repeated once that process is done).
 */
import pino, { type Logger } from 'pino'
import { AccessSnapshots } from './access.js'
import { Accounts, ACCOUNT_STATUSES } from './accounts.js'
import { Batcher } from './batcher.js'
import { openClickHouse, type ClickHouse } from './clickhouse.js'
import type { MergeConfig } from './config.js'
import { ensureInput, MergeError } from './errors.js'
import { SerialLane } from './lane.js'
import { migrate } from './migrate.js'
import { RecordReader } from './record-reader.js'
import { RepoWriter } from './repo-writer.js'
import { opRowCount, prepareWrite, type WriteOp, type WriteRequest } from './write-op.js'
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
  StoredRecord,
  WriteOutcome,
  WriteResult,
} from './types.js'

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
  private readonly reader: RecordReader
  private readonly spaces: Spaces
  private readonly accounts: Accounts
  private readonly access: AccessSnapshots
  private closed = false

  private constructor(
    readonly clickhouse: ClickHouse,
    config: MergeConfig,
    private readonly logger: Logger,
    private readonly observer: MergeObserver,
  ) {
    this.writer = new RepoWriter(clickhouse)
    this.spaces = new Spaces(clickhouse)
    this.accounts = new Accounts(clickhouse)
    this.access = new AccessSnapshots(clickhouse)
    this.reader = new RecordReader(clickhouse, config.readStrategy, this.accounts)
    this.batcher = new Batcher<WriteOp, WriteResult>({
      ...config.batch,
      size: opRowCount,
      flush: (ops, waitedMs) => this.lane.run(() => this.writeBatch(ops, waitedMs)),
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
    const report = await this.writer.write(ops)
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

  /** Writes every pending repo write now and waits for it. */
  flush(): Promise<void> {
    return this.batcher.drain()
  }

  // ---- spaces, accounts, ACL (direct writes on the same lane; their reads are below with the others) ----

  async upsertSpace(space: string): Promise<SpaceInfo> {
    this.ensureOpen()
    ensureInput(typeof space === 'string' && space.startsWith('at://'), 'space must be an at:// space URI')
    return this.lane.run(() => this.spaces.upsert(space, new Date()))
  }

  /** The space's lifecycle row (tombstones included), or null if never seen. */
  getSpace(space: string): Promise<SpaceInfo | null> {
    return this.timed('getSpace', () => this.spaces.get(space))
  }

  /** Tombstones the space and purges its data. Call only on a verified deletion. */
  async deleteSpace(space: string): Promise<SpaceInfo> {
    this.ensureOpen()
    ensureInput(typeof space === 'string' && space.startsWith('at://'), 'space must be an at:// space URI')
    return this.lane.run(async () => {
      const tomb = await this.spaces.delete(space, new Date())
      this.logger.info({ space, epoch: tomb.epoch }, 'space deleted and purged')
      return tomb
    })
  }

  /** Records an account status event; `at` is the event time (newest wins). */
  async setAccountStatus(did: string, status: AccountStatus, at: Date = new Date()): Promise<void> {
    this.ensureOpen()
    ensureInput(typeof did === 'string' && did.startsWith('did:'), 'did must be a DID')
    ensureInput(ACCOUNT_STATUSES.includes(status), `status must be one of ${ACCOUNT_STATUSES.join(', ')}`)
    return this.lane.run(() => this.accounts.setStatus(did, status, at))
  }

  getAccountStatus(did: string): Promise<AccountStatus> {
    return this.timed('getAccountStatus', () => this.accounts.status(did))
  }

  /** Stores the space's access snapshot; false (nothing stored) if the space is not active. */
  async setAccessSnapshot(
    space: string,
    snapshot: { policy: unknown; appAccess: unknown; members: string[] | null },
    fetchedAt: Date = new Date(),
  ): Promise<boolean> {
    this.ensureOpen()
    return this.lane.run(async () => {
      const info = await this.spaces.get(space)
      if (info?.status !== 'active') return false
      await this.access.set(space, info.epoch, snapshot, fetchedAt)
      return true
    })
  }

  /** The access snapshot of the space's current epoch, or null (none stored, or space not active). */
  getAccessSnapshot(space: string): Promise<AccessSnapshot | null> {
    return this.timed('getAccessSnapshot', () => this.access.get(space))
  }

  /** Membership by the stored member list; null when there is none (unknown, not "no"). */
  isMember(space: string, did: string): Promise<boolean | null> {
    return this.timed('isMember', () => this.access.isMember(space, did))
  }

  // ---- reads ----

  listRecords(query: ListRecordsQuery): Promise<RecordPage> {
    return this.timed('listRecords', () => this.reader.listRecords(query))
  }

  getRecord(space: string, author: string, collection: string, rkey: string): Promise<StoredRecord | null> {
    return this.timed('getRecord', () => this.reader.getRecord(space, author, collection, rkey))
  }

  countRecords(space: string, filter?: RecordFilter): Promise<number> {
    return this.timed('countRecords', () => this.reader.countRecords(space, filter))
  }

  getRepoState(space: string, author: string): Promise<RepoState | null> {
    return this.timed('getRepoState', () => this.reader.getRepoState(space, author))
  }

  /** Repo states of a space's current epoch, by author DID ascending. */
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
    this.observer.read?.({ op, ms: performance.now() - t0 })
    return out
  }

  /** Writes what is pending, then releases the connection (and the embedded data directory). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.batcher.drain()
    } finally {
      await this.lane.run(() => this.clickhouse.close())
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new MergeError('closed', 'the merge store is closed; open a new one')
  }
}
