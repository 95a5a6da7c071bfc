/**
 * A small in-process cache of asynchronous lookups with a time-to-live, used to keep store facts (space
 * status, access snapshot, account status) off the hot path for a second or so.
 *
 * Refresh ahead: a caller that finds a value past half its life still gets it, and starts one lookup in the
 * background that replaces it when it lands. A busy key therefore never expires under its readers: before,
 * every reader of a space queued behind the one reload per second that its expiry forced (a store query of
 * tens of ms under load), which was the API's whole p99.
 *
 * Invariants: a value is reused for at most `ttlMs` after its lookup started (a refreshed value counts from
 * the refresh's start); concurrent callers of the same key share one lookup, and at most one refresh runs
 * per key; a failed lookup or refresh is not kept; `delete` also discards a refresh in flight; the cache
 * holds at most `maxEntries` (oldest dropped first). With `ttlMs` 0 nothing is kept and every call looks up.
 */
interface Entry<T> {
  at: number
  value: Promise<T>
  settled: boolean
  refresh?: Promise<T>
}

export class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>()

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now()
    const hit = this.entries.get(key)
    if (hit !== undefined) {
      const age = now - hit.at
      if (age < this.ttlMs) {
        if (age >= this.ttlMs / 2 && hit.settled && hit.refresh === undefined) this.refresh(key, hit, load)
        return hit.value
      }
      if (hit.refresh !== undefined) return hit.refresh
    }
    return this.store(key, now, load())
  }

  delete(key: string): void {
    this.entries.delete(key)
  }

  private store(key: string, at: number, value: Promise<T>): Promise<T> {
    if (this.ttlMs <= 0) return value
    this.entries.delete(key)
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
    const entry: Entry<T> = { at, value, settled: false }
    this.entries.set(key, entry)
    value.then(
      () => {
        entry.settled = true
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key)
      },
    )
    return value
  }

  /** One background lookup for `hit`'s key; it replaces `hit` only if `hit` is still the entry then. */
  private refresh(key: string, hit: Entry<T>, load: () => Promise<T>): void {
    const at = Date.now()
    const next = load()
    hit.refresh = next
    next.then(
      () => {
        if (this.entries.get(key) === hit) this.entries.set(key, { at, value: next, settled: true })
      },
      () => {
        if (hit.refresh === next) delete hit.refresh
      },
    )
  }
}
