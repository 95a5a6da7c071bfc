/**
 * Reads of the merged per-space view: list, get and count records, and a repo's stored state.
 *
 * Visibility (nothing that could go stale across processes):
 * - the space's current epoch, and only if the space is active (tombstoned spaces read as empty);
 * - the newest version of each (collection, author, rkey), unless that version is a deletion;
 * - authors whose account is not active are hidden everywhere.
 * The epoch and the hidden authors come from the authoritative catalog as literals when there is one (the
 * embedded engine, catalog.ts: exact, it sees every write of the process); otherwise from subqueries inside
 * the same query. Rows of a repo update and its commit arrive in one part (repo-writer.ts), so a query sees
 * whole updates.
 *
 * Collapsing versions without waiting for background merges — two equivalent strategies:
 * - 'final' (default): `FROM records FINAL`, read in primary-key order and stopped at LIMIT.
 * - 'limit-by': no FINAL; `ORDER BY key, version DESC LIMIT 1 BY key`, then drop deletions.
 * bench/merge.ts measures both on the same random pages of the same data. FINAL is faster: at 1M records
 * p50 17.8 ms / p99 33.9 ms against 26.8 / 58.4 ms for LIMIT 1 BY (1.5× / 1.7×), at 10M 25.9 / 168 ms
 * against 37.3 / 265 ms (embedded engine on a shared 2-core VM whose bare `SELECT 1` costs ~1.5 ms). With
 * a single thread and small blocks (SMALL_READ) FINAL reads in key order and stops at LIMIT, while
 * LIMIT 1 BY has to sort by version within each key first. Both are kept because the tests cross-check
 * them and the balance may differ on another server version (MERGE_READ_STRATEGY).
 * Also measured on the 1M bench data (chdb 26.7, engine CPU per page, interleaved runs) and not adopted:
 * `argMax(…, version) GROUP BY key` with aggregation in order, 2× FINAL; the same read without FINAL (wrong,
 * it returns old versions) only ~10% cheaper, so collapsing is not where a page's time goes; the old
 * analyzer, smaller blocks (256/128), mmap reads, no FINAL range splitting, LZ4 instead of ZSTD(1) on
 * values: all within ±5%. A page costs ~6 ms of engine CPU: ~2.3 ms planning, the rest opening and
 * reading ~12 columns in each active part (41 file opens, ~2.5 MB decompressed), against ~1.3 ms for
 * `SELECT 1`. The view cache (view-cache.ts) is what takes repeated pages off the engine.
 */
import type { Accounts } from './accounts.js'
import type { Catalog } from './catalog.js'
import type { ClickHouse, QueryParams } from './clickhouse.js'
import type { Spaces } from './spaces.js'
import { decodeCursor, encodeCursor } from './cursor.js'
import { ensureInput, MergeError } from './errors.js'
import { tableRef } from './schema.js'
import { sqlString } from './sql-literal.js'
import { ACCOUNTS, RECORDS, SPACES } from './tables.js'
import { isoFromClickHouse } from './tsv.js'
import type {
  AccountStatus,
  ListRecordsQuery,
  ReadStrategy,
  RecordFilter,
  RecordPage,
  RepoState,
  RepoStatePage,
  RepoStatus,
  StoredRecord,
} from './types.js'

const DEFAULT_LIMIT = 50
const MAX_LIMIT = 1000

interface RecordRow {
  author: string
  collection: string
  rkey: string
  cid: string
  value: string
  rev: string
  indexed_at: string
}

interface CommitRowFromDb {
  author: string
  epoch: number | string
  rev: string
  version: number | string
  generation: number | string
  status: RepoStatus
  reason: string
  lt_state: string
  commit_hash: string
  indexed_at: string
}

const RECORD_FIELDS = 'author, collection, rkey, cid, value, rev, indexed_at'
/**
 * Pages and point reads touch a few granules: one thread avoids fan-out overhead, and small blocks let the
 * in-order read stop soon after LIMIT is reached instead of reading the whole key range (measured ~30%
 * lower latency on the bench data).
 */
const SMALL_READ = 'SETTINGS max_threads = 1, max_block_size = 1024'
const KEY = ['collection', 'author', 'rkey'] as const

export class RecordReader {
  private readonly records: string
  private readonly spaces: string
  private readonly accountsTable: string

  /** `catalog` is used only if authoritative (catalog.ts); else every query finds epoch and hidden authors. */
  constructor(
    private readonly ch: ClickHouse,
    private readonly strategy: ReadStrategy,
    private readonly accounts: Accounts,
    private readonly catalog: Catalog,
    private readonly spacesOf: Spaces,
  ) {
    this.records = tableRef(ch.target, RECORDS.name)
    this.spaces = tableRef(ch.target, SPACES.name)
    this.accountsTable = tableRef(ch.target, ACCOUNTS.name)
  }

  /**
   * Epoch condition of `params.space`, or null if the catalog knows the space is not active. Without an
   * authoritative catalog: a scalar subquery, evaluated first, so the primary key index still applies.
   */
  private async epochOf(space: string): Promise<string | null> {
    if (!this.catalog.authoritative) {
      return `epoch = (SELECT epoch FROM ${this.spaces} FINAL WHERE space = {space:String} AND status = 'active')`
    }
    const epoch = (await this.catalog.activeEpochs([space], (s) => this.spacesOf.activeEpochs(s))).get(space)
    return epoch === undefined ? null : `epoch = ${epoch}`
  }

  /** Condition hiding the authors whose account is not active (none if there are none). */
  private async visibleAuthors(): Promise<string | null> {
    if (!this.catalog.authoritative) {
      return `author NOT IN (SELECT did FROM ${this.accountsTable} FINAL WHERE status != 'active')`
    }
    const hidden = await this.catalog.hiddenAccounts(() => this.accounts.allInactive())
    return hidden.size === 0 ? null : `author NOT IN (${[...hidden.keys()].map(sqlString).join(', ')})`
  }

  /** Conditions selecting the visible rows of `params.space` (which the caller binds); null: none are. */
  private async visibleRecords(
    space: string,
    filter: RecordFilter,
    params: QueryParams,
  ): Promise<string[] | null> {
    const [epoch, authors] = await Promise.all([this.epochOf(space), this.visibleAuthors()])
    if (epoch === null) return null
    const where = ['space = {space:String}', epoch, "kind = 'record'"]
    if (authors !== null) where.push(authors)
    if (filter.collection !== undefined) {
      where.push('collection = {collection:String}')
      params.collection = filter.collection
    }
    if (filter.author !== undefined) {
      where.push('author = {author:String}')
      params.author = filter.author
    }
    return where
  }

  /** Newest version per key among rows matching `where`, deletions dropped, in `order`. */
  private collapsed(fields: string, where: string[], order: string, limit: string): string {
    if (this.strategy === 'final') {
      return `SELECT ${fields} FROM ${this.records} FINAL WHERE ${where.join(' AND ')} ${order} ${limit}`
    }
    const versionOrder = order === '' ? 'ORDER BY version DESC' : `${order}, version DESC`
    return (
      `SELECT ${fields} FROM (SELECT ${fields}, is_deleted FROM ${this.records} WHERE ${where.join(' AND ')} ` +
      `${versionOrder} LIMIT 1 BY ${KEY.join(', ')}) WHERE is_deleted = 0 ${order} ${limit}`
    )
  }

  async listRecords(q: ListRecordsQuery): Promise<RecordPage> {
    const limit = q.limit ?? DEFAULT_LIMIT
    ensureInput(Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT, `limit must be 1..${MAX_LIMIT}`)
    const params: QueryParams = { space: q.space, limit }
    const where = await this.visibleRecords(q.space, q, params)
    if (where === null) return { records: [] }
    const cmp = q.reverse === true ? '<' : '>'
    if (q.cursor !== undefined) {
      const c = decodeCursor(q.cursor)
      Object.assign(params, { cc: c.collection, ca: c.author, cr: c.rkey })
      // Expanded lexicographic comparison: the primary-key analysis understands it, a tuple compare less so.
      where.push(
        `(collection ${cmp} {cc:String} OR (collection = {cc:String} AND ` +
          `(author ${cmp} {ca:String} OR (author = {ca:String} AND rkey ${cmp} {cr:String}))))`,
      )
    }
    const dir = q.reverse === true ? ' DESC' : ''
    const order = `ORDER BY ${KEY.map((k) => k + dir).join(', ')}`
    const rows = await this.ch.query<RecordRow>(
      `${this.collapsed(RECORD_FIELDS, where, order, 'LIMIT {limit:UInt32}')} ${SMALL_READ}`,
      params,
    )
    const records = rows.map((r) => toRecord(q.space, r))
    const last = records[records.length - 1]
    return records.length === limit && last !== undefined
      ? { records, cursor: encodeCursor(last) }
      : { records }
  }

  async getRecord(
    space: string,
    author: string,
    collection: string,
    rkey: string,
  ): Promise<StoredRecord | null> {
    const params: QueryParams = { space, rkey }
    const where = await this.visibleRecords(space, { collection, author }, params)
    if (where === null) return null
    where.push('rkey = {rkey:String}')
    const rows = await this.ch.query<RecordRow>(
      `${this.collapsed(RECORD_FIELDS, where, '', '')} ${SMALL_READ}`,
      params,
    )
    const row = rows[0]
    return row === undefined ? null : toRecord(space, row)
  }

  async countRecords(space: string, filter: RecordFilter = {}): Promise<number> {
    const params: QueryParams = { space }
    const where = await this.visibleRecords(space, filter, params)
    if (where === null) return 0
    const inner = this.collapsed(KEY.join(', '), where, '', '')
    const rows = await this.ch.query<{ n: number | string }>(`SELECT count() AS n FROM (${inner})`, params)
    return Number(rows[0]?.n ?? 0)
  }

  /** Stored commits of (space, author) for `authors` in the space's current epoch (absent: none written). */
  async repoCommits(space: string, authors: readonly string[]): Promise<Map<string, RepoCommit>> {
    const rows = await this.commitRows(space, { authors, limit: authors.length, withState: true })
    return new Map(rows.map((r) => [r.author, toCommit(space, r)]))
  }

  /**
   * Repo states of the space's current epoch by author ascending (optionally just `author`), WITHOUT the
   * LtHash state (`ltState` is null): listings serve status pages and sweeps, which compare (rev, hash). The
   * state column holds 4 KB per repo, and reading it made every sweep's listing decompress megabytes: a
   * burst of sweeps during a long backfill queued reads for seconds (measured: 4,495 listings at 650 ms each
   * in a 100 s window). `getRepoState` loads the state, for the repo's own sync.
   */
  async listRepoStates(
    space: string,
    opts: { author?: string; cursor?: string; limit: number },
  ): Promise<RepoStatePage> {
    ensureInput(
      Number.isInteger(opts.limit) && opts.limit >= 1 && opts.limit <= MAX_LIMIT,
      `limit must be 1..${MAX_LIMIT}`,
    )
    const rows = await this.commitRows(space, { ...opts, withState: false })
    // The exact catalog holds every hidden account: no second query per page (a sweep of each space reads one).
    const inactive = this.catalog.authoritative
      ? await this.catalog.hiddenAccounts(() => this.accounts.allInactive())
      : await this.accounts.inactive(rows.map((r) => r.author))
    const repos = rows.map((r) => withAccount(toCommit(space, r), inactive.get(r.author) ?? 'active'))
    const last = repos[repos.length - 1]
    return repos.length === opts.limit && last !== undefined
      ? { repos, cursor: Buffer.from(last.author).toString('base64url') }
      : { repos }
  }

  private async commitRows(
    space: string,
    opts: {
      author?: string
      authors?: readonly string[]
      cursor?: string
      limit: number
      /** Load the LtHash state (else the rows carry '' for it). */
      withState: boolean
    },
  ): Promise<CommitRowFromDb[]> {
    const params: QueryParams = { space, limit: opts.limit }
    const epoch = await this.epochOf(space)
    if (epoch === null) return []
    const where = ['space = {space:String}', epoch, "kind = 'commit'", "collection = ''", "rkey = ''"]
    if (opts.author !== undefined) {
      where.push('author = {author:String}')
      params.author = opts.author
    }
    if (opts.authors !== undefined) {
      where.push('author IN {authors:Array(String)}')
      params.authors = opts.authors
    }
    if (opts.cursor !== undefined) {
      where.push('author > {after:String}')
      params.after = decodeAuthorCursor(opts.cursor)
    }
    return this.ch.query<CommitRowFromDb>(
      `SELECT author, epoch, rev, version, generation, status, reason,
       ${opts.withState ? 'lt_state' : "'' AS lt_state"}, commit_hash, indexed_at
       FROM ${this.records} FINAL WHERE ${where.join(' AND ')} ORDER BY author LIMIT {limit:UInt32} ${SMALL_READ}`,
      params,
    )
  }
}

/** A repo's stored commit: its RepoState without the account fields (those come from `accounts`). */
export type RepoCommit = Omit<RepoState, 'accountStatus' | 'hidden'>

function toCommit(space: string, c: CommitRowFromDb): RepoCommit {
  const committed = c.rev !== ''
  return {
    space,
    epoch: Number(c.epoch),
    author: c.author,
    rev: committed ? c.rev : null,
    // Absent when not loaded (listings); a committed repo always has one stored.
    ltState: committed && c.lt_state !== '' ? new Uint8Array(Buffer.from(c.lt_state, 'hex')) : null,
    commitHash: committed ? new Uint8Array(Buffer.from(c.commit_hash, 'hex')) : null,
    generation: Number(c.generation),
    version: Number(c.version),
    status: c.status,
    reason: c.reason,
    updatedAt: isoFromClickHouse(c.indexed_at),
  }
}

/** The RepoState of `c` for an author whose account has `accountStatus`; byte fields are fresh copies. */
export function withAccount(c: RepoCommit, accountStatus: AccountStatus): RepoState {
  return {
    ...c,
    ltState: c.ltState === null ? null : c.ltState.slice(),
    commitHash: c.commitHash === null ? null : c.commitHash.slice(),
    accountStatus,
    hidden: accountStatus !== 'active',
  }
}

function decodeAuthorCursor(cursor: string): string {
  const author = Buffer.from(cursor, 'base64url').toString('utf8')
  if (!author.startsWith('did:')) {
    throw new MergeError(
      'bad_cursor',
      'malformed cursor: pass back the cursor of the previous page unchanged',
    )
  }
  return author
}

function toRecord(space: string, r: RecordRow): StoredRecord {
  return {
    uri: `${space}/${r.author}/${r.collection}/${r.rkey}`,
    space,
    author: r.author,
    collection: r.collection,
    rkey: r.rkey,
    cid: r.cid,
    value: JSON.parse(r.value) as unknown,
    rev: r.rev,
    indexedAt: isoFromClickHouse(r.indexed_at),
  }
}
