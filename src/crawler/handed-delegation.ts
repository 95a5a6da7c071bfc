/**
 * A delegation token handed to spaceview by an app backend (admin endpoint
 * dev.spaceview.admin.putDelegation) instead of minted from a member session spaceview holds.
 *
 * Invariants:
 * - The token is one-shot: it is exchanged at once at the authority's getSpaceCredential (with the client
 *   attestation when one is given) and then forgotten; it is never stored, returned or logged.
 * - The space joins the synced set and its bootstrap is queued only after the exchange succeeded; a refused
 *   or failed exchange changes nothing.
 * - Later refreshes use the space's member sessions as usual; with none, the space goes
 *   needs_authorization when the handed credential runs out, until a fresh token (or a session) arrives.
 */
import type { CredentialManager } from './credential-manager.js'
import type { SessionStore } from './session-store.js'

export interface HandedDelegation {
  /** Canonical space URI. */
  space: string
  delegationToken: string
  clientAttestation?: string
}

export interface HandedDelegationDeps {
  creds: Pick<CredentialManager, 'adopt'>
  sessions: Pick<SessionStore, 'addSyncedSpace'>
  /** Queues the space's bootstrap and schedules its sweeps (Crawler.addSpace). */
  addSpace(space: string): Promise<void>
}

/** Exchanges the token; on success the space is synced. Returns when the credential expires (unix s). */
export async function acceptHandedDelegation(
  deps: HandedDelegationDeps,
  handed: HandedDelegation,
): Promise<{ expiresAt: number }> {
  const held = await deps.creds.adopt(handed.space, handed.delegationToken, handed.clientAttestation)
  await deps.sessions.addSyncedSpace(handed.space)
  await deps.addSpace(handed.space)
  return { expiresAt: held.expiresAt }
}
