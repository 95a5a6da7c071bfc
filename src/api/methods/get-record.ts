/**
 * dev.spaceview.getRecord: one merged record by its space record URI.
 *
 * Invariants: the URI's space goes through the same gate as every space read (a record of an unreadable
 * space answers SpaceNotFound, identical to a missing space); inside a readable space an absent record and a
 * record of an inactive author both answer RecordNotFound.
 */
import type { IncomingMessage } from 'node:http'
import type { MethodConfig } from '@atproto/xrpc-server'
import { isProtocolError } from '../../protocol/errors.js'
import { formatSpaceUri, parseSpaceRecordUri, type SpaceRecordRef } from '../../protocol/space-uri.js'
import type { ApiContext } from '../api-context.js'
import { callerAuth, type CallerCredentials } from '../caller-auth.js'
import { invalidRequest, recordNotFound } from '../errors.js'
import { NSID } from '../lexicons.js'
import { admitToSpace } from '../space-access.js'
import type { GetRecordOutput, GetRecordParams } from '../types.js'
import { recordView } from '../views.js'

function recordParam(value: unknown): SpaceRecordRef {
  try {
    return parseSpaceRecordUri(value)
  } catch (err) {
    if (isProtocolError(err)) throw invalidRequest(`uri: ${err.message}`)
    throw err
  }
}

export function getRecordMethod(ctx: ApiContext): MethodConfig<CallerCredentials> {
  return {
    auth: callerAuth(ctx, NSID.getRecord),
    handler: async ({ params, auth, req }) => {
      const ref = recordParam((params as unknown as GetRecordParams).uri)
      const space = formatSpaceUri(ref)
      await admitToSpace(ctx, req as IncomingMessage, auth.credentials, space)
      const record = await ctx.reader.getRecord(space, ref.author, ref.collection, ref.rkey)
      if (record === null) throw recordNotFound()
      const body: GetRecordOutput = recordView(record)
      return { encoding: 'application/json', body }
    },
  }
}
