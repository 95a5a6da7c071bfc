/**
 * A bounded, time-limited cache of facts read from or written to ClickHouse (repo commit states, account
 * statuses), so the crawler's frequent state reads skip a ClickHouse query (~10 ms of engine CPU each, on
 * the embedded engine mostly per-query overhead).
 *
 * It is a HINT, never the basis of a write decision: the writer's compare-and-set always reads ClickHouse
 * (repo-writer.ts), because another store instance (another process on a server, or a second instance on
 * the same database) may write the same rows. A value this process did not write is therefore at most
 * `ttlMs` old; values this process writes are put in as soon as their insert returned (write-through).
 *
 * Invariant (no stale fill): a load that started before a `set` or `drop` touching its key finished is not
 * stored, so a slow read racing a write cannot put back the state the write replaced. `set` and `drop` must
 * be called after the write they reflect is visible in ClickHouse.
 *
 * Concurrent misses of one key share one load (a burst of crawler jobs asking for the same account set
 * runs one query), but only while no `set` or `drop` came after that load started: a caller arriving after
 * a write never gets a value read before it.
 *
 * `ttlMs` may be Infinity: entries then live until a write drops them or the size bound evicts them (the
 * exact caches of catalog.ts).
 */

interface Entry<V> {
  value: V
  at: number
  /** Sequence number of the set or load that produced the entry. */
  seq: number
}

export class HintCache<K, V> {
  private readonly entries = new Map<K, Entry<V>>()
  private readonly loading = new Map<K, { started: number; value: Promise<V> }>()
  private seq = 0
  /** Sequence number of the last drop: loads that started before it are not stored. */
  private lastDrop = 0

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  /** The cached value of `key` if fresh, else `load()` (stored unless a write to the key overtook it). */
  async get(key: K, load: () => Promise<V>): Promise<V> {
    if (this.ttlMs === 0) return load()
    const hit = this.entries.get(key)
    if (hit !== undefined && performance.now() - hit.at < this.ttlMs) return hit.value
    const inflight = this.loading.get(key)
    if (inflight !== undefined && this.current(key, inflight.started)) return inflight.value
    const started = this.seq
    const value = load()
    this.loading.set(key, { started, value })
    try {
      const v = await value
      if (this.current(key, started)) this.put(key, v, started)
      return v
    } finally {
      if (this.loading.get(key)?.value === value) this.loading.delete(key)
    }
  }

  /** The cached value of `key` if there is a fresh one; never loads. */
  peek(key: K): V | undefined {
    const hit = this.entries.get(key)
    return hit !== undefined && performance.now() - hit.at < this.ttlMs ? hit.value : undefined
  }

  /** No write touching `key` (nor any drop) happened since sequence number `started`. */
  private current(key: K, started: number): boolean {
    const cur = this.entries.get(key)
    return this.lastDrop <= started && (cur === undefined || cur.seq <= started)
  }

  /** Write-through: `value` is what ClickHouse now holds for `key`. */
  set(key: K, value: V): void {
    if (this.ttlMs === 0) return
    this.put(key, value, ++this.seq)
  }

  /** Forgets the keys matching `which` (a key, or a predicate for bulk invalidation). */
  drop(which: K | ((key: K) => boolean)): void {
    this.lastDrop = ++this.seq
    if (typeof which !== 'function') {
      this.entries.delete(which)
      return
    }
    const matches = which as (key: K) => boolean
    for (const key of [...this.entries.keys()]) if (matches(key)) this.entries.delete(key)
  }

  private put(key: K, value: V, seq: number): void {
    this.entries.delete(key)
    this.entries.set(key, { value, at: performance.now(), seq })
    // Map iteration is insertion order: the first key is the least recently stored.
    // An evicted key forgets its seq, so loads older than the evicted entry are refused too.
    if (this.entries.size > this.maxEntries) {
      const [oldest, entry] = this.entries.entries().next().value as [K, Entry<V>]
      this.entries.delete(oldest)
      this.lastDrop = Math.max(this.lastDrop, entry.seq)
    }
  }
}
