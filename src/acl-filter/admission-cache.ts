/**
 * Admissions the space authority granted (a successful getSpaceCredential with the caller's own delegation
 * token), remembered in Redis so every API process honours them for a bounded time.
 *
 * Layout: one sorted set per caller, `spaceview:adm:{did}`, member `"{epoch} {space}"`, score = expiry (Unix
 * ms). Space refs contain no spaces, so the member splits unambiguously.
 *
 * Invariants:
 * - An admission is for one (caller, space epoch): a re-created space (new epoch) never inherits one.
 * - It is valid strictly before its expiry, which the filter sets to at most the configured TTL and never
 *   past the credential that proved it; `evict` removes it at once (a refusal by the authority).
 * - Expired members are dropped on write and the key expires with its newest member, so a caller's set holds
 *   only live admissions (plus, until the next write, lapsed ones that `get` ignores).
 */
import type { Redis } from 'ioredis'

export const ADMISSION_KEY_PREFIX = 'spaceview:adm:'

export interface Admission {
  space: string
  epoch: number
  /** Unix ms. */
  expiresAt: number
}

export class AdmissionCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = ADMISSION_KEY_PREFIX,
  ) {}

  private key(did: string): string {
    return `${this.prefix}${did}`
  }

  /** Expiry (Unix ms) of the caller's live admission to this space epoch, or null. */
  async get(did: string, space: string, epoch: number): Promise<number | null> {
    const score = await this.redis.zscore(this.key(did), `${epoch} ${space}`)
    const expiresAt = score === null ? NaN : Number(score)
    return expiresAt > Date.now() ? expiresAt : null
  }

  async put(did: string, admission: Admission): Promise<void> {
    const key = this.key(did)
    const results = await this.redis
      .multi()
      .zremrangebyscore(key, '-inf', Date.now())
      .zadd(key, admission.expiresAt, `${admission.epoch} ${admission.space}`)
      .pexpireat(key, admission.expiresAt, 'GT')
      .pexpireat(key, admission.expiresAt, 'NX')
      .exec()
    // A transaction reports command failures per command instead of rejecting.
    const failed = results?.find(([err]) => err !== null)?.[0]
    if (failed) throw failed
  }

  /** Forgets the caller's admission to `space` in every epoch. */
  async evict(did: string, space: string): Promise<void> {
    const key = this.key(did)
    const members = await this.redis.zrange(key, '0', '-1')
    const stale = members.filter((m) => m.slice(m.indexOf(' ') + 1) === space)
    if (stale.length > 0) await this.redis.zrem(key, ...stale)
  }
}
