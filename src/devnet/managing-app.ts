/**
 * A managing app for `#managingAppPolicy` spaces: serves com.atproto.simplespace.checkUserAccess and
 * answers from its own access lists.
 *
 * Invariants: requests must carry service auth addressed to this app's service id (`{did}#devnet_manager`)
 * for the checkUserAccess method, issued by the authority of the space asked about (else 401/403); a user is
 * authorized iff listed for that space (or listed for every space). `failWith` makes the app answer badly
 * for one space so the authority's fail-closed behaviour can be observed; every call is recorded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isProtocolError } from '../protocol/errors.js'
import { verifyServiceAuth } from '../protocol/service-auth.js'
import { parseSpaceUri } from '../protocol/space-uri.js'
import type { IdentityResolver } from './identity-resolver.js'
import { CHECK_USER_ACCESS } from './notifier.js'

export type ManagingAppFailure = 'error' | 'malformed' | 'hang'

export interface CheckUserAccessCall {
  space: string
  user: string
  clientId?: string
  authorized: boolean
  /** The `jti` of the authority's service-auth token (a fresh token per call is observable). */
  jti: string
}

export class ManagingApp {
  readonly serviceId: string
  readonly calls: CheckUserAccessCall[] = []
  private readonly access = new Map<string, Set<string>>()
  private readonly everywhere = new Set<string>()
  private readonly failures = new Map<string, ManagingAppFailure>()

  constructor(
    readonly did: string,
    private readonly resolver: IdentityResolver,
  ) {
    this.serviceId = `${did}#devnet_manager`
  }

  authorize(space: string, user: string): void {
    let users = this.access.get(space)
    if (!users) this.access.set(space, (users = new Set()))
    users.add(user)
  }

  revoke(space: string, user: string): void {
    this.access.get(space)?.delete(user)
  }

  /** Authorizes `user` in every space this app manages. */
  authorizeEverywhere(user: string): void {
    this.everywhere.add(user)
  }

  /** Misbehave for one space (undefined restores normal answers). */
  failWith(space: string, failure: ManagingAppFailure | undefined): void {
    if (failure) this.failures.set(space, failure)
    else this.failures.delete(space)
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://managing-app')
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const space = url.searchParams.get('space') ?? ''
    const user = url.searchParams.get('user') ?? ''
    const clientId = url.searchParams.get('clientId') ?? undefined
    let authorityDid: string
    try {
      authorityDid = parseSpaceUri(space).did
    } catch {
      return send(400, { error: 'InvalidRequest', message: 'space must be a space ref' })
    }
    const token = (req.headers['authorization'] ?? '').replace(/^Bearer /i, '')
    let jti: string
    try {
      const verified = await verifyServiceAuth(token, {
        audience: this.serviceId,
        lxm: CHECK_USER_ACCESS,
        issuer: authorityDid,
        resolveKey: this.resolver.resolveKey,
      })
      jti = String(verified.claims.jti)
    } catch (err) {
      if (!isProtocolError(err)) throw err
      return send(401, { error: 'AuthRequired', message: err.message })
    }
    const failure = this.failures.get(space)
    if (failure === 'error')
      return send(500, { error: 'InternalServerError', message: 'devnet managing app failure' })
    if (failure === 'malformed') return send(200, { authorized: 'yes' })
    if (failure === 'hang') return
    const authorized = this.everywhere.has(user) || this.access.get(space)?.has(user) === true
    this.calls.push({ space, user, ...(clientId !== undefined ? { clientId } : {}), authorized, jti })
    send(200, { authorized })
  }
}
