/**
 * dev.spaceview.listSpaces: the spaces the caller may read now, URI ascending.
 *
 * A space-credential caller sees its one space. A user is checked against every indexed space with the ACL
 * filter's rules in preview mode (no authority is asked, nothing is counted): authority, public, managed
 * membership, or a live cached admission. Spaces that need a delegation token exchange show up once the
 * caller has been admitted to them through getSpace/listRecords/getRecord with X-Space-Delegation.
 *
 * Invariants: one request looks at no more than SCAN_BUDGET spaces, so a page may be short and still carry
 * a cursor (continue while a cursor comes back); the cursor is sealed and names only the last space looked
 * at; unreadable spaces never appear, so listing leaks nothing the caller could not read.
 */
import type { MethodConfig } from '@atproto/xrpc-server'
import type { Caller } from '../../acl-filter/caller.js'
import { parseSpaceUri } from '../../protocol/space-uri.js'
import type { ApiContext } from '../api-context.js'
import { callerAuth, type CallerCredentials } from '../caller-auth.js'
import { openCursor } from '../cursor-param.js'
import { NSID } from '../lexicons.js'
import type { ListSpacesOutput, ListSpacesParams, SpaceView } from '../types.js'
import { spaceView } from '../views.js'

export const DEFAULT_LIST_SPACES_LIMIT = 50
export const SCAN_BUDGET = 1000
const SCAN_PAGE = 100

async function readableView(ctx: ApiContext, caller: Caller, space: string): Promise<SpaceView | null> {
  const decision = await ctx.acl.check(caller, space)
  if (decision.outcome === 'deny') return null
  const access = await ctx.acl.accessSnapshot(space)
  return spaceView(space, parseSpaceUri(space), decision, access, ctx.acl.managesPolicy(access?.policy))
}

export function listSpacesMethod(ctx: ApiContext): MethodConfig<CallerCredentials> {
  return {
    auth: callerAuth(ctx, NSID.listSpaces),
    handler: async ({ params, auth }) => {
      const p = params as unknown as ListSpacesParams
      const caller = auth.credentials
      const limit = p.limit ?? DEFAULT_LIST_SPACES_LIMIT
      let after = openCursor(ctx, NSID.listSpaces, p.cursor)
      const body: ListSpacesOutput = { spaces: [] }
      if (caller.kind === 'space_credential') {
        const view = after === undefined ? await readableView(ctx, caller, caller.space) : null
        if (view !== null) body.spaces.push(view)
        return { encoding: 'application/json', body }
      }
      let scanned = 0
      let more = true
      while (more && body.spaces.length < limit && scanned < SCAN_BUDGET) {
        const page = await ctx.reader.listSpaces({
          limit: Math.min(SCAN_PAGE, SCAN_BUDGET - scanned),
          ...(after === undefined ? {} : { cursor: after }),
        })
        more = page.cursor !== undefined
        const views = await Promise.all(page.spaces.map((s) => readableView(ctx, caller, s.space)))
        for (const [i, s] of page.spaces.entries()) {
          after = s.space
          scanned++
          const view = views[i]
          if (view) body.spaces.push(view)
          if (body.spaces.length === limit) {
            more = more || i < page.spaces.length - 1
            break
          }
        }
      }
      if (more && after !== undefined) body.cursor = ctx.cursors.seal(NSID.listSpaces, after)
      return { encoding: 'application/json', body }
    },
  }
}
