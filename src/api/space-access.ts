/**
 * The gate in front of every space-scoped read: validate the space ref, check the caller's delegation token
 * if one came with the request, ask the ACL filter, and on refusal answer exactly like a missing space.
 *
 * Invariants:
 * - Order: syntax (400 InvalidRequest) → delegation token (400 InvalidDelegationToken; stateless, so it
 *   says nothing about the space) → admission. Only the last step looks at what we index.
 * - A refusal — whatever its reason, including "no such space" — is `spaceNotFound()` (fixed bytes) and is
 *   sent no sooner than `denyFloorMs` after the request arrived, so the answer and its timing are the same
 *   for a space that does not exist and one the caller may not read. Reasons go to metrics and logs only.
 */
import type { IncomingMessage } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Caller } from '../acl-filter/caller.js'
import type { Decision } from '../acl-filter/decision.js'
import {
  checkDelegationToken,
  DelegationTokenError,
  DELEGATION_HEADER,
} from '../acl-filter/delegation-header.js'
import { isProtocolError } from '../protocol/errors.js'
import { formatSpaceUri, parseSpaceUri, type SpaceRef } from '../protocol/space-uri.js'
import { requestAgeMs, type ApiContext } from './api-context.js'
import { invalidDelegationToken, invalidRequest, spaceNotFound } from './errors.js'

export type Admitted = Extract<Decision, { outcome: 'allow' }>

/** A validated space ref parameter: its canonical string and parts. */
export function spaceParam(value: unknown, name = 'space'): { uri: string; ref: SpaceRef } {
  try {
    const ref = parseSpaceUri(value)
    return { uri: formatSpaceUri(ref), ref }
  } catch (err) {
    if (isProtocolError(err)) throw invalidRequest(`${name}: ${err.message}`)
    throw err
  }
}

/** Waits out the rest of the uniform denial time, then returns the one refusal answer. */
export async function refuse(ctx: ApiContext, req: IncomingMessage): Promise<never> {
  const wait = ctx.denyFloorMs - requestAgeMs(req)
  if (wait > 0) await sleep(wait)
  throw spaceNotFound()
}

/** Admits `caller` to `space` or throws the SpaceNotFound refusal. */
export async function admitToSpace(
  ctx: ApiContext,
  req: IncomingMessage,
  caller: Caller,
  space: string,
): Promise<Admitted> {
  const raw = req.headers[DELEGATION_HEADER]
  const token = Array.isArray(raw) ? raw[0] : raw
  if (token !== undefined && caller.kind === 'user') {
    try {
      await checkDelegationToken(token, { did: caller.did, space, resolveKey: ctx.resolveKey })
    } catch (err) {
      if (err instanceof DelegationTokenError) throw invalidDelegationToken(err.message)
      throw err
    }
  }
  const decision = await ctx.acl.admit(caller, space, caller.kind === 'user' ? token : undefined)
  if (decision.outcome === 'deny') return refuse(ctx, req)
  return decision
}
