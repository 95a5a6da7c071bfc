/**
 * dev.spaceview.listRecords: one page of a space's merged records, optionally one collection and/or one
 * author, ascending by (collection, author, rkey) or descending with `reverse`.
 *
 * Invariants: the cursor is opened (and a tampered or foreign one refused) before admission; records come
 * only from the store's visibility-checked read (current epoch, active space, active authors); the returned
 * cursor is sealed to this exact listing.
 */
import type { IncomingMessage } from 'node:http'
import type { MethodConfig } from '@atproto/xrpc-server'
import type { ApiContext } from '../api-context.js'
import { callerAuth, type CallerCredentials } from '../caller-auth.js'
import { openCursor } from '../cursor-param.js'
import { NSID } from '../lexicons.js'
import { admitToSpace, spaceParam } from '../space-access.js'
import type { ListRecordsOutput, ListRecordsParams } from '../types.js'
import { recordViews } from '../views.js'

export const DEFAULT_LIST_RECORDS_LIMIT = 50

export function listRecordsMethod(ctx: ApiContext): MethodConfig<CallerCredentials> {
  return {
    auth: callerAuth(ctx, NSID.listRecords),
    handler: async ({ params, auth, req }) => {
      const p = params as unknown as ListRecordsParams
      const { uri } = spaceParam(p.space)
      const reverse = p.reverse === true
      const scope = [NSID.listRecords, uri, p.collection ?? '', p.author ?? '', String(reverse)].join('\n')
      const cursor = openCursor(ctx, scope, p.cursor)
      await admitToSpace(ctx, req as IncomingMessage, auth.credentials, uri)
      const page = await ctx.reader.listRecords({
        space: uri,
        limit: p.limit ?? DEFAULT_LIST_RECORDS_LIMIT,
        reverse,
        ...(p.collection === undefined ? {} : { collection: p.collection }),
        ...(p.author === undefined ? {} : { author: p.author }),
        ...(cursor === undefined ? {} : { cursor }),
      })
      const body: ListRecordsOutput = { records: recordViews(page.records) }
      if (page.cursor !== undefined) body.cursor = ctx.cursors.seal(scope, page.cursor)
      return { encoding: 'application/json', body }
    },
  }
}
