/**
 * Space sweep (and bootstrap, which is the first sweep): obtain the credential, page through listRepos
 * (the authority's writer set with unsigned (rev, hash) hints), and return the repos whose hint differs
 * from our verified state — the only ones worth a pull. Every `fullCheckEvery`-th sweep returns every
 * writer, because hints can lag behind a lost author → authority notification. This is what guarantees
 * convergence when notifications are lost.
 *
 * Bootstrap also records the space in the store, snapshots its policy for the ACL (getSpace), and
 * registers for notifications. The store groups the space records and snapshots of concurrent bootstraps
 * into shared inserts, so a bootstrap costs the store no write of its own; a bootstrap that started the
 * space's epoch reads no stored states (there are none). The writer set is kept in Redis for
 * `spaceview status`.
 */
import { bytesEqual, toHex } from '../protocol/bytes.js'
import type { RepoState } from '../merge/types.js'
import type { SyncContext } from './sync-context.js'
import { withHost } from './host-call.js'
import type { ListReposPage, SpaceConfig } from './space-responses.js'

export interface SweepResult {
  writers: number
  /** Repos to pull (differing hints, or all of them on a full check). */
  stale: string[]
  /** The subset of `stale` we hold no verified state for: a full fetch, not an incremental pull. */
  unsynced: string[]
  registered?: Date
}

/** Largest writer set a sweep accepts from a space host (listRepos pages beyond it are refused). */
export const MAX_WRITERS_PER_SPACE = 100_000

const writersKey = (space: string) => `sv:writers:${space}`
const sweepCountKey = (space: string) => `sv:sweeps:${space}`
const authorSpacesKey = (did: string) => `sv:author-spaces:${did}`

/** Spaces in which `did` is a known writer (for account and identity events). */
export async function spacesOfAuthor(ctx: Pick<SyncContext, 'redis'>, did: string): Promise<string[]> {
  return (await ctx.redis.smembers(authorSpacesKey(did))).sort()
}

/** Repo states read at once while comparing hints without a paged listing (remote store). */
const STATE_READS = 4
/** States per page of the listing: the store's largest page. */
const STATE_PAGE = 1000

/** `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  return out
}

/** What a sweep compares with a host's hint: our stored rev and commit hash of a repo. */
type StoredHead = Pick<RepoState, 'rev' | 'commitHash'>

/**
 * Our verified head of each of `dids` (absent: none stored). Known exactly to the in-process store, no read
 * at all (a backfill's spaces); else, with a paged listing, one walk over the space's states — a sweep costs
 * ⌈stored repos / 1000⌉ store reads, not one per writer; else one read per writer, a few at a time.
 */
async function storedHeads(
  ctx: SyncContext,
  space: string,
  dids: readonly string[],
): Promise<Map<string, StoredHead>> {
  const out = new Map<string, StoredHead>()
  if (dids.length === 0) return out
  const known = ctx.store.knownRepoHeads?.(space, dids)
  if (known !== undefined) {
    for (const [did, head] of known) if (head.rev !== null) out.set(did, head)
    return out
  }
  const list = ctx.store.listRepoStates?.bind(ctx.store)
  if (!list) {
    const states = await mapBounded(dids, STATE_READS, (did) => ctx.store.getRepoState(space, did))
    for (const s of states) if (s) out.set(s.author, s)
    return out
  }
  let cursor: string | undefined
  do {
    const page = await list(
      space,
      cursor === undefined ? { limit: STATE_PAGE } : { cursor, limit: STATE_PAGE },
    )
    for (const s of page.repos) out.set(s.author, s)
    cursor = page.cursor
  } while (cursor !== undefined)
  return out
}

interface HostAnswers {
  hints: ListReposPage['repos']
  config: SpaceConfig | null
  registered?: Date
}

export async function sweepSpace(
  ctx: SyncContext,
  space: string,
  opts: { bootstrap?: boolean; fullCheckEvery?: number } = {},
): Promise<SweepResult> {
  const cred = await ctx.creds.get(space)
  const n = await ctx.redis.incr(sweepCountKey(space))
  const full = opts.bootstrap || (opts.fullCheckEvery !== undefined && n % opts.fullCheckEvery === 0)

  // Recording the space (after the credential: a deleted space is not revived) waits for the store's write
  // lane, so it overlaps the host calls; both finish before any repo job is queued.
  const upserted = opts.bootstrap ? ctx.store.upsertSpace(space) : null
  // The host lease covers the host calls only: comparing with our state is store latency, and holding a
  // slot of the host's concurrency cap through it would throttle every other job for that host.
  const asked = withHost(ctx, space, cred.spaceHost, async (c): Promise<HostAnswers> => {
    const hints: ListReposPage['repos'] = []
    // A hostile space host can page forever with fresh cursors and full pages: the writer set is capped, so
    // one sweep costs bounded requests and memory (the job fails with page_limit and the space keeps its data).
    const maxPages = Math.ceil((ctx.maxWritersPerSpace ?? MAX_WRITERS_PER_SPACE) / ctx.pageLimit)
    for await (const page of ctx.client.listReposPages(c.spaceHost, c, {
      space,
      limit: ctx.pageLimit,
      maxPages,
    }))
      hints.push(...page.repos)
    if (!opts.bootstrap) return { hints, config: null }
    const config = await ctx.client.getSpace(c.spaceHost, c, { space }).catch(() => null)
    if (!ctx.serviceId) return { hints, config }
    const reg = await ctx.client.registerNotify(c.spaceHost, c, { space, service: ctx.serviceId })
    ctx.metrics.notifyRegistrationRenewals.inc()
    return { hints, config, registered: reg.expiresAt }
  })
  const [answers, recorded] = await Promise.all([asked, upserted])

  // The access snapshot (another wait for the write lane) overlaps the comparison with our state.
  const snapshot = answers.config
    ? ctx.store.setAccessSnapshot(space, {
        policy: answers.config.policy,
        appAccess: answers.config.appAccess,
        members: null,
      })
    : null
  // An epoch this bootstrap started holds no repo state: nothing to compare (a bootstrap pulls every writer
  // anyway; a state a racing sync stored since is kept unless the pulled repo is newer, repo-recovery.ts).
  const [states] = await Promise.all([
    recorded?.created === true
      ? new Map<string, StoredHead>()
      : storedHeads(
          ctx,
          space,
          answers.hints.map((h) => h.did),
        ),
    snapshot,
  ])
  const stale: string[] = []
  const unsynced: string[] = []
  const writers: Record<string, string> = {}
  for (const hint of answers.hints) {
    writers[hint.did] = JSON.stringify({ rev: hint.rev, hash: toHex(hint.hash) })
    const local = states.get(hint.did)
    const same =
      local?.rev === hint.rev && local.commitHash !== null && bytesEqual(local.commitHash, hint.hash)
    if (full || !same) stale.push(hint.did)
    // A stored rev comes with its LtHash state (listings leave the state out: record-reader.ts).
    if (!local?.rev) unsynced.push(hint.did)
  }
  const multi = ctx.redis.multi().del(writersKey(space))
  if (Object.keys(writers).length) multi.hset(writersKey(space), writers)
  for (const did of Object.keys(writers)) multi.sadd(authorSpacesKey(did), space)
  await multi.exec()
  const result: SweepResult = { writers: Object.keys(writers).length, stale, unsynced }
  if (answers.registered) result.registered = answers.registered
  return result
}

export async function renewNotify(ctx: SyncContext, space: string): Promise<Date | null> {
  if (!ctx.serviceId) return null
  const cred = await ctx.creds.get(space)
  return withHost(ctx, space, cred.spaceHost, async (c) => {
    const reg = await ctx.client.registerNotify(c.spaceHost, c, { space, service: ctx.serviceId })
    ctx.metrics.notifyRegistrationRenewals.inc()
    return reg.expiresAt
  })
}

/** Writers last seen in listRepos, with their hints (for status display). */
export async function knownWriters(
  ctx: Pick<SyncContext, 'redis'>,
  space: string,
): Promise<Record<string, { rev: string; hash: string }>> {
  const raw = await ctx.redis.hgetall(writersKey(space))
  return Object.fromEntries(
    Object.entries(raw).map(([k, v]) => [k, JSON.parse(v) as { rev: string; hash: string }]),
  )
}
