/**
 * Public data shapes of the merge store: what the crawler writes (repo updates, full snapshots, status
 * changes) and what readers get back (records, pages, repo state, space and ACL snapshots).
 *
 * Invariants the shapes encode:
 * - A repo is identified by (space, author). Every write carries the commit it was verified against
 *   (`rev`, 2048-byte LtHash `ltState`, 32-byte `commitHash`) so the stored records and the stored commit
 *   can never disagree.
 * - Record values are atproto JSON data model objects (bytes as {"$bytes"}, links as {"$link"}); the store
 *   keeps them as JSON text and gives back what it was given.
 * - Times are ISO-8601 strings in UTC with millisecond precision.
 */

/** Path of a record inside one permissioned repo. */
export interface RecordKey {
  collection: string
  rkey: string
}

/** A record as written into a repo: its key, CID and JSON data model value. */
export interface RecordWrite extends RecordKey {
  cid: string
  value: unknown
}

/** The verified commit a write lands on. */
export interface CommitInfo {
  space: string
  author: string
  /** TID of the commit; compared as a string (TIDs sort lexicographically). */
  rev: string
  /** LtHash state after the write, exactly 2048 bytes. */
  ltState: Uint8Array
  /** `hash` field of the signed commit (sha256 of the LtHash state), 32 bytes. */
  commitHash: Uint8Array
}

/**
 * An incremental update of one repo (the net effect of a `listRepoOps` page run). Applied only if the stored
 * rev equals `since`, which makes replays and out-of-order deliveries harmless.
 */
export interface RepoUpdate extends CommitInfo {
  /** Rev the update was computed from; null when the repo had no stored state. */
  since: string | null
  upserts: RecordWrite[]
  deletes: RecordKey[]
}

/** A full repo (from `getRepo`) that replaces everything stored for (space, author) in one step. */
export interface RepoSnapshot extends CommitInfo {
  records: RecordWrite[]
  /**
   * Apply even if `rev` is not newer than the stored rev. Needed after an author migrates (revs minted by
   * different hosts do not compare); a forced snapshot is not safe to replay out of order.
   */
  force?: boolean
}

/** Crawl health of one repo. Records stay readable in every status; only account status hides them. */
export type RepoStatus = 'active' | 'recovering' | 'failed'

/** Account status as announced by the author's host (firehose `#account`). */
export type AccountStatus = 'active' | 'deactivated' | 'takendown' | 'suspended' | 'deleted'

/**
 * Result of one write.
 * - applied: the write is now visible.
 * - unchanged: the stored repo is already at (or past) this rev — a replay; nothing was written.
 * - conflict: an update's `since` does not match the stored rev; fetch again from `rev` (or recover).
 * - space_inactive: the space is unknown or deleted; nothing was written.
 */
export type WriteOutcome = 'applied' | 'unchanged' | 'conflict' | 'space_inactive'

export interface WriteResult {
  outcome: WriteOutcome
  /** Stored rev after this write (null if the repo has no commit). */
  rev: string | null
  /** Number of full rebuilds the stored repo went through. */
  generation: number
  /** Per-repo write sequence; strictly increasing with every applied write. */
  version: number
}

export interface RepoState {
  space: string
  epoch: number
  author: string
  rev: string | null
  ltState: Uint8Array | null
  commitHash: Uint8Array | null
  generation: number
  version: number
  status: RepoStatus
  /** Why the status is not active (free text for operators); empty when active. */
  reason: string
  updatedAt: string
  accountStatus: AccountStatus
  /** True when the author's records are hidden from every read (account not active). */
  hidden: boolean
}

export interface StoredRecord {
  /** at://{authority}/space/{type}/{skey}/{author}/{collection}/{rkey} */
  uri: string
  space: string
  author: string
  collection: string
  rkey: string
  cid: string
  value: unknown
  /** Rev of the commit that last wrote this record. */
  rev: string
  indexedAt: string
}

export interface ListRecordsQuery {
  space: string
  collection?: string
  author?: string
  /** Opaque cursor from a previous page of the same listing. */
  cursor?: string
  /** 1..1000, default 50. */
  limit?: number
  /** Descending order instead of ascending (collection, author, rkey). */
  reverse?: boolean
}

export interface RecordPage {
  records: StoredRecord[]
  /** Present when the page is full; pass it back to continue after the last record. */
  cursor?: string
}

export interface RecordFilter {
  collection?: string
  author?: string
}

export interface SpaceInfo {
  space: string
  /** Incarnation of the space URI: bumped when a deleted space is seen alive again. */
  epoch: number
  status: 'active' | 'deleted'
  changedAt: string
}

/** What upsertSpace found or made: the space's lifecycle row, and whether this call started its epoch. */
export interface UpsertedSpace extends SpaceInfo {
  /** True if the epoch is new (nothing of it is stored yet, unless written since). */
  created: boolean
}

export interface SpacePage {
  spaces: SpaceInfo[]
  /** URI of the page's last space, present when the page is full; resume strictly after it. */
  cursor?: string
}

export interface RepoStatePage {
  repos: RepoState[]
  /** Present when the page is full; pass it back to continue. */
  cursor?: string
}

/** What the ACL needs to decide who may read a space, as last fetched from the space host. */
export interface AccessSnapshot {
  /** `policy` union object from simplespace getSpace. */
  policy: unknown
  /** `appAccess` union object from simplespace getSpace. */
  appAccess: unknown
  /** Member DIDs, or null when the member list is not known to us. */
  members: string[] | null
  fetchedAt: string
}

/** How reads collapse record versions; see reads.ts for the measurements behind the default. */
export type ReadStrategy = 'final' | 'limit-by'
