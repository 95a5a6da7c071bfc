/**
 * Reads the stored access snapshot of a space (the `$type`d union objects simplespace getSpace returned) into
 * the typed policy the ACL filter decides on.
 *
 * Invariant: anything not recognised — no snapshot yet, an unknown variant, a managingAppPolicy without a
 * DID service id — reads as `unknown`, which the filter treats as "the authority decides": an unreadable
 * policy can never widen access.
 */
import type { AppAccess, SpacePolicy } from '../crawler/space-responses.js'

const DEFS = 'com.atproto.simplespace.defs#'

function typeOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const type = (value as Record<string, unknown>)['$type']
  return typeof type === 'string' ? type : undefined
}

export function readPolicy(value: unknown): SpacePolicy {
  const type = typeOf(value)
  if (type === `${DEFS}publicPolicy`) return { kind: 'public' }
  if (type === `${DEFS}memberListPolicy`) return { kind: 'memberList' }
  if (type === `${DEFS}managingAppPolicy`) {
    const app = (value as Record<string, unknown>)['managingApp']
    if (typeof app === 'string' && app.startsWith('did:')) return { kind: 'managingApp', managingApp: app }
  }
  return { kind: 'unknown', type: type ?? 'none' }
}

export function readAppAccess(value: unknown): AppAccess {
  const type = typeOf(value)
  if (type === `${DEFS}open`) return { kind: 'open' }
  if (type === `${DEFS}allowList`) {
    const allowed = (value as Record<string, unknown>)['allowed']
    if (Array.isArray(allowed) && allowed.every((c) => typeof c === 'string'))
      return { kind: 'allowList', allowed }
  }
  return { kind: 'unknown', type: type ?? 'none' }
}
