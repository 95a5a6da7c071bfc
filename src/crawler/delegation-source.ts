/**
 * Mints delegation tokens (60 s, single use) just in time from a member session, by calling
 * com.atproto.space.getDelegationToken on the member's own PDS: with the access token as Bearer for a
 * password session, through the OAuth client (DPoP-bound, refreshed by the library) for an OAuth session.
 * The token is returned to the caller and never stored or logged. An OAuth session the authorization
 * server no longer honours is `not_authorized` (the credential manager marks the session refused).
 */
import type { HttpClient } from './http-client.js'
import { readHostError } from './http-client.js'
import { isHostError } from './host-errors.js'
import { spaceErrorFromHost, badResponse } from './space-errors.js'
import type { HostResolver } from './host-resolver.js'
import type { MemberSession } from './session-store.js'
import { hostErrorFromStatus } from './host-errors.js'
import { SpaceCallError } from './space-errors.js'
import { OAuthSessionRefusedError, type OAuthSessions } from './oauth-sessions.js'

const NSID = 'com.atproto.space.getDelegationToken'

export class DelegationSource {
  constructor(
    private readonly http: HttpClient,
    private readonly hosts: HostResolver,
    private readonly oauth?: Pick<OAuthSessions, 'fetch'>,
  ) {}

  async mint(session: MemberSession, space: string): Promise<string> {
    if (session.kind === 'oauth') return this.mintOAuth(session.did, space)
    const pds = session.pdsUrl ?? (await this.hosts.repoHost(session.did)).pds
    const url = new URL(`/xrpc/${NSID}`, pds)
    url.searchParams.set('space', space)
    let res
    try {
      res = await this.http.request({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${session.accessToken}`, accept: 'application/json' },
        maxBytes: 64 * 1024,
      })
    } catch (err) {
      if (isHostError(err)) throw spaceErrorFromHost(NSID, err, true)
      throw err
    }
    if (res.status !== 200) throw spaceErrorFromHost(NSID, await readHostError(res), true)
    return tokenOf(await res.body.json())
  }

  private async mintOAuth(did: string, space: string): Promise<string> {
    if (!this.oauth) {
      throw new SpaceCallError({
        kind: 'not_authorized',
        method: NSID,
        detail: 'OAuth sessions are not set up',
      })
    }
    let res: Response
    try {
      res = await this.oauth.fetch(did, `/xrpc/${NSID}?${new URLSearchParams({ space })}`)
    } catch (err) {
      if (err instanceof OAuthSessionRefusedError) {
        throw new SpaceCallError({ kind: 'not_authorized', method: NSID, detail: err.message, cause: err })
      }
      if (isHostError(err)) throw spaceErrorFromHost(NSID, err, true)
      throw new SpaceCallError({
        kind: 'unavailable',
        method: NSID,
        detail: `OAuth request failed: ${(err as Error).message}`,
        cause: err,
      })
    }
    const body = new Uint8Array(await res.arrayBuffer())
    if (res.status !== 200) {
      const target = new URL(res.url || `http://unknown/xrpc/${NSID}`)
      throw spaceErrorFromHost(
        NSID,
        hostErrorFromStatus(
          res.status,
          res.headers.get('retry-after') ?? undefined,
          body,
          target.origin + target.pathname,
        ),
        true,
      )
    }
    try {
      return tokenOf(JSON.parse(Buffer.from(body).toString('utf8')))
    } catch (err) {
      if (err instanceof SpaceCallError) throw err
      throw badResponse(NSID, 'output is not JSON')
    }
  }
}

function tokenOf(body: unknown): string {
  const token = (body as { token?: unknown } | null)?.token
  if (typeof token !== 'string' || token.length > 8192) throw badResponse(NSID, 'output has no token string')
  return token
}
