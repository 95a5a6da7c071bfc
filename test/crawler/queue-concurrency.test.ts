/**
 * Per-queue concurrency against real Redis and BullMQ: repo-sync runs as many jobs at once as its own
 * setting allows (a busy repo's job holds its slot for several pulls), not the general per-queue default.
 * The state read every sync starts with is held open, so the jobs in flight can be counted.
 */
import { Redis } from 'ioredis'
import { Crawler } from '../../src/crawler/crawler.js'
import type { SyncContext } from '../../src/crawler/sync-context.js'
import { createMetrics } from '../../src/metrics/metrics.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const redis = new Redis(url, { maxRetriesPerRequest: null })
const connection = new Redis(url, { maxRetriesPerRequest: null })
const prefix = `sv-test-qconc-${process.pid}-${Date.now()}`
const space = `at://did:plc:qconc${process.pid}${Date.now()}/space/com.example.test/main`

let inFlight = 0
let release!: () => void
const held = new Promise<void>((r) => (release = r))
// Only what a repo sync touches before its first host call; the state read waits until the test is done.
const ctx = {
  redis,
  metrics: createMetrics(),
  store: {
    getRepoState: async () => {
      inFlight++
      await held
      return null
    },
  },
} as unknown as SyncContext

const crawler = new Crawler(ctx, connection, {
  sweepIntervalSec: 3600,
  notifyRenewSec: 3600,
  prefix,
  work: ['repo-sync'],
  concurrency: 1,
  queueConcurrency: { 'repo-sync': 4 },
})

afterAll(async () => {
  release()
  await crawler.close()
  const keys = [...(await redis.keys(`${prefix}:*`)), ...(await redis.keys(`sv:dirty:${space}|*`))]
  if (keys.length) await redis.del(...keys)
  redis.disconnect()
  connection.disconnect()
})

test('repo-sync takes its own concurrency, not the per-queue default', async () => {
  crawler.start()
  for (let i = 0; i < 6; i++) await crawler.enqueueSync(space, `did:plc:repo${i}`, 'sweep')
  const deadline = Date.now() + 10_000
  while (inFlight < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  await new Promise((r) => setTimeout(r, 300)) // room for a fifth, which must not start
  expect(inFlight).toBe(4)
  expect(await crawler.queues['repo-sync'].getActiveCount()).toBe(4)
})
