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
const sessionsKey = (space: string) => `sv:sessions:${space}`
const refusedKey = (space: string) => `sv:sessions-refused:${space}`

export class SessionStore {
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
    return (await this.redis.sismember(SPACES, space)) === 1
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
    await this.redis.multi().srem(SPACES, space).del(sessionsKey(space), refusedKey(space)).exec()
  }
}
