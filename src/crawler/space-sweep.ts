/**
 * Space sweep (and bootstrap, which is the first sweep): obtain the credential, page through listRepos
 * (the authority's writer set with unsigned (rev, hash) hints), and return the repos whose hint differs
 * from our verified state — the only ones worth a pull. Every `fullCheckEvery`-th sweep returns every
 * writer, because hints can lag behind a lost author → authority notification. This is what guarantees
 * convergence when notifications are lost.
 *
 * Bootstrap also records the space in the store, snapshots its policy for the ACL (getSpace), and
 * registers for notifications. The writer set is kept in Redis for `spaceview status`.
 */
import { bytesEqual, toHex } from '../protocol/bytes.js'
import type { SyncContext } from './sync-context.js'
import { withHost } from './host-call.js'

export interface SweepResult {
  writers: number
  /** Repos to pull (differing hints, or all of them on a full check). */
  stale: string[]
  registered?: Date
}

const writersKey = (space: string) => `sv:writers:${space}`
const sweepCountKey = (space: string) => `sv:sweeps:${space}`
const authorSpacesKey = (did: string) => `sv:author-spaces:${did}`

/** Spaces in which `did` is a known writer (for account and identity events). */
export async function spacesOfAuthor(ctx: Pick<SyncContext, 'redis'>, did: string): Promise<string[]> {
  return (await ctx.redis.smembers(authorSpacesKey(did))).sort()
}

export async function sweepSpace(
  ctx: SyncContext,
  space: string,
  opts: { bootstrap?: boolean; fullCheckEvery?: number } = {},
): Promise<SweepResult> {
  const cred = await ctx.creds.get(space)
  if (opts.bootstrap) await ctx.store.upsertSpace(space)
  const n = await ctx.redis.incr(sweepCountKey(space))
  const full = opts.bootstrap || (opts.fullCheckEvery !== undefined && n % opts.fullCheckEvery === 0)

  return withHost(ctx, space, cred.spaceHost, async (c) => {
    const stale: string[] = []
    const writers: Record<string, string> = {}
    for await (const page of ctx.client.listReposPages(c.spaceHost, c, { space, limit: ctx.pageLimit })) {
      for (const hint of page.repos) {
        writers[hint.did] = JSON.stringify({ rev: hint.rev, hash: toHex(hint.hash) })
        const local = await ctx.store.getRepoState(space, hint.did)
        const same =
          local?.rev === hint.rev && local.commitHash !== null && bytesEqual(local.commitHash, hint.hash)
        if (full || !same) stale.push(hint.did)
      }
    }
    const multi = ctx.redis.multi().del(writersKey(space))
    if (Object.keys(writers).length) multi.hset(writersKey(space), writers)
    for (const did of Object.keys(writers)) multi.sadd(authorSpacesKey(did), space)
    await multi.exec()
    const result: SweepResult = { writers: Object.keys(writers).length, stale }
    if (opts.bootstrap) {
      const config = await ctx.client.getSpace(c.spaceHost, c, { space }).catch(() => null)
      if (config)
        await ctx.store.setAccessSnapshot(space, {
          policy: config.policy,
          appAccess: config.appAccess,
          members: null,
        })
      if (ctx.serviceId) {
        const reg = await ctx.client.registerNotify(c.spaceHost, c, { space, service: ctx.serviceId })
        result.registered = reg.expiresAt
        ctx.metrics.notifyRegistrationRenewals.inc()
      }
    }
    return result
  })
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
