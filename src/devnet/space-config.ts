/**
 * Simplespace configuration as the authority stores it: the user policy, the app access rule, the member
 * list, the writer set (what `listRepos` serves) and notify registrations.
 *
 * Invariants: policies and app-access rules are the typed union objects of
 * com.atproto.simplespace.defs; `parsePolicy` / `parseAppAccess` refuse unknown variants (a host never
 * stores a rule it cannot enforce) and a managingApp that is not a DID service id. Writer hints are the
 * last notified (rev, hash), not checked for monotonicity (last notification wins, as in the reference);
 * a `generated` hint means "as generated" and is resolved from the repo itself.
 */
import { XrpcError } from './xrpc-router.js'

const DEFS = 'com.atproto.simplespace.defs'

export type Policy =
  | { $type: `${typeof DEFS}#publicPolicy` }
  | { $type: `${typeof DEFS}#memberListPolicy` }
  | { $type: `${typeof DEFS}#managingAppPolicy`; managingApp: string }

export type AppAccess =
  { $type: `${typeof DEFS}#open` } | { $type: `${typeof DEFS}#allowList`; allowed: string[] }

export const PUBLIC_POLICY: Policy = { $type: `${DEFS}#publicPolicy` }
export const MEMBER_LIST_POLICY: Policy = { $type: `${DEFS}#memberListPolicy` }
export const OPEN_ACCESS: AppAccess = { $type: `${DEFS}#open` }

export const managingAppPolicy = (managingApp: string): Policy => ({
  $type: `${DEFS}#managingAppPolicy`,
  managingApp,
})
export const allowList = (allowed: string[]): AppAccess => ({ $type: `${DEFS}#allowList`, allowed })

export interface WriterHint {
  rev: string
  hash: Uint8Array
}

export interface NotifyRegistration {
  /** Unix milliseconds. */
  expiresAt: number
}

export interface HostedSpace {
  uri: string
  authority: string
  type: string
  skey: string
  policy: Policy
  appAccess: AppAccess
  members: Set<string>
  writers: Map<string, WriterHint | 'generated'>
  registrations: Map<string, NotifyRegistration>
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function parsePolicy(value: unknown): Policy {
  const type = isObject(value) ? value['$type'] : undefined
  if (type === PUBLIC_POLICY.$type) return PUBLIC_POLICY
  if (type === MEMBER_LIST_POLICY.$type) return MEMBER_LIST_POLICY
  if (type === `${DEFS}#managingAppPolicy`) {
    const app = (value as Record<string, unknown>)['managingApp']
    if (typeof app === 'string' && app.startsWith('did:')) return managingAppPolicy(app)
    throw new XrpcError(400, 'UnsupportedPolicy', 'managingApp must be a DID service id (did:…[#fragment])')
  }
  throw new XrpcError(
    400,
    'UnsupportedPolicy',
    'Unsupported policy; use a com.atproto.simplespace.defs policy',
  )
}

export function parseAppAccess(value: unknown): AppAccess {
  const type = isObject(value) ? value['$type'] : undefined
  if (type === OPEN_ACCESS.$type) return OPEN_ACCESS
  if (type === `${DEFS}#allowList`) {
    const allowed = (value as Record<string, unknown>)['allowed']
    if (Array.isArray(allowed) && allowed.every((a) => typeof a === 'string')) return allowList([...allowed])
    throw new XrpcError(400, 'InvalidRequest', 'allowList.allowed must be an array of client ids')
  }
  throw new XrpcError(400, 'UnsupportedAppAccess', 'Unsupported appAccess; use #open or #allowList')
}
