/**
 * dev.spaceview.admin.explainAccess: the operator's "why is this user admitted or denied" — every ACL rule
 * looked at and what it showed, without asking the authority or changing anything. `spaceview acl explain`
 * calls it.
 */
import type { MethodConfig } from '@atproto/xrpc-server'
import { isValidDid } from '@atproto/syntax'
import type { ApiContext } from '../api-context.js'
import { adminAuth } from '../caller-auth.js'
import { invalidRequest } from '../errors.js'
import { spaceParam } from '../space-access.js'
import type { ExplainAccessOutput, ExplainAccessParams } from '../types.js'

export function explainAccessMethod(ctx: ApiContext): MethodConfig<{ credentials: 'admin' }> {
  return {
    auth: adminAuth(ctx),
    handler: async ({ params }) => {
      const p = params as unknown as ExplainAccessParams
      const { uri } = spaceParam(p.space)
      if (!isValidDid(p.did)) throw invalidRequest('did: not a valid DID')
      const { decision, steps } = await ctx.acl.explain(uri, p.did)
      const body: ExplainAccessOutput = {
        space: uri,
        did: p.did,
        outcome: decision.outcome,
        reason: decision.reason,
        steps,
      }
      if (decision.outcome === 'allow' && decision.until !== undefined)
        body.until = new Date(decision.until).toISOString()
      return { encoding: 'application/json', body }
    },
  }
}
