/**
 * Repo recovery: rebuild one (space, author) repo from a full getRepo CAR and swap it in as a new
 * generation in one step (the store guarantees readers see either the old or the new repo, never a mix).
 *
 * The CAR is streamed through the verifier under the configured byte cap; records are collected only
 * after each one is verified, and nothing is handed to the store unless the whole CAR verified. Paths
 * absent from the verified index disappear with the swap: that is how deletions missed during a gap
 * propagate. A signature failure re-resolves the author's DID once (key rotation). A caller that just
 * found no stored state for the repo says so (`unsynced`), and the store is not asked again: without a
 * stored state there is no "unchanged" to detect and nothing to force past, and if a state did appear
 * meanwhile the store keeps it unless the snapshot is newer.
 */
import { openRepoCar, type VerifiedRepoHead } from '../protocol/repo-car.js'
import { isProtocolError } from '../protocol/errors.js'
import { bytesEqual } from '../protocol/bytes.js'
import type { RecordWrite, RepoState } from '../merge/types.js'
import type { SyncContext } from './sync-context.js'
import { withHost } from './host-call.js'

export type RecoveryResult =
  | { kind: 'recovered'; rev: string; records: number }
  | { kind: 'unchanged'; rev: string }
  | { kind: 'space_inactive' }

interface VerifiedRepo {
  head: VerifiedRepoHead
  records: RecordWrite[]
  /** Our state, read while the CAR downloaded. */
  stored: RepoState | null
}

export async function recoverRepo(
  ctx: SyncContext,
  space: string,
  repo: string,
  opts: { unsynced?: boolean } = {},
): Promise<RecoveryResult> {
  const { pds } = await ctx.hosts.repoHost(repo)
  // The host lease covers download and verification only; the swap is store latency, and holding a slot of
  // the host's concurrency cap through it would throttle every other job for that host.
  const verified = await withHost(ctx, space, pds, async (cred): Promise<VerifiedRepo> => {
    // Our state is read while the CAR downloads: it only decides "unchanged" and "force", and the store's
    // own rev check still guards the swap. Caught here so a failed download leaves no unhandled rejection.
    const stored = opts.unsynced ? Promise.resolve(null) : ctx.store.getRepoState(space, repo)
    stored.catch(() => undefined)
    for (let attempt = 0; ; attempt++) {
      const didKey = await ctx.hosts.signingKey(repo, attempt > 0)
      const body = await ctx.client.getRepo(pds, cred, { space, repo })
      try {
        const car = await openRepoCar(body, {
          space,
          author: repo,
          didKey,
          expectValues: true,
          maxBytes: ctx.maxCarBytes,
        })
        const records: RecordWrite[] = []
        for await (const r of car.records()) {
          records.push({ collection: r.collection, rkey: r.rkey, cid: r.cid, value: r.value })
        }
        return { head: car.head, records, stored: await stored }
      } catch (err) {
        body.discard()
        if (attempt === 0 && isProtocolError(err) && err.reason === 'bad_signature') continue
        throw err
      }
    }
  })

  const { head, records, stored: state } = verified
  if (state?.rev === head.rev && state.commitHash && bytesEqual(state.commitHash, head.hash)) {
    return { kind: 'unchanged', rev: head.rev }
  }
  // A host reset or migration can serve an older rev than ours: the verified CAR still wins.
  const force = state?.rev != null && state.rev >= head.rev
  const res = await ctx.store.replaceRepo({
    space,
    author: repo,
    rev: head.rev,
    ltState: head.state,
    commitHash: head.hash,
    records,
    force,
  })
  if (res.outcome === 'space_inactive') return { kind: 'space_inactive' }
  // Only reachable without a pre-read (`unsynced`): a state at or past this rev landed meanwhile.
  if (res.outcome === 'unchanged') return { kind: 'unchanged', rev: res.rev ?? head.rev }
  ctx.metrics.recordsVerified.inc(records.length)
  return { kind: 'recovered', rev: head.rev, records: records.length }
}
