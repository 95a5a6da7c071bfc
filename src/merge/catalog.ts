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
 */
import { HintCache } from './hint-cache.js'
import type { AccountStatus } from './types.js'

/** Spaces whose epoch is held; an entry is a URI and a number. Evicted ones are simply read again. */
const CACHED_SPACES = 100_000

export type EpochLoader = (spaces: readonly string[]) => Promise<Map<string, number>>

export class Catalog {
  private readonly epochs: HintCache<string, number | null>
  private readonly hidden: HintCache<'all', Map<string, AccountStatus>>

  constructor(
    /** True when no other process can write the database (see above). */
    readonly authoritative: boolean,
    ttlMs: number,
  ) {
    this.epochs = new HintCache(ttlMs, CACHED_SPACES)
    this.hidden = new HintCache(ttlMs, 1)
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
  }

  /** Write-through: the space's lifecycle row now visible says it is active in `epoch`. */
  spaceActive(space: string, epoch: number): void {
    this.epochs.set(space, epoch)
  }

  /** Call once an account status write is visible. */
  accountsChanged(): void {
    this.hidden.drop('all')
  }
}
