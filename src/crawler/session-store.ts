/**
 * Member sessions spaceview holds, per space, to mint delegation tokens for credential refreshes; plus
 * the set of spaces it is allowed to sync. A session is either app-password style (`password`: an access
 * token for the member's PDS, for operators and devnet) or an atproto OAuth session (`oauth`: referenced
 * by DID; tokens and DPoP key live in the OAuth client's own sealed store, oauth-sessions.ts). Kept in
 * Redis sealed with SecretBox, bound to their key, never logged.
 *
 * A space is synced once a session was added for it or an app backend handed spaceview a delegation
 * token for it (admin endpoint; the space then has a credential and no session until one is added). A
 * session that the member's PDS or the authority refuses is marked refused (with a bounded reason) and
 * skipped until replaced, so one revoked member does not stop the space while another can still renew.
 *
 * `hasSpace` remembers a yes in process for a few seconds: every notification asks, and a Redis round trip
 * per notification was one of the largest costs of receiving them. A space removed by another process may
 * so still count as synced here for that long (its hints then queue a sync that finds nothing to do); one
 * removed by this process is forgotten at once. A no is always asked again.
 */
import type { Redis } from 'ioredis'
import type { SecretBox } from './secret-box.js'

export interface PasswordSession {
  /** Absent on sessions stored before OAuth sessions existed. */
  kind?: 'password'
  /** The member's DID. */
  did: string
  /** Access token for the member's PDS (devnet session or app password session). */
  accessToken: string
  /** The member's PDS origin; resolved from the DID document when absent. */
  pdsUrl?: string
}

export interface OAuthMemberSession {
  kind: 'oauth'
  /** The member's DID: the OAuth client restores (and refreshes) the session by it. */
  did: string
}

export type MemberSession = PasswordSession | OAuthMemberSession

export interface SessionInfo {
  did: string
  refused?: string
}

const SPACES = 'sv:spaces'
/** How long a yes from `hasSpace` is remembered, and for how many spaces at most. */
const KNOWN_SPACE_MS = 10_000
const KNOWN_SPACES_LIMIT = 100_000
const sessionsKey = (space: string) => `sv:sessions:${space}`
const refusedKey = (space: string) => `sv:sessions-refused:${space}`

export class SessionStore {
  /** Spaces Redis said are synced, until when (ms); see the module comment. */
  private readonly known = new Map<string, number>()

  constructor(
    private readonly redis: Redis,
    private readonly box: SecretBox,
  ) {}

  async addSpace(space: string, session: MemberSession): Promise<void> {
    const ctx = `${space}|${session.did}`
    await this.redis
      .multi()
      .sadd(SPACES, space)
      .hset(sessionsKey(space), session.did, this.box.seal(JSON.stringify(session), ctx))
      .hdel(refusedKey(space), session.did)
      .exec()
  }

  /** Adds a space to the synced set without a session (its credential came from a handed delegation token). */
  async addSyncedSpace(space: string): Promise<void> {
    await this.redis.sadd(SPACES, space)
  }

  async spaces(): Promise<string[]> {
    return (await this.redis.smembers(SPACES)).sort()
  }

  async hasSpace(space: string): Promise<boolean> {
    const now = Date.now()
    if ((this.known.get(space) ?? 0) > now) return true
    this.known.delete(space)
    const synced = (await this.redis.sismember(SPACES, space)) === 1
    if (synced) {
      if (this.known.size >= KNOWN_SPACES_LIMIT) {
        const oldest = this.known.keys().next().value
        if (oldest !== undefined) this.known.delete(oldest)
      }
      this.known.set(space, now + KNOWN_SPACE_MS)
    }
    return synced
  }

  /** Sessions not marked refused, in a stable order. */
  async usable(space: string): Promise<MemberSession[]> {
    const [all, refused] = await Promise.all([
      this.redis.hgetall(sessionsKey(space)),
      this.redis.hgetall(refusedKey(space)),
    ])
    const out: MemberSession[] = []
    for (const did of Object.keys(all).sort()) {
      if (refused[did] !== undefined) continue
      const plain = this.box.open(all[did]!, `${space}|${did}`)
      if (plain !== null) out.push(JSON.parse(plain) as MemberSession)
    }
    return out
  }

  async list(space: string): Promise<SessionInfo[]> {
    const [all, refused] = await Promise.all([
      this.redis.hkeys(sessionsKey(space)),
      this.redis.hgetall(refusedKey(space)),
    ])
    return all.sort().map((did) => (refused[did] ? { did, refused: refused[did] } : { did }))
  }

  async markRefused(space: string, did: string, reason: string): Promise<void> {
    await this.redis.hset(refusedKey(space), did, reason.slice(0, 64))
  }

  /** Stops syncing a space and forgets its sessions (after a verified deletion or by an operator). */
  async removeSpace(space: string): Promise<void> {
    this.known.delete(space)
    await this.redis.multi().srem(SPACES, space).del(sessionsKey(space), refusedKey(space)).exec()
  }
}
