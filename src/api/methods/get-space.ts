/**
 * dev.spaceview.getSpace: one readable space — why the caller may read it, its policy, its record count and
 * a summary of its writers' sync state.
 *
 * Invariants: an unreadable space answers SpaceNotFound like a missing one; the writer summary is computed
 * over every repo of the space's current epoch, up to SUMMARY_MAX_REPOS (beyond that it is left out, and
 * getSyncStatus pages through the writers instead).
 */
import type { IncomingMessage } from 'node:http'
import type { MethodConfig } from '@atproto/xrpc-server'
import type { RepoState } from '../../merge/index.js'
import type { ApiContext } from '../api-context.js'
import { callerAuth, type CallerCredentials } from '../caller-auth.js'
import { NSID } from '../lexicons.js'
import { admitToSpace, spaceParam } from '../space-access.js'
import type { GetSpaceOutput, GetSpaceParams } from '../types.js'
import { spaceView, summarizeWriters } from '../views.js'

export const SUMMARY_PAGE = 1000
export const SUMMARY_MAX_REPOS = 100_000

async function allRepoStates(ctx: ApiContext, space: string): Promise<RepoState[] | null> {
  const states: RepoState[] = []
  let cursor: string | undefined
  do {
    const page = await ctx.reader.listRepoStates(space, {
      limit: SUMMARY_PAGE,
      ...(cursor === undefined ? {} : { cursor }),
    })
    states.push(...page.repos)
    if (states.length > SUMMARY_MAX_REPOS) return null
    cursor = page.cursor
  } while (cursor !== undefined)
  return states
}

export function getSpaceMethod(ctx: ApiContext): MethodConfig<CallerCredentials> {
  return {
    auth: callerAuth(ctx, NSID.getSpace),
    handler: async ({ params, auth, req }) => {
      const { uri, ref } = spaceParam((params as unknown as GetSpaceParams).space)
      const decision = await admitToSpace(ctx, req as IncomingMessage, auth.credentials, uri)
      const [access, recordCount, states] = await Promise.all([
        ctx.acl.accessSnapshot(uri),
        ctx.reader.countRecords(uri),
        allRepoStates(ctx, uri),
      ])
      const body: GetSpaceOutput = {
        ...spaceView(uri, ref, decision, access, ctx.acl.managesPolicy(access?.policy)),
        recordCount,
      }
      if (states !== null) body.writers = summarizeWriters(states)
      return { encoding: 'application/json', body }
    },
  }
}
