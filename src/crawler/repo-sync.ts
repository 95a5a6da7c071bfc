/**
 * Repo sync: bring one (space, author) repo up to date incrementally with listRepoOps.
 *
 * parse → verify → apply, in that order: ops from the stored rev are applied to the stored LtHash state,
 * the head commit is verified (signature with the author's #atproto key, re-resolved once on failure;
 * MAC), the resulting digest must equal the commit hash, superseded or tampered inline values are
 * re-fetched with getRecord and re-hashed, and only then is the net change handed to the store, which
 * applies it only on top of the rev it was computed from. No record is stored unverified.
 *
 * Divergence (hash mismatch, gap, since ahead of head, rev mismatch, ops with no head commit to verify
 * them against) is retried once from the same rev — a concurrent write can make the commit newer than the
 * ops read — and then answered with a recovery. The host lease covers the host exchange only: landing the
 * verified update is store latency and must not hold one of the host's concurrency slots.
 */
import { verifyCommit, type SignedCommit } from '../protocol/commit.js'
import { isProtocolError, ProtocolError } from '../protocol/errors.js'
import { RepoOpsApplier, type StagedChange } from '../protocol/repo-ops.js'
import { encodeRecordJson } from '../protocol/record-codec.js'
import type { RecordWrite, RecordKey, RepoUpdate } from '../merge/types.js'
import type { SyncContext } from './sync-context.js'
import type { HeldCredential } from './credential-manager.js'
import { withHost } from './host-call.js'

export type SyncResult =
  | { kind: 'synced'; rev: string; ops: number; upserts: number; deletes: number }
  | { kind: 'unchanged'; rev: string | null }
  | { kind: 'needs_recovery'; reason: string }
  | { kind: 'no_repo' }
  | { kind: 'space_inactive' }

const DIVERGENCE = new Set([
  'ops_hash_mismatch',
  'ops_rev_mismatch',
  'since_ahead_of_head',
  'ops_out_of_order',
])

/** Verifies a commit against the author's key, re-resolving the DID once if the signature fails. */
export async function verifyAuthorCommit(
  ctx: SyncContext,
  space: string,
  author: string,
  commit: SignedCommit,
): Promise<void> {
  const didKey = await ctx.hosts.signingKey(author)
  try {
    await verifyCommit({ commit, space, author, didKey })
  } catch (err) {
    if (!(isProtocolError(err) && err.reason === 'bad_signature')) throw err
    const fresh = await ctx.hosts.signingKey(author, true)
    if (fresh === didKey) throw err
    await verifyCommit({ commit, space, author, didKey: fresh })
  }
}

interface PulledOps {
  commit?: SignedCommit
  applier: RepoOpsApplier
}

async function pullOps(
  ctx: SyncContext,
  cred: HeldCredential,
  pds: string,
  space: string,
  repo: string,
  state: Uint8Array,
  since: string,
): Promise<PulledOps> {
  const applier = new RepoOpsApplier(state, since)
  let commit: SignedCommit | undefined
  for await (const page of ctx.client.listRepoOpsPages(pds, cred, {
    space,
    repo,
    since,
    limit: ctx.pageLimit,
  })) {
    applier.apply(page.ops)
    if (page.commit) commit = page.commit
  }
  return commit ? { commit, applier } : { applier }
}

function toWrites(
  changes: StagedChange[],
  fetched: Map<string, unknown>,
): { upserts: RecordWrite[]; deletes: RecordKey[] } {
  const upserts: RecordWrite[] = []
  const deletes: RecordKey[] = []
  for (const c of changes) {
    if (c.kind === 'delete') {
      deletes.push({ collection: c.collection, rkey: c.rkey })
      continue
    }
    const value = fetched.get(`${c.collection}/${c.rkey}`) ?? c.value
    if (value === undefined) throw new Error(`internal: no verified value for ${c.collection}/${c.rkey}`)
    upserts.push({ collection: c.collection, rkey: c.rkey, cid: c.cid, value })
  }
  return { upserts, deletes }
}

/** What the host exchange concluded: a verified update to land, or a result with nothing to store. */
type Pulled =
  | { kind: 'apply'; update: RepoUpdate; ops: number; upserts: number; deletes: number }
  | Exclude<SyncResult, { kind: 'synced' }>

export async function syncRepo(ctx: SyncContext, space: string, repo: string): Promise<SyncResult> {
  const state = await ctx.store.getRepoState(space, repo)
  if (!state || state.rev === null || state.ltState === null)
    return { kind: 'needs_recovery', reason: 'no_local_state' }
  const since = state.rev
  const ltState = state.ltState
  const { pds } = await ctx.hosts.repoHost(repo)

  // The host lease covers the host exchange only; landing the verified update is store latency, and
  // holding a slot of the host's concurrency cap through it would throttle every other job for that host.
  const pulled = await withHost(ctx, space, pds, async (cred): Promise<Pulled> => {
    let lastReason = ''
    for (let attempt = 0; attempt < 2; attempt++) {
      let pulled: PulledOps
      try {
        pulled = await pullOps(ctx, cred, pds, space, repo, ltState, since)
      } catch (err) {
        // Ops that go backwards (a host ignoring `since`, a cursor replaying the log) are a divergence too.
        if (isProtocolError(err) && DIVERGENCE.has(err.reason)) {
          lastReason = err.reason
          continue
        }
        throw err
      }
      if (!pulled.commit) {
        if (pulled.applier.opCount === 0) return { kind: 'no_repo' }
        // Ops without a head commit cannot be verified: the last page came back short yet with a cursor
        // (ops missing from a full page). Like a hash mismatch this is a divergence — retried once, then
        // rebuilt from a verified CAR — not a failure to repeat until the host mends its oplog.
        lastReason = 'malformed_op'
        continue
      }
      await verifyAuthorCommit(ctx, space, repo, pulled.commit)
      let out
      try {
        out = pulled.applier.finish(pulled.commit)
      } catch (err) {
        if (isProtocolError(err) && DIVERGENCE.has(err.reason)) {
          lastReason = err.reason
          continue
        }
        throw err
      }
      if (out.changes.length === 0 && pulled.commit.rev === since) return { kind: 'unchanged', rev: since }

      const fetched = new Map<string, unknown>()
      for (const path of out.needValues) {
        const slash = path.indexOf('/')
        const collection = path.slice(0, slash)
        const rkey = path.slice(slash + 1)
        const rec = await ctx.client.getRecord(pds, cred, { space, repo, collection, rkey })
        const want = out.changes.find(
          (c) => c.kind === 'upsert' && c.collection === collection && c.rkey === rkey,
        )
        // The value must hash to the CID the verified ops name; a host that cannot produce it is lying.
        if (!want || want.kind !== 'upsert' || encodeRecordJson(rec.value).cid.toString() !== want.cid) {
          throw new ProtocolError(
            'record_cid_mismatch',
            `getRecord ${path} does not hash to the verified CID`,
          )
        }
        fetched.set(path, rec.value)
      }
      const { upserts, deletes } = toWrites(out.changes, fetched)
      return {
        kind: 'apply',
        update: {
          space,
          author: repo,
          rev: out.rev,
          ltState: out.state,
          commitHash: pulled.commit.hash,
          since,
          upserts,
          deletes,
        },
        ops: pulled.applier.opCount,
        upserts: upserts.length,
        deletes: deletes.length,
      }
    }
    ctx.metrics.verificationFailures.inc({ reason: lastReason as 'ops_hash_mismatch' })
    return { kind: 'needs_recovery', reason: lastReason }
  })
  if (pulled.kind !== 'apply') return pulled

  const res = await ctx.store.applyRepoUpdate(pulled.update)
  if (res.outcome === 'space_inactive') return { kind: 'space_inactive' }
  if (res.outcome === 'conflict') throw new Error('repo state changed while syncing; the job will retry')
  ctx.metrics.recordsVerified.inc(pulled.ops)
  return {
    kind: 'synced',
    rev: pulled.update.rev,
    ops: pulled.ops,
    upserts: pulled.upserts,
    deletes: pulled.deletes,
  }
}
