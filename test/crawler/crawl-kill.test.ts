/**
 * A worker process SIGKILLed in the middle of a backfill loses nothing and doubles nothing.
 *
 * The store owner (API role, embedded store, store RPC) runs in this test process; the crawling is done by
 * `spaceview worker` child processes (the production entry, run from source) that write through the store
 * RPC. The first worker is killed while jobs are active and the view is partly merged; a second worker
 * takes over (BullMQ hands it the dead worker's stalled jobs, the sweep re-checks the rest) and the final
 * view must equal devnet's ground truth exactly, with no record twice.
 */
import type { Queue } from 'bullmq'
import { converged, mergedView, truth, waitFor } from '../helpers/crawler-harness.js'
import { crawlSpaces, startServiceHarness, type ServiceHarness } from '../helpers/service-harness.js'
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js'

describe('crawler: a worker killed mid-backfill', () => {
  let h: ServiceHarness
  let spaces: string[]
  const workers: WorkerProcess[] = []

  beforeAll(async () => {
    h = await startServiceHarness({
      redisDb: 8,
      queues: [], // this process only owns the store and enqueues; the children crawl
      devnet: { spaces: 4, writersPerSpace: 6, records: 150, hosts: 2 },
      env: () => ({ SPACEVIEW_SWEEP_INTERVAL_SEC: '5' }),
    })
    spaces = h.devnet.spaces().map((s) => s.uri)
  }, 60_000)
  afterAll(async () => {
    for (const w of workers) await w.kill()
    await h?.close()
  }, 30_000)

  const merged = async () => {
    let n = 0
    for (const s of spaces) n += await h.store.countRecords(s)
    return n
  }
  const activeJobs = async (q: Queue) => (await q.getJobCounts('active')).active ?? 0

  it('nothing lost, nothing doubled', async () => {
    const total = spaces.reduce((n, s) => n + truth(h.devnet, s).length, 0)
    // Slow getRepo down so that the kill lands while downloads and verifications are in flight.
    const slow = h.devnet.faults.add({ kind: 'latency', ms: 400, methods: ['com.atproto.space.getRepo'] })
    const first = await startWorkerProcess(h.workerEnv)
    workers.push(first)
    await crawlSpaces(h, spaces)

    let atKill = 0
    let inFlight = 0
    await waitFor(
      'a partly merged backfill with jobs in flight',
      async () => {
        atKill = await merged()
        inFlight = await activeJobs(h.service.crawler.queues['repo-recovery'])
        return atKill > 0 && inFlight > 0
      },
      60_000,
      100,
    )
    await first.kill('SIGKILL')
    expect(atKill).toBeLessThan(total)
    h.devnet.faults.remove(slow)

    // What the dead worker left behind is a consistent, partial view: every record once, none invented.
    for (const space of spaces) {
      const view = await mergedView(h.store, space)
      expect(new Set(view.map((r) => r.uri)).size).toBe(view.length)
      const genuine = new Set(truth(h.devnet, space).map((r) => `${r.uri} ${r.cid}`))
      for (const r of view) expect(genuine.has(`${r.uri} ${r.cid}`)).toBe(true)
    }

    const second = await startWorkerProcess(h.workerEnv)
    workers.push(second)
    await waitFor('convergence after the kill', () => converged(h, spaces), 150_000, 1000)
    let count = 0
    for (const space of spaces) {
      const view = await mergedView(h.store, space)
      expect(new Set(view.map((r) => r.uri)).size).toBe(view.length)
      count += view.length
    }
    expect(count).toBe(total)
    expect(await merged()).toBe(total)
  }, 240_000)
})
