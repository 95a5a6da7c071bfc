/**
 * Repo recovery: rebuild one (space, author) repo from a full getRepo CAR and swap it in as a new
 * generation in one step (the store guarantees readers see either the old or the new repo, never a mix).
 *
 * The CAR is streamed through the verifier under the configured byte cap; records are collected only
 * after each one is verified, and nothing is handed to the store unless the whole CAR verified. Paths
 * absent from the verified index disappear with the swap: that is how deletions missed during a gap
 * propagate. A signature failure re-resolves the author's DID once (key rotation).
 */
import { openRepoCar } from '../protocol/repo-car.js'
import { isProtocolError } from '../protocol/errors.js'
import { bytesEqual } from '../protocol/bytes.js'
import type { RecordWrite } from '../merge/types.js'
import type { SyncContext } from './sync-context.js'
import { withHost } from './host-call.js'

export type RecoveryResult =
  | { kind: 'recovered'; rev: string; records: number }
  | { kind: 'unchanged'; rev: string }
  | { kind: 'space_inactive' }

export async function recoverRepo(ctx: SyncContext, space: string, repo: string): Promise<RecoveryResult> {
  const { pds } = await ctx.hosts.repoHost(repo)
  return withHost(ctx, space, pds, async (cred) => {
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
        const state = await ctx.store.getRepoState(space, repo)
        if (state?.rev === car.head.rev && state.commitHash && bytesEqual(state.commitHash, car.head.hash)) {
          return { kind: 'unchanged', rev: car.head.rev } as const
        }
        // A host reset or migration can serve an older rev than ours: the verified CAR still wins.
        const force = state?.rev != null && state.rev >= car.head.rev
        const res = await ctx.store.replaceRepo({
          space,
          author: repo,
          rev: car.head.rev,
          ltState: car.head.state,
          commitHash: car.head.hash,
          records,
          force,
        })
        if (res.outcome === 'space_inactive') return { kind: 'space_inactive' } as const
        ctx.metrics.recordsVerified.inc(records.length)
        return { kind: 'recovered', rev: car.head.rev, records: records.length } as const
      } catch (err) {
        body.discard()
        if (attempt === 0 && isProtocolError(err) && err.reason === 'bad_signature') continue
        throw err
      }
    }
  })
}
