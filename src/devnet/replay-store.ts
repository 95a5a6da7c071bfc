/**
 * Single-use bookkeeping for jtis (delegation tokens, DPoP proofs, client attestations): remembers each
 * (kind, issuer, jti) until the entry's expiry, after which it can no longer be valid anyway.
 *
 * Invariants: `check` records the entry and reports whether it had been seen before; expired entries are
 * swept lazily, so memory is bounded by the number of live tokens.
 */
import type { ReplayCheck, ReplayEntry } from '../protocol/token-claims.js'

const SWEEP_EVERY = 1024

export class ReplayStore {
  private readonly seen = new Map<string, number>()
  private checks = 0

  readonly check: ReplayCheck = async (entry: ReplayEntry) => {
    if (++this.checks % SWEEP_EVERY === 0) this.sweep()
    const key = `${entry.kind}\n${entry.iss}\n${entry.jti}`
    const expiry = this.seen.get(key)
    if (expiry !== undefined && expiry >= Date.now() / 1000) return true
    this.seen.set(key, entry.expiresAt)
    return false
  }

  private sweep(): void {
    const now = Date.now() / 1000
    for (const [key, expiry] of this.seen) if (expiry < now) this.seen.delete(key)
  }
}
