/**
 * Stored repo commits known exactly without asking ClickHouse, so a batch's compare-and-set (repo-writer.ts)
 * looks up only the repos this does not cover. Two kinds of knowledge:
 * - a space epoch this process started holds no rows when it starts, so each of its repos is absent until
 *   written (a backfill's batches are first fetches of repos in epochs its bootstraps just started);
 * - a repo this process wrote, or looked up in its write lane, has the commit written or read, for as long
 *   as it is kept (incremental syncs then skip the lookup: it cost as much engine time as the insert).
 *
 * Exact only on the embedded engine, where one process holds the data directory and all its stores share one
 * ExactCommits (database-shared.ts), so every write goes through a store of this process. Rules the stores
 * keep:
 * - `wrote` for every repo a batch changed, once its insert returned and before the next batch of any store
 *   is checked;
 * - `read` with the `since()` taken before the lookup: a lookup that a write or forget of its space overtook
 *   is not kept (a slow read cannot put back a replaced commit);
 * - a batch whose insert failed may still have landed: its spaces are `forget`-ten, as is a space whose
 *   lifecycle row changes (deletion, re-creation);
 * - an account purge removes the author's commits everywhere: `forgetAuthor`.
 * What is kept has no LtHash state (2 KB each): writes that copy it (status changes) still look it up.
 * Bounded: past `maxEntries` (spaces plus repos) the least recently touched spaces are forgotten.
 */

/** A stored commit without its LtHash state: what a compare-and-set needs. */
export interface KnownCommit {
  rev: string | null
  version: number
  commitHashHex: string
  generation: number
  status: 'active' | 'recovering' | 'failed'
  reason: string
}

interface SpaceKnowledge {
  epoch: number
  /** Every repo of the epoch not in `repos` is absent (the epoch was started by this process). */
  complete: boolean
  /** Known repos: their commit, or null for "nothing stored". */
  repos: Map<string, KnownCommit | null>
  /** Sequence number of the last write or forget in this space. */
  changed: number
}

const DEFAULT_MAX_ENTRIES = 1_000_000

export class ExactCommits {
  private readonly spaces = new Map<string, SpaceKnowledge>()
  private entries = 0
  private seq = 0
  /** Sequence number of the last forget (of a space or an author): lookups older than it are not kept. */
  private lastForget = 0

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  /** Call once the lifecycle row that starts `epoch` of `space` is visible (no rows of it exist yet). */
  started(space: string, epoch: number): void {
    const s = this.spaces.get(space)
    if (s?.epoch === epoch && s.complete) return
    this.forget(space)
    this.spaces.set(space, { epoch, complete: true, repos: new Map(), changed: ++this.seq })
    this.entries++
    this.bound()
  }

  /** The stored commit of (space, epoch, author); null: none is stored; undefined: not known. */
  commitOf(space: string, epoch: number, author: string): KnownCommit | null | undefined {
    const s = this.spaces.get(space)
    if (s === undefined || s.epoch !== epoch) return undefined
    const known = s.repos.get(author)
    if (known !== undefined) return known
    return s.complete ? null : undefined
  }

  /**
   * The stored commits of `authors` in the space's current epoch (null: none stored), or undefined unless
   * every one of them is known. What is kept is always of the current epoch: a lifecycle change forgets
   * the space, and a new epoch starts over (`started`).
   */
  headsOf(space: string, authors: readonly string[]): Map<string, KnownCommit | null> | undefined {
    const epoch = this.spaces.get(space)?.epoch
    if (epoch === undefined) return undefined
    const out = new Map<string, KnownCommit | null>()
    for (const author of authors) {
      const known = this.commitOf(space, epoch, author)
      if (known === undefined) return undefined
      out.set(author, known)
    }
    return out
  }

  /** A mark to pass to `read` for a lookup about to start. */
  since(): number {
    return this.seq
  }

  /** Call once a write of (space, epoch, author) is visible: `commit` is what is now stored. */
  wrote(space: string, epoch: number, author: string, commit: KnownCommit): void {
    this.keep(space, epoch, author, commit)
  }

  /** A lookup's answer (null: no commit stored), kept unless a write or forget in its space came after `mark`. */
  read(space: string, epoch: number, author: string, commit: KnownCommit | null, mark: number): void {
    if (this.lastForget > mark || (this.spaces.get(space)?.changed ?? 0) > mark) return
    this.keep(space, epoch, author, commit)
  }

  /** Stop vouching for anything in `space` (its repos are looked up in ClickHouse again). */
  forget(space: string): void {
    this.lastForget = ++this.seq
    const s = this.spaces.get(space)
    if (s === undefined) return
    this.entries -= 1 + s.repos.size
    this.spaces.delete(space)
  }

  /** Stop vouching for `author`'s repos in every space (its rows were purged). */
  forgetAuthor(author: string): void {
    this.lastForget = ++this.seq
    // In an epoch this process started, the author then reads as absent again: true, its rows are gone.
    for (const s of this.spaces.values()) if (s.repos.delete(author)) this.entries--
  }

  private keep(space: string, epoch: number, author: string, commit: KnownCommit | null): void {
    let s = this.spaces.get(space)
    if (s === undefined || s.epoch !== epoch) {
      this.forget(space)
      s = { epoch, complete: false, repos: new Map(), changed: 0 }
      this.entries++
    } else {
      this.spaces.delete(space) // re-inserted below: Map order is recency order
    }
    this.spaces.set(space, s)
    s.changed = ++this.seq
    if (!s.repos.has(author)) this.entries++
    s.repos.set(author, commit === null ? null : { ...commit })
    this.bound()
  }

  private bound(): void {
    while (this.entries > this.maxEntries) {
      const oldest = this.spaces.keys().next().value
      if (oldest === undefined) return
      this.forget(oldest)
    }
  }
}
