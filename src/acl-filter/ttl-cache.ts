/**
 * A small in-process cache of asynchronous lookups with a time-to-live, used to keep store facts (space
 * status, access snapshot, account status) off the hot path for a second or so.
 *
 * Invariants: a value is reused for at most `ttlMs` after its lookup started; concurrent callers of the same
 * key share one lookup; a failed lookup is not kept; the cache holds at most `maxEntries` (oldest dropped
 * first). With `ttlMs` 0 nothing is kept and every call looks up.
 */
export class TtlCache<T> {
  private readonly entries = new Map<string, { at: number; value: Promise<T> }>()

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now()
    const hit = this.entries.get(key)
    if (hit !== undefined && now - hit.at < this.ttlMs) return hit.value
    const value = load()
    if (this.ttlMs > 0) {
      this.entries.delete(key)
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value
        if (oldest !== undefined) this.entries.delete(oldest)
      }
      const entry = { at: now, value }
      this.entries.set(key, entry)
      value.catch(() => {
        if (this.entries.get(key) === entry) this.entries.delete(key)
      })
    }
    return value
  }

  delete(key: string): void {
    this.entries.delete(key)
  }
}
