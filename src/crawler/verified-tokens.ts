/**
 * Service-auth tokens whose signature this process verified, by exact text (a SignatureMemo for
 * verifyServiceAuth). An authority reuses one notifyWrite token for many notifications (devnet: for half
 * its 60 s life), so checking its ES256K signature on every one repeated the same work about a thousand
 * times a second under load; a hit still has every claim (expiry, audience, method, issuer) checked.
 *
 * Invariants: an entry lives no longer than its token (`exp`) nor than `maxAgeMs`, so a key rotation is
 * honoured within that bound; at most `maxEntries` tokens are kept, least recently used dropped first.
 * Used for notifyWrite only (a hint, never a data change): a notifySpaceDeleted is verified every time.
 */
import { LRUCache } from 'lru-cache'
import type { SignatureMemo } from '../protocol/service-auth.js'

export class VerifiedTokens implements SignatureMemo {
  private readonly cache: LRUCache<string, true>

  constructor(
    maxEntries = 10_000,
    private readonly maxAgeMs = 60_000,
  ) {
    this.cache = new LRUCache({ max: maxEntries, ttlAutopurge: false })
  }

  /** A hit counts as a use (get, not has: lru-cache's has leaves the recency order alone). */
  has(token: string): boolean {
    return this.cache.get(token) === true
  }

  add(token: string, exp: number): void {
    const ttl = Math.min(this.maxAgeMs, exp * 1000 - Date.now())
    if (ttl > 0) this.cache.set(token, true, { ttl })
  }
}
