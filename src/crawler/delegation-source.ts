/**
 * Mints delegation tokens (60 s, single use) just in time from a member session, by calling
 * com.atproto.space.getDelegationToken on the member's own PDS with the session's access token.
 * The token is returned to the caller and never stored or logged.
 */
import type { HttpClient } from './http-client.js'
import { readHostError } from './http-client.js'
import { isHostError } from './host-errors.js'
import { spaceErrorFromHost, badResponse } from './space-errors.js'
import type { HostResolver } from './host-resolver.js'
import type { MemberSession } from './session-store.js'

const NSID = 'com.atproto.space.getDelegationToken'

export class DelegationSource {
  constructor(
    private readonly http: HttpClient,
    private readonly hosts: HostResolver,
  ) {}

  async mint(session: MemberSession, space: string): Promise<string> {
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
    const body = (await res.body.json()) as { token?: unknown }
    if (typeof body?.token !== 'string' || body.token.length > 8192) {
      throw badResponse(NSID, 'output has no token string')
    }
    return body.token
  }
}
