/**
 * Crawler.hint against real Redis: a notification's hint marks its repo dirty and adds a sync job only when
 * no fresh mark vouches for one already; the mark keeps the first hint's time (the notify → visible lag is
 * measured from it); a stale mark, or one left by a sweep, no longer vouches and the hint adds the job.
 */
import { Redis } from 'ioredis'
import { Crawler } from '../../src/crawler/crawler.js'
import type { SyncContext } from '../../src/crawler/sync-context.js'
import type { RepoJob } from '../../src/crawler/queues.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const redis = new Redis(url, { maxRetriesPerRequest: null })
const connection = new Redis(url, { maxRetriesPerRequest: null })
const prefix = `sv-test-hints-${process.pid}-${Date.now()}`
const space = `at://did:plc:hints${process.pid}${Date.now()}/space/com.example.test/main`
// Only the queues and the shared connection are used by hint(): no worker runs in this test.
const crawler = new Crawler({ redis } as unknown as SyncContext, connection, {
  sweepIntervalSec: 3600,
  notifyRenewSec: 3600,
  prefix,
})

afterAll(async () => {
  await crawler.close()
  const keys = [...(await redis.keys(`${prefix}:*`)), ...(await redis.keys(`sv:dirty:${space}|*`))]
  if (keys.length) await redis.del(...keys)
  redis.disconnect()
  connection.disconnect()
})

const syncJobs = async () =>
  (await crawler.queues['repo-sync'].getJobs(['waiting'])).map((j) => j.data as RepoJob)
const mark = (repo: string) => redis.get(`sv:dirty:${space}|${repo}`)

test('one job per repo while its mark is fresh; the mark keeps the first hint time', async () => {
  const t0 = Date.now()
  await Promise.all([
    crawler.hint(space, 'did:plc:a', t0 + 5),
    crawler.hint(space, 'did:plc:a', t0),
    crawler.hint(space, 'did:plc:b', t0 + 1),
  ])
  await crawler.hint(space, 'did:plc:a', t0 + 2000) // fresh mark: no second add, mark unchanged
  const jobs = await syncJobs()
  expect(jobs.map((j) => [j.repo, j.cause, j.hintAt]).sort()).toEqual([
    ['did:plc:a', 'notify', t0],
    ['did:plc:b', 'notify', t0 + 1],
  ])
  expect(await mark('did:plc:a')).toBe(String(t0))
})

test('a stale mark no longer vouches: the hint adds the job again and renews the mark', async () => {
  const t0 = Date.now()
  await crawler.hint(space, 'did:plc:c', t0)
  const [job] = (await crawler.queues['repo-sync'].getJobs(['waiting'])).filter(
    (j) => (j.data as RepoJob).repo === 'did:plc:c',
  )
  // The job is lost (a crashed process, a dead letter) while its mark lives on.
  await job!.remove()
  await crawler.hint(space, 'did:plc:c', t0 + 1000)
  expect((await syncJobs()).filter((j) => j.repo === 'did:plc:c')).toEqual([])
  await crawler.hint(space, 'did:plc:c', t0 + 60_000)
  expect((await syncJobs()).filter((j) => j.repo === 'did:plc:c')).toEqual([
    { space, repo: 'did:plc:c', cause: 'notify', hintAt: t0 + 60_000 },
  ])
  expect(await mark('did:plc:c')).toBe(String(t0 + 60_000))
})

test('a mark left by a sweep carries no hint time and does not vouch for a hint', async () => {
  await crawler.enqueueSync(space, 'did:plc:d', 'sweep')
  expect(await mark('did:plc:d')).toBe('0')
  const t = Date.now()
  await crawler.hint(space, 'did:plc:d', t)
  expect(await mark('did:plc:d')).toBe(String(t))
  // Still one job (the add deduplicates against the sweep's waiting job).
  expect((await syncJobs()).filter((j) => j.repo === 'did:plc:d')).toHaveLength(1)
})
