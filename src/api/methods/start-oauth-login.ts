/**
 * dev.spaceview.admin.startOAuthLogin and the OAuth callback route: the HTTP side of OAuth member sessions
 * (the logic is src/crawler/oauth-sessions.ts).
 *
 * Invariants: starting a login is admin-authenticated; the callback is public (the member's browser
 * arrives there) and is trusted only through the library's checks (sealed state, PKCE, issuer, DPoP);
 * neither logs nor echoes codes or tokens; a failed callback answers 400 with a fixed message.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { InvalidRequestError, type MethodConfig } from '@atproto/xrpc-server'
import type { Logger } from 'pino'
import { OAuthLoginError, type OAuthSessions } from '../../crawler/oauth-sessions.js'
import { adminAuth } from '../caller-auth.js'
import { invalidRequest } from '../errors.js'
import { spaceParam } from '../space-access.js'
import type { StartOAuthLoginInput, StartOAuthLoginOutput } from '../types.js'

type AdminCredentials = { credentials: 'admin' }

export function startOAuthLoginMethod(deps: {
  adminToken: string
  oauth: Pick<OAuthSessions, 'startLogin'>
}): MethodConfig<AdminCredentials> {
  return {
    auth: adminAuth(deps),
    handler: async ({ input }) => {
      const body = input?.body as StartOAuthLoginInput
      const { uri } = spaceParam(body.space)
      if (body.identifier.trim() === '') throw invalidRequest('identifier: a handle or DID is required')
      let url: URL
      try {
        url = await deps.oauth.startLogin(body.identifier.trim(), uri)
      } catch (err) {
        if (err instanceof OAuthLoginError) throw new InvalidRequestError(err.message, 'OAuthLoginFailed')
        throw err
      }
      const out: StartOAuthLoginOutput = { authorizationUrl: url.href }
      return { encoding: 'application/json', body: out }
    },
  }
}

/** GET handler of the OAuth redirect URI. */
export function oauthCallbackHandler(deps: {
  oauth: Pick<OAuthSessions, 'completeLogin'>
  addSpace(space: string): Promise<void>
  logger: Logger
}) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const params = new URL(req.url ?? '/', 'http://callback').searchParams
    void deps.oauth
      .completeLogin(params, deps.addSpace)
      .then(({ did, space }) => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        res.end(`spaceview now syncs ${space} with the session of ${did}. You can close this page.\n`)
      })
      .catch((err: unknown) => {
        const known = err instanceof OAuthLoginError
        deps.logger.warn({ err: known ? err.message : (err as Error).name }, 'OAuth callback failed')
        if (res.headersSent) return
        res.writeHead(known ? 400 : 500, { 'content-type': 'text/plain; charset=utf-8' })
        res.end('the login could not be completed; start it again\n')
      })
  }
}
