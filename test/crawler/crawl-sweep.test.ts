/**
 * Convergence without notifications: with devnet's dropNotifications fault on, only the periodic sweep
 * (SPACEVIEW_SWEEP_INTERVAL_SEC = 2 here) can bring spaceview up to date.
 *
 * - Notifications to spaceview dropped (the authority still hears its writers, so listRepos hints move):
 *   the next sweep sees the hints differ and pulls — converged within one sweep interval of the last write.
 * - Every notification dropped (writers → authority too, so hints lag): only the periodic full check (every
 *   12th sweep pulls every writer whatever its hint) can notice; converged within 12 sweep intervals.
 */
import { Queue } from 'bullmq'
import { converged, waitFor } from '../helpers/crawler-harness.js'
import { badRecords, metricValue } from '../helpers/crawl-checks.js'
import { writeMix } from '../helpers/devnet-writes.js'
import { crawlSpaces, startServiceHarness, type ServiceHarness } from '../helpers/service-harness.js'

const SWEEP_SEC = 2
/** Every n-th sweep pulls every writer (Crawler's default). */
const FULL_CHECK_EVERY = 12

describe('crawler: sweeps converge when notifications are lost', () => {
  let h: ServiceHarness
  let spaces: string[]

  beforeAll(async () => {
    h = await startServiceHarness({
      redisDb: 6,
      devnet: { spaces: 3, writersPerSpace: 4, records: 10, hosts: 2 },
      env: () => ({ SPACEVIEW_SWEEP_INTERVAL_SEC: String(SWEEP_SEC) }),
    })
    spaces = await crawlSpaces(h)
    await waitFor('backfill', () => converged(h, spaces), 60_000)
  }, 90_000)
  afterAll(async () => h?.close(), 30_000)
  afterEach(() => h.devnet.faults.clear())

  it('a scheduled sweep is retried like any job, and not kept once it has failed', async () => {
    const queue = new Queue('sweep', { connection: h.redis, prefix: 'sv' })
    try {
      const scheduler = await queue.getJobScheduler(`sweep:${spaces[0]!}`)
      expect(scheduler?.every).toBe(SWEEP_SEC * 1000)
      expect(scheduler?.template?.opts).toMatchObject({ attempts: 5, removeOnFail: true })
    } finally {
      await queue.close()
    }
  })

  it('notifications to spaceview dropped: converges within one sweep interval', async () => {
    // Drop what the authority's host sends (notifications to us), and write only as writers on other hosts,
    // whose notifications to the authority still arrive: the hints in listRepos move, ours do not.
    const space = spaces.find((s) => {
      const info = h.devnet.space(s)!
      return info.writers.some((d) => h.devnet.accounts.require(d).host !== info.host)
    })!
    expect(space).toBeDefined()
    const info = h.devnet.space(space)!
    const writers = info.writers.filter((d) => h.devnet.accounts.require(d).host !== info.host)
    h.devnet.faults.add({ kind: 'dropNotifications', host: info.host })
    const accepted = () => metricValue(h.metrics, 'notifications_received_total', { outcome: 'accepted' })
    const before = await accepted()
    const dropped = h.devnet.notifications.dropped

    await writeMix(h.devnet, space, { count: 15, writers, seed: 7 })
    await h.devnet.settle()
    const lastWrite = Date.now()
    expect(h.devnet.notifications.dropped).toBeGreaterThan(dropped)
    await waitFor('sweep convergence', () => converged(h, [space]), 30_000)
    const tookMs = Date.now() - lastWrite
    expect(await accepted()).toBe(before) // nothing arrived by notification
    expect(await badRecords(h.devnet, h.store, space)).toEqual([])
    // One interval for the sweep to come round, plus the sweep and the pull themselves.
    expect(tookMs).toBeLessThan(SWEEP_SEC * 1000 + 3000)
  }, 60_000)

  it('every notification dropped: converges at the periodic full check', async () => {
    h.devnet.faults.add({ kind: 'dropNotifications' })
    const space = spaces[0]!
    const dropped = h.devnet.notifications.dropped
    await writeMix(h.devnet, space, { count: 15, seed: 11 })
    await h.devnet.settle()
    const lastWrite = Date.now()
    expect(h.devnet.notifications.dropped).toBeGreaterThanOrEqual(dropped + 15)
    // The authority heard nothing, so listRepos still shows the old hints.
    const info = h.devnet.space(space)!
    const lagging = info.writers.filter((d) => {
      const head = h.devnet.repoHead(space, d)
      return head && h.devnet.writerHint(space, d)?.rev !== head.rev
    })
    expect(lagging.length).toBeGreaterThan(0)
    await waitFor(
      'full-check convergence',
      async () => {
        expect(await badRecords(h.devnet, h.store, space)).toEqual([])
        return converged(h, [space])
      },
      FULL_CHECK_EVERY * SWEEP_SEC * 1000 + 10_000,
    )
    expect(Date.now() - lastWrite).toBeLessThan(FULL_CHECK_EVERY * SWEEP_SEC * 1000 + 10_000)
  }, 60_000)
})
