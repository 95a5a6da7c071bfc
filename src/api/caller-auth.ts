/**
 * XRPC auth verifiers: turn a request into an authenticated caller (or a 401) before any handler runs, and
 * check the admin token for the admin methods.
 *
 * Invariants: authentication never looks at the requested space, so its errors depend only on the
 * presented credentials; every refusal is counted as an ACL decision (`unauthenticated` when nothing was
 * presented, `bad_auth` otherwise). The admin token is compared in constant time over its SHA-256 digest.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { MethodAuthContext } from '@atproto/xrpc-server'
import { isCallerAuthError, type Caller } from '../acl-filter/caller.js'
import { deny } from '../acl-filter/decision.js'
import type { ApiContext } from './api-context.js'
import { adminAuthRequired, authError } from './errors.js'

export interface CallerCredentials {
  credentials: Caller
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** URL path of the request, without query. */
function requestPath(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://localhost').pathname
}

export function callerAuth(ctx: ApiContext, nsid: string) {
  return async ({ req }: MethodAuthContext): Promise<CallerCredentials> => {
    const request = req as IncomingMessage
    try {
      const caller = await ctx.authenticator.authenticate(
        {
          method: request.method ?? 'GET',
          path: requestPath(request),
          authorization: header(request, 'authorization'),
          dpop: header(request, 'dpop'),
        },
        nsid,
      )
      return { credentials: caller }
    } catch (err) {
      if (!isCallerAuthError(err)) throw err
      ctx.acl.record(deny(err.reason === 'missing' ? 'unauthenticated' : 'bad_auth'))
      throw authError(err)
    }
  }
}

export function adminAuth(ctx: Pick<ApiContext, 'adminToken'>) {
  const digest = (s: string) => createHash('sha256').update(s).digest()
  const want = ctx.adminToken === '' ? null : digest(ctx.adminToken)
  return async ({ req }: MethodAuthContext): Promise<{ credentials: 'admin' }> => {
    const given = header(req as IncomingMessage, 'authorization')
    const token = given?.startsWith('Bearer ') ? given.slice('Bearer '.length) : undefined
    if (want === null || token === undefined || !timingSafeEqual(digest(token), want))
      throw adminAuthRequired()
    return { credentials: 'admin' }
  }
}
