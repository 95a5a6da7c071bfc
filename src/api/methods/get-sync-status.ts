/**
 * dev.spaceview.getSyncStatus: per-writer sync state of a readable space (merged rev, state, lag), by DID.
 *
 * Invariant: like every space read, an unreadable space answers SpaceNotFound; the page cursor is sealed to
 * this space and author filter.
 */
import type { IncomingMessage } from 'node:http'
import type { MethodConfig } from '@atproto/xrpc-server'
import type { ApiContext } from '../api-context.js'
import { callerAuth, type CallerCredentials } from '../caller-auth.js'
import { openCursor } from '../cursor-param.js'
import { NSID } from '../lexicons.js'
import { admitToSpace, spaceParam } from '../space-access.js'
import type { GetSyncStatusOutput, GetSyncStatusParams } from '../types.js'
import { writerStatus } from '../views.js'

export const DEFAULT_SYNC_STATUS_LIMIT = 100

export function getSyncStatusMethod(ctx: ApiContext): MethodConfig<CallerCredentials> {
  return {
    auth: callerAuth(ctx, NSID.getSyncStatus),
    handler: async ({ params, auth, req }) => {
      const p = params as unknown as GetSyncStatusParams
      const { uri } = spaceParam(p.space)
      const scope = [NSID.getSyncStatus, uri, p.author ?? ''].join('\n')
      const cursor = openCursor(ctx, scope, p.cursor)
      await admitToSpace(ctx, req as IncomingMessage, auth.credentials, uri)
      const page = await ctx.reader.listRepoStates(uri, {
        limit: p.limit ?? DEFAULT_SYNC_STATUS_LIMIT,
        ...(p.author === undefined ? {} : { author: p.author }),
        ...(cursor === undefined ? {} : { cursor }),
      })
      const now = Date.now()
      const body: GetSyncStatusOutput = { space: uri, writers: page.repos.map((r) => writerStatus(r, now)) }
      if (page.cursor !== undefined) body.cursor = ctx.cursors.seal(scope, page.cursor)
      return { encoding: 'application/json', body }
    },
  }
}
