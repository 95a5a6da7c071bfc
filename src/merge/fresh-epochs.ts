/**
 * Space epochs this process started, and which of their repos have been written since: for every other
 * repo of such an epoch no commit is stored, which the batch writer then knows without a ClickHouse lookup
 * (a backfill's batches are first fetches of repos in epochs its bootstraps just started).
 *
 * Exact only on the embedded engine, where one process holds the data directory and all its stores share
 * one FreshEpochs (database-shared.ts): a new epoch has no rows when `started` is called, and every write
 * to it goes through a store of this process, which reports it (`wrote`) once visible. Rules the stores keep:
 * - `wrote` is called for every repo a batch changed, before the next batch of any store is checked;
 * - a batch whose insert failed may still have landed: its spaces are `forget`-ten (their repos are then
 *   looked up in ClickHouse again), as is a space whose lifecycle row changes (deletion);
 * - a purge (account deletion) only removes rows, so "never written, hence absent" stays true.
 * Bounded: past `maxEntries` (spaces plus written repos) the oldest spaces are forgotten.
 */

const DEFAULT_MAX_ENTRIES = 2_000_000

interface Tracked {
  epoch: number
  written: Set<string>
}

export class FreshEpochs {
  private readonly spaces = new Map<string, Tracked>()
  private entries = 0

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  /** Call once the lifecycle row that starts `epoch` of `space` is visible (no rows of it exist yet). */
  started(space: string, epoch: number): void {
    if (this.spaces.get(space)?.epoch === epoch) return
    this.forget(space)
    this.spaces.set(space, { epoch, written: new Set() })
    this.entries++
    this.bound()
  }

  /** True if no commit of (space, epoch, author) is stored, known without asking ClickHouse. */
  absent(space: string, epoch: number, author: string): boolean {
    const t = this.spaces.get(space)
    return t !== undefined && t.epoch === epoch && !t.written.has(author)
  }

  /** Call once a write of (space, epoch, author) is visible. */
  wrote(space: string, epoch: number, author: string): void {
    const t = this.spaces.get(space)
    if (t === undefined || t.epoch !== epoch || t.written.has(author)) return
    t.written.add(author)
    this.entries++
    this.bound()
  }

  /** Stop vouching for `space` (its repos are looked up in ClickHouse again). */
  forget(space: string): void {
    const t = this.spaces.get(space)
    if (t === undefined) return
    this.entries -= 1 + t.written.size
    this.spaces.delete(space)
  }

  private bound(): void {
    while (this.entries > this.maxEntries) {
      const oldest = this.spaces.keys().next().value
      if (oldest === undefined) return
      this.forget(oldest)
    }
  }
}
