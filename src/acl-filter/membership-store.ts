/**
 * Members of the spaces spaceview manages (policy `#managingAppPolicy` naming us): this state IS the ACL of
 * those spaces, for our own reads and for the authority's checkUserAccess calls, so both gates agree.
 *
 * Layout: one sorted set per space, `spaceview:members:{space}`, members = DIDs, all scores 0 (so the set is
 * ordered by DID and pages by lexical range).
 *
 * Invariants: changes are single Redis commands, visible to every process at once (a removal takes effect on
 * the next request, nothing caches membership); adding and removing are idempotent. Redis is the system of
 * record here, so it must run with persistence (AOF) in production.
 */
import type { Redis } from 'ioredis'

export const MEMBERS_KEY_PREFIX = 'spaceview:members:'

export interface MemberPage {
  members: string[]
  cursor?: string
}

export class MembershipStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = MEMBERS_KEY_PREFIX,
  ) {}

  private key(space: string): string {
    return `${this.prefix}${space}`
  }

  async add(space: string, did: string): Promise<void> {
    await this.redis.zadd(this.key(space), 0, did)
  }

  async remove(space: string, did: string): Promise<void> {
    await this.redis.zrem(this.key(space), did)
  }

  async has(space: string, did: string): Promise<boolean> {
    return (await this.redis.zscore(this.key(space), did)) !== null
  }

  /** Members after `cursor` (a DID), ascending; `cursor` is set when the page is full. */
  async list(space: string, limit: number, cursor?: string): Promise<MemberPage> {
    const start = cursor === undefined ? '-' : `(${cursor}`
    const members = await this.redis.zrangebylex(this.key(space), start, '+', 'LIMIT', 0, limit)
    const last = members[members.length - 1]
    return members.length === limit && last !== undefined ? { members, cursor: last } : { members }
  }

  /** Drops every member of the space (its verified deletion: a re-created space starts with none). */
  async clear(space: string): Promise<void> {
    await this.redis.del(this.key(space))
  }
}
