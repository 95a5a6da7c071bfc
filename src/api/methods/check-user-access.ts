/**
 * com.atproto.simplespace.checkUserAccess, served to the authority of a space whose policy names spaceview
 * as managing app (spec §6.1): "may this user get a credential?". Our member list answers, so the
 * authority's gate and ours agree.
 *
 * Invariants: only the space's own authority may ask (service auth with iss = the space's authority DID,
 * aud = one of our service ids, lxm = this method; jti single-use); anyone else gets 401 and learns nothing.
 * The answer is `authorized: true` only for a listed member; everything else is false, and any error is
 * an error — which the authority treats as a refusal (fail closed).
 */
import type { MethodConfig } from '@atproto/xrpc-server'
import { AuthRequiredError } from '@atproto/xrpc-server'
import { isValidDid } from '@atproto/syntax'
import type { ApiContext } from '../api-context.js'
import { callerAuth, type CallerCredentials } from '../caller-auth.js'
import { invalidRequest } from '../errors.js'
import { NSID } from '../lexicons.js'
import { spaceParam } from '../space-access.js'
import type { CheckUserAccessOutput, CheckUserAccessParams } from '../types.js'

export function checkUserAccessMethod(ctx: ApiContext): MethodConfig<CallerCredentials> {
  return {
    auth: callerAuth(ctx, NSID.checkUserAccess),
    handler: async ({ params, auth }) => {
      const p = params as unknown as CheckUserAccessParams
      const { uri, ref } = spaceParam(p.space)
      if (!isValidDid(p.user)) throw invalidRequest('user: not a valid DID')
      const caller = auth.credentials
      if (caller.kind !== 'user' || caller.did !== ref.did) {
        throw new AuthRequiredError('only the space authority may ask about its users', 'BadJwtIss')
      }
      const authorized = await ctx.membership.has(uri, p.user)
      ctx.logger.info({ space: uri, user: p.user, authorized }, 'checkUserAccess answered')
      const body: CheckUserAccessOutput = { authorized }
      return { encoding: 'application/json', body }
    },
  }
}
