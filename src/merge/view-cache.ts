/**
 * An exact cache of merged-view reads (listRecords, getRecord, countRecords pages), for a store that is
 * the only writer of its database: the embedded engine, whose data directory one process holds and which
 * every worker of the deployment writes through (store RPC). A read on the embedded engine costs ~10 ms
 * of engine CPU whatever its size, so an app re-reading a hot page would otherwise cap the API at ~100
 * requests/s per core.
 *
 * Exactness, not freshness by time: every entry is tagged with the version of its space and the global
 * version that were current when its read STARTED, and is served only while both are unchanged. The store
 * bumps a space's version after every write that can change what the space shows (a repo batch touching
 * it, epoch creation, deletion) and the global version after an account status change (hides and unhides
 * authors in every space), always AFTER the write is visible. Hence a read that might have missed a write
 * carries an older tag than the write's bump and is never served after it; a read served from the cache
 * equals what ClickHouse would answer at that moment.
 *
 * Concurrent misses share one load (single flight): a read that finds a load of its key in flight under the
 * same tags waits for it instead of starting its own, as it would be served that load's entry had it come
 * a moment later. Without this, a hot page under writes collapsed: every write to a space ends its entries,
 * each request arriving while the reload ran sent its own query, the engine fell behind, reloads slowed,
 * and more requests piled up behind them (the mixed load test: 2,000 requests/s on 20 pages with 50
 * writes/s, ~5,800 queries averaging 850 ms, p99 ~1 s).
 *
 * Entries are shared between callers and must not be mutated. Bounded by an estimate of their JSON size;
 * least recently used entries go first. Store instances of one process on the same embedded database
 * (tests open several) share one cache (database-shared.ts), so each one's writes invalidate the others' reads.
 */

interface Entry {
  spaceVersion: number
  globalVersion: number
  value: unknown
  bytes: number
}

/** A load in flight: its tags (the versions when it started) and its answer. */
interface Flight {
  spaceVersion: number
  globalVersion: number
  value: Promise<unknown>
}

export class ViewCache {
  private globalVersion = 0
  private readonly spaceVersions = new Map<string, number>()
  private readonly entries = new Map<string, Entry>()
  private readonly flights = new Map<string, Flight>()
  private bytes = 0

  /** `maxBytes` 0 turns the cache off (every read loads). */
  constructor(private maxBytes: number) {}

  /**
   * Raises the bound to `maxBytes` if that is more: a shared cache is as large as its largest holder asks.
   * A holder that asked for 0 still reports its writes but does not read through the cache.
   */
  allow(maxBytes: number): void {
    this.maxBytes = Math.max(this.maxBytes, maxBytes)
  }

  /**
   * The cached answer of `key` (a read of `space`), the answer of a load of it already in flight under the
   * same tags, or `load()`'s, which is kept for later reads; `hit` is false only when this call loaded.
   */
  async read<T>(space: string, key: string, load: () => Promise<T>): Promise<{ value: T; hit: boolean }> {
    if (this.maxBytes === 0) return { value: await load(), hit: false }
    const spaceVersion = this.spaceVersions.get(space) ?? 0
    const globalVersion = this.globalVersion
    const hit = this.entries.get(key)
    if (hit !== undefined && hit.spaceVersion === spaceVersion && hit.globalVersion === globalVersion) {
      // Refresh recency: Map iteration order is insertion order.
      this.entries.delete(key)
      this.entries.set(key, hit)
      return { value: hit.value as T, hit: true }
    }
    const flying = this.flights.get(key)
    if (
      flying !== undefined &&
      flying.spaceVersion === spaceVersion &&
      flying.globalVersion === globalVersion
    )
      return { value: (await flying.value) as T, hit: true }
    const flight: Flight = { spaceVersion, globalVersion, value: load() }
    this.flights.set(key, flight)
    try {
      const value = (await flight.value) as T
      this.put(key, { spaceVersion, globalVersion, value, bytes: estimateBytes(key, value) })
      return { value, hit: false }
    } finally {
      if (this.flights.get(key) === flight) this.flights.delete(key)
    }
  }

  /** Call after a write that changes what `space` shows is visible. */
  spaceChanged(space: string): void {
    this.spaceVersions.set(space, (this.spaceVersions.get(space) ?? 0) + 1)
  }

  /** Call after a write that can change what any space shows (account status) is visible. */
  allChanged(): void {
    this.globalVersion++
  }

  private put(key: string, entry: Entry): void {
    if (entry.bytes > this.maxBytes / 8) return // one huge page must not flush the whole cache
    const old = this.entries.get(key)
    if (old !== undefined) {
      this.entries.delete(key)
      this.bytes -= old.bytes
    }
    this.entries.set(key, entry)
    this.bytes += entry.bytes
    for (const [oldest, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break
      this.entries.delete(oldest)
      this.bytes -= e.bytes
    }
  }
}

/** Rough heap size of a cached answer: its JSON size plus the key (only computed on a miss). */
function estimateBytes(key: string, value: unknown): number {
  return key.length * 2 + (JSON.stringify(value)?.length ?? 0) * 2
}
