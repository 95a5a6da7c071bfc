/**
 * The DID document cache of the identity resolver, bounded in entries.
 *
 * @atproto/identity's MemoryCache keeps every document it ever cached (expiry is checked on read, nothing is
 * evicted), so a crawler that meets millions of authors over its life, or a hostile space host that lists
 * thousands of fresh DIDs on every sweep, would grow without limit. This cache has the same semantics
 * (documents are stale after `staleTtlMs`, refreshed in the background by the resolver, and unusable after
 * `maxTtlMs`) and keeps at most `maxEntries` documents, dropping the least recently used (lru-cache).
 * An evicted author costs one re-resolution on its next sync.
 */
import type { CacheResult, DidCache, DidDocument } from '@atproto/identity'
import { LRUCache } from 'lru-cache'

/** Documents take ~1-2 KB of heap each: by default the cache stays within a few hundred MB. */
export const DEFAULT_DID_CACHE_ENTRIES = 100_000

interface Cached {
  doc: DidDocument
  updatedAt: number
}

export class BoundedDidCache implements DidCache {
  private readonly docs: LRUCache<string, Cached>

  constructor(
    maxEntries: number,
    private readonly staleTtlMs: number,
    private readonly maxTtlMs: number,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new Error('maxEntries must be a positive integer')
    // No TTL in the LRU itself: an expired entry still tells the resolver "expired" (and is replaced by its fetch).
    this.docs = new LRUCache({ max: maxEntries })
  }

  get size(): number {
    return this.docs.size
  }

  async cacheDid(did: string, doc: DidDocument): Promise<void> {
    this.docs.set(did, { doc, updatedAt: Date.now() })
  }

  async refreshCache(did: string, getDoc: () => Promise<DidDocument | null>): Promise<void> {
    const doc = await getDoc()
    if (doc) await this.cacheDid(did, doc)
  }

  async checkCache(did: string): Promise<CacheResult | null> {
    const hit = this.docs.get(did)
    if (hit === undefined) return null
    const age = Date.now() - hit.updatedAt
    return { did, ...hit, stale: age > this.staleTtlMs, expired: age > this.maxTtlMs }
  }

  async clearEntry(did: string): Promise<void> {
    this.docs.delete(did)
  }

  async clear(): Promise<void> {
    this.docs.clear()
  }
}
