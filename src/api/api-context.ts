/**
 * What every API handler works with, built once by the server: the reader, the ACL filter and its stores,
 * the caller authenticator, the cursor seal, and the per-request start time (for the uniform denial time).
 *
 * Invariant: handlers get their collaborators only from here, so tests and the bench assemble exactly the
 * production wiring (server.ts) with a different reader or configuration.
 */
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import type { AclFilter } from '../acl-filter/acl-filter.js'
import type { CallerAuthenticator } from '../acl-filter/caller-authenticator.js'
import type { MembershipStore } from '../acl-filter/membership-store.js'
import type { KeyResolver } from '../protocol/token-claims.js'
import type { CursorSeal } from './cursor-seal.js'
import type { SpaceViewReader } from './space-view-reader.js'

export interface ApiContext {
  reader: SpaceViewReader
  acl: AclFilter
  authenticator: CallerAuthenticator
  membership: MembershipStore
  resolveKey: KeyResolver
  cursors: CursorSeal
  /** Bearer token of the admin methods; empty disables them. */
  adminToken: string
  /** Every denied space request is answered no sooner than this after it arrived (ms). */
  denyFloorMs: number
  logger: Logger
}

const started = new WeakMap<IncomingMessage, number>()

/** Marks the arrival of a request (the server's first middleware calls this). */
export function markRequestStart(req: IncomingMessage): void {
  started.set(req, performance.now())
}

/** Milliseconds since the request arrived (0 if it was never marked). */
export function requestAgeMs(req: IncomingMessage): number {
  const at = started.get(req)
  return at === undefined ? 0 : performance.now() - at
}
