/**
 * Account, identity and space lifecycle, end to end: devnet's relay stream (#account, #identity) feeds
 * spaceview's firehose consumer (SPACEVIEW_FIREHOSE_URLS), and devnet's notifySpaceDeleted arrives at the
 * API role over HTTP with service auth.
 *
 * Sweeps are an hour apart and nothing is written unless a test says so, so what changes in the merged view
 * comes from the path under test, not from a periodic re-check.
 */
import { createServiceAuth } from '../../src/protocol/service-auth.js'
import { converged, mergedView, truth, waitFor } from '../helpers/crawler-harness.js'
import { badRecords, metricValue } from '../helpers/crawl-checks.js'
import { writeMix } from '../helpers/devnet-writes.js'
import { crawlSpaces, startServiceHarness, type ServiceHarness } from '../helpers/service-harness.js'

const NOTIFY_SPACE_DELETED = 'com.atproto.space.notifySpaceDeleted'
/** IdentityResolver's minimum interval between two lookups of one DID, plus a margin. */
const IDENTITY_REFRESH_MS = 11_000

describe('crawler: account status, key rotation and space deletion', () => {
  let h: ServiceHarness
  let spaces: string[]
  /** When the backfill (which resolved every writer's DID document) finished. */
  let backfilledAt: number

  beforeAll(async () => {
    h = await startServiceHarness({
      redisDb: 9,
      devnet: { spaces: 4, writersPerSpace: 3, records: 10, hosts: 2 },
      env: (devnet) => ({ SPACEVIEW_FIREHOSE_URLS: devnet.relayUrl, SPACEVIEW_SWEEP_INTERVAL_SEC: '3600' }),
    })
    spaces = await crawlSpaces(h)
    await waitFor('backfill', () => converged(h, spaces), 60_000)
    backfilledAt = Date.now()
  }, 90_000)
  afterAll(async () => h?.close(), 30_000)

  /** The authority deletes the space at its host (devnet then notifies, unless a fault drops it). */
  const deleteAtAuthority = async (space: string): Promise<void> => {
    const authority = h.devnet.accounts.require(h.devnet.space(space)!.authority)
    const res = await fetch(
      `${h.devnet.hostOf(authority.did).origin}/xrpc/com.atproto.simplespace.deleteSpace`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${authority.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ space }),
      },
    )
    expect(res.ok).toBe(true)
    await res.body?.cancel()
    await h.devnet.settle()
  }

  /** A writer (not an authority) of `space` with records, and every space it writes in. */
  function writerOf(space: string): { did: string; spaces: string[] } {
    const info = h.devnet.space(space)!
    const authorities = new Set(h.devnet.spaces().map((s) => s.authority))
    const did = info.writers.find(
      (d) => !authorities.has(d) && (h.devnet.repo(space, d)?.paths().length ?? 0) > 0,
    )!
    return { did, spaces: spaces.filter((s) => h.devnet.space(s)?.writers.includes(did)) }
  }

  async function authorRecords(space: string, did: string): Promise<number> {
    return (await mergedView(h.store, space)).filter((r) => r.uri.includes(`/${did}/`)).length
  }

  it('hides a deactivated author everywhere and shows them again on reactivation (#account)', async () => {
    const { did, spaces: theirs } = writerOf(spaces[0]!)
    expect(await authorRecords(spaces[0]!, did)).toBeGreaterThan(0)

    // The consumer subscribes without a cursor, so an event sent before it connected is gone: re-send the
    // (idempotent) status until it lands.
    h.devnet.setAccountStatus(did, 'deactivated')
    await waitFor('author hidden', async () => {
      for (const s of theirs)
        if ((await authorRecords(s, did)) > 0) {
          h.devnet.setAccountStatus(did, 'deactivated')
          return false
        }
      return true
    })
    // Ground truth without the inactive author: everyone else is still there, untouched.
    expect(await converged(h, spaces)).toBe(true)
    expect((await h.store.getRepoState(spaces[0]!, did))?.hidden).toBe(true)

    h.devnet.setAccountStatus(did, 'active')
    await waitFor('author shown again', () => converged(h, spaces), 30_000)
    for (const s of theirs) expect(await authorRecords(s, did)).toBe(h.devnet.repo(s, did)!.paths().length)
  }, 90_000)

  it('verifies commits signed with a rotated key, announced by #identity', async () => {
    const space = spaces[1]!
    const { did } = writerOf(space)
    const failures = () => metricValue(h.metrics, 'verification_failures_total', { reason: 'bad_signature' })
    const retries = () => metricValue(h.metrics, 'job_retries_total', { queue: 'repo-sync' })
    const [failedBefore, retriedBefore] = [await failures(), await retries()]
    // spaceview re-resolves a DID at most once per 10 s (a hostile host must not cause a storm of lookups),
    // and an #identity event is a re-resolution too: rotate once the backfill's lookups are that old.
    await new Promise((r) => setTimeout(r, Math.max(0, backfilledAt + IDENTITY_REFRESH_MS - Date.now())))
    const newKey = await h.devnet.rotateKey(did)
    // Nothing else re-resolves this DID here (no sweeps, no writes yet): only the #identity event can put
    // the new key in spaceview's cache.
    await waitFor(
      '#identity applied',
      async () => (await h.service.ctx.identity.resolve(did)).signingKey() === newKey,
    )
    await writeMix(h.devnet, space, { count: 6, writers: [did], seed: 3 })
    await h.devnet.settle()
    await waitFor('writes under the new key merged', () => converged(h, [space]), 30_000)
    const state = await h.store.getRepoState(space, did)
    expect(state?.status).toBe('active')
    expect(state?.rev).toBe(h.devnet.repoHead(space, did)!.rev)
    // Verified at the first try: the key was current before the first commit signed with it arrived.
    expect(await failures()).toBe(failedBefore)
    expect(await retries()).toBe(retriedBefore)
  }, 60_000)

  it('verifies commits signed with a rotated key when the #identity event was missed', async () => {
    const space = spaces[2]!
    const { did } = writerOf(space)
    // Rotate at the account registry only: no #identity event; the cached key is now wrong.
    await h.devnet.accounts.rotateKey(h.devnet.accounts.require(did))
    await writeMix(h.devnet, space, { count: 6, writers: [did], seed: 4 })
    await h.devnet.settle()
    await waitFor('writes under the new key merged', () => converged(h, [space]), 30_000)
    expect((await h.store.getRepoState(space, did))?.status).toBe('active')
  }, 60_000)

  it('refuses a notifySpaceDeleted not signed by the authority and deletes nothing', async () => {
    const space = spaces[3]!
    const impostor = h.devnet.space(space)!.writers.find((d) => d !== h.devnet.space(space)!.authority)!
    const jwt = await createServiceAuth({
      keypair: await h.devnet.accounts.keypair(h.devnet.accounts.require(impostor)), // devnet TEST key
      iss: impostor,
      aud: h.serviceId,
      lxm: NOTIFY_SPACE_DELETED,
    })
    const res = await fetch(`${h.service.api!.url}/xrpc/${NOTIFY_SPACE_DELETED}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      body: JSON.stringify({ space }),
    })
    expect(res.status).toBe(401)
    await res.body?.cancel()
    expect((await h.store.getSpace(space))?.status).toBe('active')
    expect(await converged(h, spaces)).toBe(true)
  })

  it('drops a space on a verified notifySpaceDeleted, and nothing else', async () => {
    const space = spaces[3]!
    const others = spaces.filter((s) => s !== space)
    const before = new Map<string, number>()
    for (const s of others) before.set(s, (await mergedView(h.store, s)).length)
    expect((await mergedView(h.store, space)).length).toBeGreaterThan(0)
    const accepted = await metricValue(h.metrics, 'notifications_received_total', {
      method: 'notify_space_deleted',
      outcome: 'accepted',
    })

    await deleteAtAuthority(space)

    await waitFor(
      'space tombstoned',
      async () => (await h.store.getSpace(space))?.status === 'deleted',
      15_000,
    )
    expect(await mergedView(h.store, space)).toEqual([])
    expect(
      await metricValue(h.metrics, 'notifications_received_total', {
        method: 'notify_space_deleted',
        outcome: 'accepted',
      }),
    ).toBe(accepted + 1)
    // Every other space keeps every record, including the deleted space's authority's records elsewhere.
    for (const s of others) {
      expect((await mergedView(h.store, s)).length).toBe(before.get(s))
      expect(await badRecords(h.devnet, h.store, s)).toEqual([])
    }
    expect(await converged(h, others)).toBe(true)
    expect(truth(h.devnet, space)).toEqual([])
  }, 60_000)

  it('drops a space whose notification was lost once renewal answers SpaceDeleted', async () => {
    const space = spaces[2]!
    expect((await mergedView(h.store, space)).length).toBeGreaterThan(0)
    // The authority's notification never arrives.
    const fault = h.devnet.faults.add({ kind: 'dropNotifications', space, methods: [NOTIFY_SPACE_DELETED] })
    await deleteAtAuthority(space)
    h.devnet.faults.remove(fault)
    expect((await h.store.getSpace(space))?.status).toBe('active')

    // The credential's renewal (forced here instead of waiting 80% of its lifetime) is answered SpaceDeleted.
    await h.service.ctx.creds.invalidate(space)
    await h.service.crawler.queues.sweep.add('sweep', { space })
    await waitFor(
      'space tombstoned',
      async () => (await h.store.getSpace(space))?.status === 'deleted',
      20_000,
    )
    expect(await mergedView(h.store, space)).toEqual([])
    expect(await converged(h, [spaces[0]!, spaces[1]!])).toBe(true)
  }, 60_000)
})
