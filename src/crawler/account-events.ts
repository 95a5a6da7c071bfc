/**
 * Account and identity events from the configured firehose(s), consumed with @atproto/sync's Firehose
 * (commits excluded: a permissioned-only syncer subscribes for #account and #identity only).
 *
 * - #account active=false (deactivated, takendown, suspended, deleted): the author's records are hidden
 *   in every space (never deleted here; only a verified space deletion deletes data).
 * - #account active=true: shown again, and every repo of the author is re-synced.
 * - #identity: the DID document is re-resolved (new signing key, new PDS after a migration) and every
 *   repo of the author is re-synced, which re-verifies against the new key.
 */
import { Firehose, type Event } from '@atproto/sync'
import { IdResolver } from '@atproto/identity'
import type { Logger } from 'pino'
import type { AccountStatus } from '../merge/types.js'
import type { SyncStore } from '../merge/sync-store.js'
import type { IdentityFetch } from '../identity/guarded-fetch.js'

export interface AccountEventDeps {
  store: Pick<SyncStore, 'setAccountStatus'>
  refreshIdentity(did: string): Promise<void>
  spacesOf(did: string): Promise<string[]>
  enqueueSync(space: string, repo: string): Promise<void>
  logger: Logger
}

export async function handleAccountEvent(deps: AccountEventDeps, evt: Event): Promise<void> {
  if (evt.event === 'account') {
    const status: AccountStatus = evt.active ? 'active' : (evt.status ?? 'deactivated')
    await deps.store.setAccountStatus(evt.did, status, new Date(evt.time))
    if (evt.active) for (const space of await deps.spacesOf(evt.did)) await deps.enqueueSync(space, evt.did)
  } else if (evt.event === 'identity') {
    await deps.refreshIdentity(evt.did)
    for (const space of await deps.spacesOf(evt.did)) await deps.enqueueSync(space, evt.did)
  }
}

/**
 * Starts one Firehose subscription per URL; returns a stop function. The Firehose resolves the DID of every
 * #identity event before handing it over, so `fetch` should be the crawler's guarded fetch: the same
 * endpoint policy as every other resolution. The library's own default refuses loopback outright, which
 * drops every #identity event of a devnet (a rotated key then went unnoticed until a signature failed).
 */
export function startAccountEvents(
  deps: AccountEventDeps,
  firehoseUrls: string[],
  plcUrl: string,
  fetch?: IdentityFetch,
): () => Promise<void> {
  const hoses = firehoseUrls.map(
    (service) =>
      new Firehose({
        service,
        idResolver: new IdResolver(fetch ? { plcUrl, fetch } : { plcUrl }),
        excludeCommit: true,
        excludeSync: true,
        unauthenticatedHandles: true,
        handleEvent: (evt) => handleAccountEvent(deps, evt),
        onError: (err) => deps.logger.warn({ err: err.message }, 'firehose error'),
      }),
  )
  for (const h of hoses) void h.start()
  return async () => {
    await Promise.all(hoses.map((h) => h.destroy()))
  }
}
