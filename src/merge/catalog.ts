/**
 * The two small facts every read and every batch filters on, cached: the active epoch of each space and the
 * set of hidden (non-active) accounts.
 *
 * Exact or hint, by transport:
 * - embedded engine: one process holds the data directory, so every write to `spaces` and `accounts` goes
 *   through a MergeStore of this process, and all stores of the process on one (data directory, database)
 *   share one Catalog (database-shared.ts). A store updates it after each such write is visible (`spaceChanged`,
 *   `accountsChanged`), and HintCache refuses fills that a write overtook, so the catalog is AUTHORITATIVE:
 *   reads pass the epoch and the hidden authors as literals instead of running two subqueries (a third
 *   less engine CPU per page), and the writer decides `space_inactive` from it.
 * - server: other processes write the same tables, so the catalog is a HINT with the state cache's TTL:
 *   it answers getAccountStatus, while record reads keep their subqueries and the writer reads ClickHouse.
 * `MERGE_STATE_CACHE_MS=0` turns both off for that store (its reads and writes ask ClickHouse; cross-checks),
 * but on the embedded engine it still reports its writes to the shared catalog, for the other stores.
 *
 * Where it is authoritative the catalog also holds each space's lifecycle row and access snapshot, the
 * facts the ACL filter reads for every API request (a store query each, refreshed every second per space
 * under load): dropped by every lifecycle or snapshot write, so a read after a write sees it.
 */
import { HintCache } from './hint-cache.js'
import type { AccessSnapshot, AccountStatus, SpaceInfo } from './types.js'

/** Spaces whose epoch is held; an entry is a URI and a number. Evicted ones are simply read again. */
const CACHED_SPACES = 100_000
/** Access snapshots held (each may carry a member list); evicted ones are read again. */
const CACHED_SNAPSHOTS = 10_000

export type EpochLoader = (spaces: readonly string[]) => Promise<Map<string, number>>

export class Catalog {
  private readonly epochs: HintCache<string, number | null>
  private readonly hidden: HintCache<'all', Map<string, AccountStatus>>
  private readonly infos: HintCache<string, SpaceInfo | null>
  private readonly snapshots: HintCache<string, AccessSnapshot | null>

  constructor(
    /** True when no other process can write the database (see above). */
    readonly authoritative: boolean,
    ttlMs: number,
  ) {
    this.epochs = new HintCache(ttlMs, CACHED_SPACES)
    this.hidden = new HintCache(ttlMs, 1)
    // Lifecycle rows and snapshots are held only where they are exact; elsewhere every call loads.
    const exactMs = authoritative ? ttlMs : 0
    this.infos = new HintCache(exactMs, CACHED_SPACES)
    this.snapshots = new HintCache(exactMs, CACHED_SNAPSHOTS)
  }

  /** The space's lifecycle row (`load` on a miss, or always where the catalog is not authoritative). */
  spaceInfo(space: string, load: () => Promise<SpaceInfo | null>): Promise<SpaceInfo | null> {
    return this.infos.get(space, load)
  }

  /** The access snapshot of the space's current epoch (`load` on a miss; always if not authoritative). */
  accessSnapshot(space: string, load: () => Promise<AccessSnapshot | null>): Promise<AccessSnapshot | null> {
    return this.snapshots.get(space, load)
  }

  /** Call once a write of the space's access snapshot is visible. */
  snapshotChanged(space: string): void {
    this.snapshots.drop(space)
  }

  /** Active epoch of each of `spaces` that is active; misses are read together with one `load`. */
  async activeEpochs(spaces: readonly string[], load: EpochLoader): Promise<Map<string, number>> {
    let loaded: Promise<Map<string, number>> | undefined
    const epochs = await Promise.all(
      spaces.map((s) => this.epochs.get(s, async () => (await (loaded ??= load(spaces))).get(s) ?? null)),
    )
    const out = new Map<string, number>()
    spaces.forEach((s, i) => {
      const e = epochs[i]
      if (e !== null && e !== undefined) out.set(s, e)
    })
    return out
  }

  /** Every account that is not active (absent DIDs are active). */
  hiddenAccounts(load: () => Promise<Map<string, AccountStatus>>): Promise<Map<string, AccountStatus>> {
    return this.hidden.get('all', load)
  }

  /** Call once a write to the space's lifecycle row is visible. */
  spaceChanged(space: string): void {
    this.epochs.drop(space)
    this.infos.drop(space)
    this.snapshots.drop(space)
  }

  /** Write-through: the space's lifecycle row now visible is `info`, active; `created`: a new epoch. */
  spaceActive(info: SpaceInfo, created: boolean): void {
    this.epochs.set(info.space, info.epoch)
    this.infos.set(info.space, info)
    // A new epoch starts without a snapshot; the old epoch's no longer applies.
    if (created) this.snapshots.drop(info.space)
  }

  /** Call once an account status write is visible. */
  accountsChanged(): void {
    this.hidden.drop('all')
  }
}
