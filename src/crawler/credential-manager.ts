/**
 * Space credentials: one per space (not per user or host), with the DPoP key its `cnf.jkt` binds.
 *
 * Obtained by minting a delegation token from a member session (getDelegationToken on the member's PDS)
 * and exchanging it at the authority's space host (getSpaceCredential, Bearer + DPoP without ath). A fresh
 * P-256 DPoP key is generated per credential; key and credential are swapped together. Credentials are
 * kept sealed in Redis so every worker process shares one (a lock keeps processes from minting in
 * parallel) and refreshed once 80% of their lifetime has passed, or at once after an auth error.
 *
 * Refusals are handled per the spec: SpaceDeleted is the only deletion signal (raised as
 * SpaceDeletedError for the caller to act on); UserNotAuthorized / AppNotAuthorized / a refused session
 * marks that session refused and tries the next; with no usable session left the space is
 * `needs-authorization` (kept, shown, not dropped). The authority refusing a delegation token is about
 * that token, not the member: it fails this attempt (retried later) without marking the session.
 */
import type { Redis } from 'ioredis'
import { generateDpopKey, exportDpopKey, importDpopKey, type DpopKey } from '../protocol/dpop.js'
import { parseJws } from '../protocol/jws.js'
import { parseSpaceUri } from '../protocol/space-uri.js'
import type { SecretBox } from './secret-box.js'
import type { SessionStore, MemberSession } from './session-store.js'
import { SPACE_METHODS, type SpaceClient, type SpaceCredentialAuth } from './space-client.js'
import { isSpaceCallError } from './space-errors.js'
import type { DelegationSource } from './delegation-source.js'
import type { HostResolver } from './host-resolver.js'

export const REFRESH_AT_FRACTION = 0.8

export interface HeldCredential extends SpaceCredentialAuth {
  /** Origin of the space host (credential exchange, listRepos, registerNotify). */
  spaceHost: string
  issuedAt: number
  expiresAt: number
}

export class SpaceDeletedError extends Error {
  override readonly name = 'SpaceDeletedError'
  constructor(readonly space: string) {
    super(`the authority reports ${space} as deleted (SpaceDeleted)`)
  }
}

export class NeedsAuthorizationError extends Error {
  override readonly name = 'NeedsAuthorizationError'
  constructor(
    readonly space: string,
    readonly lastReason: string,
  ) {
    super(
      `no member session can obtain a credential for ${space} (last: ${lastReason}); ` +
        'add a session of a current member (spaceview add-space) to resume syncing',
    )
  }
}

export interface CredentialEvents {
  refreshed?(space: string): void
  failed?(reason: string): void
}

interface Sealed {
  credential: string
  jwk: unknown
  spaceHost: string
  issuedAt: number
  expiresAt: number
}

const credKey = (space: string) => `sv:cred:${space}`
const lockKey = (space: string) => `sv:cred-lock:${space}`

export class CredentialManager {
  private readonly memory = new Map<string, HeldCredential>()

  constructor(
    private readonly deps: {
      redis: Redis
      box: SecretBox
      sessions: SessionStore
      client: SpaceClient
      delegation: DelegationSource
      hosts: HostResolver
      /** Signs client attestations, for spaces that gate on app identity (#allowList). */
      attest?: (spaceDid: string) => Promise<string>
      events?: CredentialEvents
      now?: () => number
    },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)() / 1000
  }

  private fresh(c: HeldCredential): boolean {
    return this.now() < c.issuedAt + (c.expiresAt - c.issuedAt) * REFRESH_AT_FRACTION
  }

  /** A credential that is not past 80% of its lifetime; refreshes (once, shared) when needed. */
  async get(space: string): Promise<HeldCredential> {
    const mem = this.memory.get(space)
    if (mem && this.fresh(mem)) return mem
    const stored = await this.load(space)
    if (stored && this.fresh(stored)) {
      this.memory.set(space, stored)
      return stored
    }
    return this.refresh(space)
  }

  /** Drops the credential after a host refused it; the next `get` mints a new one. */
  async invalidate(space: string, credential?: string): Promise<void> {
    const mem = this.memory.get(space)
    if (credential === undefined || mem?.credential === credential) this.memory.delete(space)
    const stored = await this.load(space)
    if (stored && (credential === undefined || stored.credential === credential)) {
      await this.deps.redis.del(credKey(space))
    }
  }

  async forget(space: string): Promise<void> {
    this.memory.delete(space)
    await this.deps.redis.del(credKey(space))
  }

  private async load(space: string): Promise<HeldCredential | null> {
    const sealed = await this.deps.redis.get(credKey(space))
    if (!sealed) return null
    const plain = this.deps.box.open(sealed, credKey(space))
    if (!plain) return null
    const s = JSON.parse(plain) as Sealed
    const dpopKey = await importDpopKey(s.jwk as Parameters<typeof importDpopKey>[0])
    return {
      credential: s.credential,
      dpopKey,
      spaceHost: s.spaceHost,
      issuedAt: s.issuedAt,
      expiresAt: s.expiresAt,
    }
  }

  private async store(space: string, held: HeldCredential): Promise<void> {
    const sealed: Sealed = {
      credential: held.credential,
      jwk: await exportDpopKey(held.dpopKey),
      spaceHost: held.spaceHost,
      issuedAt: held.issuedAt,
      expiresAt: held.expiresAt,
    }
    const ttlSec = Math.max(1, Math.ceil(held.expiresAt - this.now()))
    await this.deps.redis.set(
      credKey(space),
      this.deps.box.seal(JSON.stringify(sealed), credKey(space)),
      'EX',
      ttlSec,
    )
  }

  private async refresh(space: string): Promise<HeldCredential> {
    const lock = await this.deps.redis.set(lockKey(space), String(process.pid), 'PX', 30_000, 'NX')
    if (lock !== 'OK') {
      // Another process is minting: wait for its result rather than burning another delegation token.
      for (let i = 0; i < 60; i++) {
        await new Promise((r) => setTimeout(r, 250))
        const stored = await this.load(space)
        if (stored && this.fresh(stored)) return stored
        if ((await this.deps.redis.exists(lockKey(space))) === 0) break
      }
    }
    try {
      const held = await this.mint(space)
      await this.store(space, held)
      this.memory.set(space, held)
      this.deps.events?.refreshed?.(space)
      return held
    } finally {
      if (lock === 'OK') await this.deps.redis.del(lockKey(space))
    }
  }

  private async mint(space: string): Promise<HeldCredential> {
    const sessions = await this.deps.sessions.usable(space)
    const spaceHost = await this.deps.hosts.spaceHost(parseSpaceUri(space).did)
    let lastReason = 'no_sessions'
    let tokenRefused: unknown
    for (const session of sessions) {
      try {
        return await this.mintWith(space, spaceHost, session)
      } catch (err) {
        if (!isSpaceCallError(err)) throw err
        if (err.kind === 'space_deleted') throw new SpaceDeletedError(space)
        lastReason = err.kind
        this.deps.events?.failed?.(err.kind)
        if (err.kind === 'delegation_rejected' && err.method === SPACE_METHODS.getSpaceCredential) {
          // The authority refused this one token (expired on a skewed PDS clock, wrong audience, replayed),
          // not the member: nothing says the session lost access, so it is not marked refused. Try the
          // next session; if none gets through, the job fails and retries later.
          tokenRefused = err
          continue
        }
        if (
          [
            'user_not_authorized',
            'app_not_authorized',
            'not_authorized',
            'delegation_rejected',
            'credential_invalid',
          ].includes(err.kind)
        ) {
          await this.deps.sessions.markRefused(space, session.did, err.kind)
          continue
        }
        throw err // transient (host down, rate limited): the job's backoff retries
      }
    }
    if (tokenRefused !== undefined) throw tokenRefused
    this.deps.events?.failed?.('not_authorized')
    throw new NeedsAuthorizationError(space, lastReason)
  }

  /**
   * Exchanges a delegation token someone else minted (an app backend, through the admin endpoint) and keeps
   * the credential as this space's, replacing any held one. The token is spent by the attempt whatever the
   * outcome; nothing here stores or logs it. Refusals are thrown as SpaceCallError (SpaceDeleted as
   * SpaceDeletedError) and change nothing.
   */
  async adopt(space: string, delegationToken: string, clientAttestation?: string): Promise<HeldCredential> {
    const spaceHost = await this.deps.hosts.spaceHost(parseSpaceUri(space).did)
    const dpopKey = await generateDpopKey()
    let credential: string
    try {
      credential = await this.deps.client.getSpaceCredential(spaceHost, {
        space,
        delegationToken,
        dpopKey,
        ...(clientAttestation === undefined ? {} : { clientAttestation }),
      })
    } catch (err) {
      if (isSpaceCallError(err) && err.kind === 'space_deleted') throw new SpaceDeletedError(space)
      throw err
    }
    const held = this.held(credential, dpopKey, spaceHost)
    await this.store(space, held)
    this.memory.set(space, held)
    this.deps.events?.refreshed?.(space)
    return held
  }

  /**
   * One exchange; as the proposal suggests, first without a client attestation and, if the space gates on
   * app identity (AppNotAuthorized), once more with one (a fresh delegation token: the first is spent).
   */
  private async mintWith(space: string, spaceHost: string, session: MemberSession): Promise<HeldCredential> {
    const dpopKey: DpopKey = await generateDpopKey()
    let credential: string
    try {
      const delegationToken = await this.deps.delegation.mint(session, space)
      credential = await this.deps.client.getSpaceCredential(spaceHost, { space, delegationToken, dpopKey })
    } catch (err) {
      if (!(isSpaceCallError(err) && err.kind === 'app_not_authorized' && this.deps.attest)) throw err
      const clientAttestation = await this.deps.attest(parseSpaceUri(space).did)
      const delegationToken = await this.deps.delegation.mint(session, space)
      credential = await this.deps.client.getSpaceCredential(spaceHost, {
        space,
        delegationToken,
        dpopKey,
        clientAttestation,
      })
    }
    return this.held(credential, dpopKey, spaceHost)
  }

  private held(credential: string, dpopKey: DpopKey, spaceHost: string): HeldCredential {
    // The credential is verified by the hosts that accept it; we only read its lifetime to plan refreshes.
    const claims = parseJws(credential).payload as { iat?: unknown; exp?: unknown }
    const now = this.now()
    const issuedAt = typeof claims.iat === 'number' ? Math.min(claims.iat, now) : now
    const expiresAt = typeof claims.exp === 'number' ? claims.exp : now + 600
    return { credential, dpopKey, spaceHost, issuedAt, expiresAt }
  }
}
