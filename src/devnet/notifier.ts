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
 * - `checkUserAccess` fails closed: any error, timeout, non-200 or non-`true` answer denies.
 * - Faults: `dropNotifications` swallows a notification, `expiredTokens` / `wrongAudienceTokens` corrupt
 *   the service-auth token it carries.
 * `settle()` resolves once every queued notification (including ones queued while waiting) has finished.
 */
import type { Logger } from 'pino'
import { encodeBase64 } from '../protocol/bytes.js'
import { createServiceAuth } from '../protocol/service-auth.js'
import { parseSpaceUri } from '../protocol/space-uri.js'
import type { Account, AccountRegistry } from './accounts.js'
import type { Faults, FaultTarget } from './faults.js'
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

export class Notifier {
  readonly stats: NotifierStats = { sent: 0, delivered: 0, failed: 0, dropped: 0 }
  private readonly pending = new Set<Promise<void>>()

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
    const jwt = await createServiceAuth({
      keypair: await this.accounts.keypair(iss),
      iss: iss.did,
      aud: wrongAud ? `${aud}#wrong-audience` : aud,
      lxm,
      ...(expired ? { now: Date.now() / 1000 - 300 } : {}),
    })
    return `Bearer ${jwt}`
  }

  private async post(
    endpoint: string,
    nsid: string,
    authorization: string,
    body: unknown,
  ): Promise<Response> {
    return fetch(`${endpoint}/xrpc/${nsid}`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
      redirect: 'error',
    })
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
      const res = await this.post(endpoint, nsid, await this.serviceAuth(iss, aud, nsid, target), body)
      await res.body?.cancel()
      if (res.ok) this.stats.delivered++
      else {
        this.stats.failed++
        this.logger.info({ serviceId, nsid, status: res.status }, 'devnet: notification refused')
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
      const res = await fetch(`${endpoint}/xrpc/${CHECK_USER_ACCESS}?${new URLSearchParams(params)}`, {
        headers: { authorization: await this.serviceAuth(authority, managingApp, CHECK_USER_ACCESS, target) },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      })
      if (res.status !== 200) {
        await res.body?.cancel()
        return false
      }
      const body = (await res.json()) as { authorized?: unknown }
      return body.authorized === true
    } catch {
      return false
    }
  }
}
