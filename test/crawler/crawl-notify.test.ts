/**
 * Live sync through notifications: spaceview's API role receives devnet's notifyWrite over HTTP (service
 * auth checked) and pulls what changed. Sweeps are an hour apart here, so convergence after random
 * creates, updates, deletes and applyWrites batches can only come from the notify path — including writes
 * that land while their repo is being fetched whole (a hint must not be swallowed by the running fetch).
 */
import { converged, waitFor } from '../helpers/crawler-harness.js'
import { badRecords, metricValue } from '../helpers/crawl-checks.js'
import { crawlSpaces, startServiceHarness, type ServiceHarness } from '../helpers/service-harness.js'

describe('crawler: notifications drive live sync', () => {
  let h: ServiceHarness
  let spaces: string[]

  beforeAll(async () => {
    h = await startServiceHarness({
      redisDb: 5,
      devnet: { spaces: 6, writersPerSpace: 3, records: 10, hosts: 2 },
      env: () => ({ SPACEVIEW_SWEEP_INTERVAL_SEC: '3600' }),
    })
    // Two spaces are left for the test that crawls them while they are being written to.
    spaces = await crawlSpaces(
      h,
      h.devnet
        .spaces()
        .slice(0, 4)
        .map((s) => s.uri),
    )
    await waitFor('backfill', () => converged(h, spaces), 60_000)
  }, 90_000)
  afterAll(async () => h?.close(), 30_000)

  it('registers with every space host at bootstrap', () => {
    for (const space of spaces) {
      const info = h.devnet.space(space)!
      const hosted = h.devnet.hosts[info.host]!.spaceHost.get(space)!
      expect([...hosted.registrations.keys()]).toContain(h.serviceId)
    }
  })

  it('converges after random writes, updates and deletes, through notifyWrite alone', async () => {
    const before = await metricValue(h.metrics, 'notifications_received_total', {
      method: 'notify_write',
      outcome: 'accepted',
    })
    const driver = h.devnet.startWriteDriver({
      ratePerSec: 40,
      maxWrites: 120,
      updateFraction: 0.3,
      deleteFraction: 0.2,
      batchFraction: 0.15,
      seed: 'notify-test',
    })
    // While writes land, the view may lag but never holds anything devnet did not write.
    while (h.devnet.writeDrivers.includes(driver)) {
      for (const space of spaces) expect(await badRecords(h.devnet, h.store, space)).toEqual([])
      await new Promise((r) => setTimeout(r, 250))
    }
    await driver.done
    await h.devnet.settle()
    expect(driver.stats.succeeded).toBeGreaterThan(100)
    expect(driver.stats.updates + driver.stats.deletes).toBeGreaterThan(20)
    await waitFor('convergence after live writes', () => converged(h, spaces), 30_000)

    const accepted =
      (await metricValue(h.metrics, 'notifications_received_total', {
        method: 'notify_write',
        outcome: 'accepted',
      })) - before
    expect(accepted).toBeGreaterThan(0)
    expect(await metricValue(h.metrics, 'notifications_received_total', { outcome: 'rejected' })).toBe(0)
    expect(h.devnet.notifications.failed).toBe(0)
    // The notify → visible histogram only observes syncs that a notification caused.
    expect(await metricValue(h.metrics, 'sync_notify_to_visible_seconds')).toBeGreaterThan(0)
    // Every pull was timed (the hosts dashboard plots these), after waiting for a host slot.
    expect(
      await metricValue(h.metrics, 'host_request_duration_seconds', {
        method: 'com.atproto.space.listRepoOps',
        outcome: 'ok',
      }),
    ).toBeGreaterThan(0)
    expect(await metricValue(h.metrics, 'host_slot_wait_seconds', { outcome: 'leased' })).toBeGreaterThan(0)
  }, 60_000)

  it('converges when writes land while their repos are being backfilled', async () => {
    const late = h.devnet
      .spaces()
      .map((s) => s.uri)
      .filter((s) => !spaces.includes(s))
    // CARs trickle out slowly, so writes land between a CAR being cut and its records being merged: their
    // notifications arrive while the repo's recovery runs and must lead to one more pull after it.
    const slow = late.map((space) =>
      h.devnet.faults.add({
        kind: 'slowBody',
        space,
        chunkBytes: 128,
        intervalMs: 20,
        methods: ['com.atproto.space.getRepo'],
      }),
    )
    const driver = h.devnet.startWriteDriver({ ratePerSec: 20, maxWrites: 60, spaces: late, seed: 'during' })
    await crawlSpaces(h, late)
    await driver.done
    await h.devnet.settle()
    for (const id of slow) h.devnet.faults.remove(id)
    expect(driver.stats.succeeded).toBeGreaterThan(40)
    await waitFor('convergence of spaces written during their backfill', () => converged(h, late), 30_000)
    for (const space of late) expect(await badRecords(h.devnet, h.store, space)).toEqual([])
  }, 60_000)
})
