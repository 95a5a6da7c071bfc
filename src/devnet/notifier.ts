/**
 * Outbound server-to-server calls with atproto service auth: a repo host's `notifyWrite` to the space
 * authority, the authority's fan-out of `notifyWrite` / `notifySpaceDeleted` to registered services, and
 * the authority's `checkUserAccess` question to a managing app.
 *
 * Invariants (reference behaviour):
 * - Notifications are best effort: background, one attempt, a timeout, failures only counted and logged.
 * - Targets are resolved at send time (a registration is re-resolved at every delivery).
 * - Member PDS → authority uses aud = the bare authority DID; authority → service uses aud = the
 *   registered service id verbatim; every token names its method in `lxm` and lives 60 s.
 * - A notification token is reused for the same (issuer key, aud, lxm) during the first half of its
 *   lifetime: service auth has no replay rule (SPEC §3.4: no jti store), and minting one per notification
 *   was a signature per hop per write. Receivers still get at least 30 s of validity. Corrupted (fault)
 *   tokens are never reused, and `checkUserAccess` tokens never are: a managing app may keep a jti replay
 *   store for its callers (spaceview's API does), and a reused token would be refused there.
 * - `checkUserAccess` fails closed: any error, timeout, non-200 or non-`true` answer denies.
 * - Faults: `dropNotifications` swallows a notification, `expiredTokens` / `wrongAudienceTokens` corrupt
 *   the service-auth token it carries.
 * `settle()` resolves once every queued notification (including ones queued while waiting) has finished.
 */
import type { Logger } from 'pino'
import { encodeBase64 } from '../protocol/bytes.js'
import { createServiceAuth, SERVICE_AUTH_LIFETIME_SEC } from '../protocol/service-auth.js'
import { parseSpaceUri } from '../protocol/space-uri.js'
import type { Account, AccountRegistry } from './accounts.js'
import type { Faults, FaultTarget } from './faults.js'
import { httpCall } from './http-call.js'
import type { IdentityResolver } from './identity-resolver.js'

export const NOTIFY_WRITE = 'com.atproto.space.notifyWrite'
export const NOTIFY_SPACE_DELETED = 'com.atproto.space.notifySpaceDeleted'
export const CHECK_USER_ACCESS = 'com.atproto.simplespace.checkUserAccess'

export interface NotifierStats {
  sent: number
  delivered: number
  failed: number
  dropped: number
}

/** How long a minted token is reused (of its SERVICE_AUTH_LIFETIME_SEC). */
const TOKEN_REUSE_SEC = SERVICE_AUTH_LIFETIME_SEC / 2
const TOKEN_CACHE_LIMIT = 10_000
/** Methods whose tokens are reused (see the module comment). */
const REUSABLE_LXM = new Set([NOTIFY_WRITE, NOTIFY_SPACE_DELETED])

export class Notifier {
  readonly stats: NotifierStats = { sent: 0, delivered: 0, failed: 0, dropped: 0 }
  private readonly pending = new Set<Promise<void>>()
  /** Minted header values by (issuer DID, key version, aud, lxm), with when they stop being reused (s). */
  private readonly tokens = new Map<string, { header: string; until: number }>()

  constructor(
    private readonly accounts: AccountRegistry,
    private readonly resolver: IdentityResolver,
    private readonly faults: Faults,
    private readonly logger: Logger,
    private readonly timeoutMs = 5000,
  ) {}

  private enqueue(task: () => Promise<void>): void {
    const p = task()
      .catch((err) => this.logger.warn({ err }, 'devnet notification task failed'))
      .finally(() => this.pending.delete(p))
    this.pending.add(p)
  }

  /** Resolves when no notification is in flight. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending])
  }

  /** Service-auth header value, corrupted as the token faults say. */
  private async serviceAuth(iss: Account, aud: string, lxm: string, target: FaultTarget): Promise<string> {
    const expired = this.faults.match('expiredTokens', target)
    const wrongAud = this.faults.match('wrongAudienceTokens', target)
    const reusable = REUSABLE_LXM.has(lxm) && !expired && !wrongAud
    const key = `${iss.did}\n${iss.keyVersion}\n${aud}\n${lxm}`
    const now = Date.now() / 1000
    const cached = reusable ? this.tokens.get(key) : undefined
    if (cached && now < cached.until) return cached.header
    const jwt = await createServiceAuth({
      keypair: await this.accounts.keypair(iss),
      iss: iss.did,
      aud: wrongAud ? `${aud}#wrong-audience` : aud,
      lxm,
      ...(expired ? { now: now - 300 } : { now }),
    })
    const header = `Bearer ${jwt}`
    if (reusable) {
      this.tokens.delete(key)
      if (this.tokens.size >= TOKEN_CACHE_LIMIT) {
        const oldest = this.tokens.keys().next().value
        if (oldest !== undefined) this.tokens.delete(oldest)
      }
      this.tokens.set(key, { header, until: now + TOKEN_REUSE_SEC })
    }
    return header
  }

  /** POSTs a notification; resolves to the HTTP status (rejects on a network error or timeout). */
  private async post(endpoint: string, nsid: string, authorization: string, body: unknown): Promise<number> {
    const res = await httpCall({
      method: 'POST',
      url: `${endpoint}/xrpc/${nsid}`,
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: this.timeoutMs,
    })
    return res.status
  }

  private async send(
    iss: Account,
    aud: string,
    serviceId: string,
    nsid: string,
    body: unknown,
    target: FaultTarget,
  ) {
    if (this.faults.match('dropNotifications', target)) {
      this.stats.dropped++
      return
    }
    const endpoint = await this.resolver.serviceEndpoint(serviceId)
    if (!endpoint) {
      this.stats.failed++
      this.logger.warn({ serviceId, nsid }, 'devnet: notification target does not resolve')
      return
    }
    this.stats.sent++
    try {
      const status = await this.post(endpoint, nsid, await this.serviceAuth(iss, aud, nsid, target), body)
      if (status >= 200 && status < 300) this.stats.delivered++
      else {
        this.stats.failed++
        this.logger.info({ serviceId, nsid, status }, 'devnet: notification refused')
      }
    } catch (err) {
      this.stats.failed++
      this.logger.info({ err: (err as Error).message, serviceId, nsid }, 'devnet: notification failed')
    }
  }

  /** Repo host → authority, after an accepted write (aud = bare authority DID). */
  notifyAuthority(writer: Account, space: string, rev: string, hash: Uint8Array): void {
    const authority = parseSpaceUri(space).did
    const body = { space, repo: writer.did, rev, hash: { $bytes: encodeBase64(hash) } }
    const target = { host: writer.host, space, did: writer.did, method: NOTIFY_WRITE }
    this.enqueue(() => this.send(writer, authority, authority, NOTIFY_WRITE, body, target))
  }

  /** Authority → a registered service (aud = the service id verbatim). */
  deliver(authority: Account, serviceId: string, nsid: string, body: { space: string; repo?: string }): void {
    const target: FaultTarget = { host: authority.host, space: body.space, method: nsid }
    if (body.repo !== undefined) target.did = body.repo
    this.enqueue(() => this.send(authority, serviceId, serviceId, nsid, body, target))
  }

  /** Authority → managing app; true only for a 200 `{"authorized": true}`. */
  async checkUserAccess(
    authority: Account,
    managingApp: string,
    params: Record<string, string>,
  ): Promise<boolean> {
    try {
      const endpoint = await this.resolver.serviceEndpoint(managingApp)
      if (!endpoint) return false
      const target = { host: authority.host, space: params['space'] ?? '', method: CHECK_USER_ACCESS }
      const res = await httpCall({
        method: 'GET',
        url: `${endpoint}/xrpc/${CHECK_USER_ACCESS}?${new URLSearchParams(params)}`,
        headers: { authorization: await this.serviceAuth(authority, managingApp, CHECK_USER_ACCESS, target) },
        timeoutMs: this.timeoutMs,
        readBody: true,
        maxBodyBytes: 64 * 1024,
      })
      if (res.status !== 200 || !res.body) return false
      const body = JSON.parse(res.body.toString('utf8')) as { authorized?: unknown } | null
      return body?.authorized === true
    } catch {
      return false
    }
  }
}
