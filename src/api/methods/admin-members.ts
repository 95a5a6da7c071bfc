/**
 * dev.spaceview.admin.{addMember,removeMember,listMembers}: how the app running spaceview manages the member
 * lists of the spaces whose policy names spaceview as managing app. Authenticated with the admin token.
 *
 * Invariants: changes apply to the next request in every process (nothing caches membership), and they are
 * what the authority's checkUserAccess sees too; both changes are idempotent and logged (space, DID, never
 * the token). Spaces are validated as space refs; membership may be set before spaceview has indexed a space.
 */
import type { MethodConfig } from '@atproto/xrpc-server'
import { isValidDid } from '@atproto/syntax'
import type { ApiContext } from '../api-context.js'
import { adminAuth } from '../caller-auth.js'
import { openCursor } from '../cursor-param.js'
import { invalidRequest } from '../errors.js'
import { NSID } from '../lexicons.js'
import { spaceParam } from '../space-access.js'
import type { ListMembersOutput, ListMembersParams, MemberInput, MemberOutput } from '../types.js'

export const DEFAULT_LIST_MEMBERS_LIMIT = 100

type AdminCredentials = { credentials: 'admin' }

function memberInput(body: unknown): { space: string; did: string } {
  const input = body as MemberInput
  const { uri } = spaceParam(input.space)
  if (!isValidDid(input.did)) throw invalidRequest('did: not a valid DID')
  return { space: uri, did: input.did }
}

export function addMemberMethod(ctx: ApiContext): MethodConfig<AdminCredentials> {
  return {
    auth: adminAuth(ctx),
    handler: async ({ input }) => {
      const { space, did } = memberInput(input?.body)
      await ctx.membership.add(space, did)
      ctx.logger.info({ space, did }, 'managed space: member added')
      const body: MemberOutput = {}
      return { encoding: 'application/json', body }
    },
  }
}

export function removeMemberMethod(ctx: ApiContext): MethodConfig<AdminCredentials> {
  return {
    auth: adminAuth(ctx),
    handler: async ({ input }) => {
      const { space, did } = memberInput(input?.body)
      await ctx.membership.remove(space, did)
      ctx.logger.info({ space, did }, 'managed space: member removed')
      const body: MemberOutput = {}
      return { encoding: 'application/json', body }
    },
  }
}

export function listMembersMethod(ctx: ApiContext): MethodConfig<AdminCredentials> {
  return {
    auth: adminAuth(ctx),
    handler: async ({ params }) => {
      const p = params as unknown as ListMembersParams
      const { uri } = spaceParam(p.space)
      const scope = `${NSID.listMembers}\n${uri}`
      const cursor = openCursor(ctx, scope, p.cursor)
      const page = await ctx.membership.list(uri, p.limit ?? DEFAULT_LIST_MEMBERS_LIMIT, cursor)
      const body: ListMembersOutput = { members: page.members }
      if (page.cursor !== undefined) body.cursor = ctx.cursors.seal(scope, page.cursor)
      return { encoding: 'application/json', body }
    },
  }
}
