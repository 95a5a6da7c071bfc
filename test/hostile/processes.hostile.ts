// Process faults against a multi-process deployment: a store-owner process (API + embedded store), crawler
// worker processes writing through it, and a redis-server of this suite's own. Workers are SIGKILLed
// mid-job, Redis is killed mid-backfill and restarted from its last snapshot, the store process is killed
// mid-batch and restarted on the same data, and workers run with clocks skewed at and beyond the DPoP
// window. After each, every repo must reach its host's head; at the end the whole merged view must equal
// ground truth, record by record.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { loadConfig } from '../../src/config.js'
import { startService as startInProcess, type Service } from '../../workers/service.js'
import { MergeStore } from '../../src/merge/store.js'
import { bytesEqual } from '../../src/protocol/bytes.js'
import { QUEUE_NAMES } from '../../src/crawler/queues.js'
import { counter, freePort, scrape, startRedis, startService, type Proc } from './lib/procs.js'
import { lostAndForged, waitFor } from './lib/rig.js'
import { tally } from './lib/tally.js'

const SKEWS: Array<[string, number]> = [
  ['+4.5 s (inside the 5 s future tolerance)', 4_500],
  ['-64 s (inside the 65 s age window)', -64_000],
  ['+30 s (beyond: retried on the host clock)', 30_000],
  ['-120 s (beyond: retried on the host clock)', -120_000],
]

let devnet: Devnet
let dir: string
let redisPort: number
let redis: Proc
let store: Proc
let worker: Proc | undefined
let control: Service
let env: Record<string, string>
let spaces: string[]
let workerMetricsPort: number
let queueRedis: Redis

async function spawnWorker(skewMs = 0): Promise<Proc> {
  workerMetricsPort = await freePort()
  return startService('worker', {
    ...env,
    METRICS_PORT: String(workerMetricsPort),
    HOSTILE_SKEW_MS: String(skewMs),
  })
}

async function addSpace(space: string): Promise<void> {
  await control.ctx.sessions.addSpace(space, {
    did: devnet.indexer.did,
    accessToken: devnet.indexer.accessToken,
  })
  await control.crawler.addSpace(space)
}

/** Every listed writer's verified state equals its host's head (rev and hash). */
async function atHead(list: string[]): Promise<boolean> {
  for (const space of list) {
    for (const did of devnet.space(space)?.writers ?? []) {
      const head = devnet.repoHead(space, did)
      if (!head) continue
      const state = await control.store.getRepoState(space, did).catch(() => null)
      if (state?.rev !== head.rev || !state.commitHash || !bytesEqual(state.commitHash, head.hash))
        return false
    }
  }
  return true
}

/** Jobs BullMQ found stalled (their worker died holding them) since the start, from the queue event streams. */
async function stalledEvents(): Promise<number> {
  let n = 0
  for (const q of QUEUE_NAMES) {
    const events = (await queueRedis.xrange(`sv:${q}:events`, '-', '+').catch(() => [])) as Array<
      [string, string[]]
    >
    n += events.filter(([, fields]) => fields[1] === 'stalled').length
  }
  return n
}

async function activeJobs(): Promise<number> {
  let n = 0
  for (const q of Object.values(control.crawler.queues)) n += await q.getActiveCount().catch(() => 0)
  return n
}

beforeAll(async () => {
  devnet = await startDevnet({
    seed: 'hostile-processes',
    spaces: 5 + SKEWS.length,
    writersPerSpace: 3,
    records: 40,
    hosts: 2,
  })
  spaces = devnet.spaces().map((s) => s.uri)
  dir = mkdtempSync(join(tmpdir(), 'spaceview-hostile-procs-'))
  redisPort = await freePort()
  redis = await startRedis(redisPort, dir)
  const apiPort = await freePort()
  // Our service identity: hosts deliver notifyWrite to the store process's API.
  const { did: serviceDid } = devnet.publishSyncer(`http://127.0.0.1:${apiPort}`, 'spaceview-hostile')
  env = {
    SPACEVIEW_SERVICE_DID: serviceDid,
    REDIS_URL: `redis://127.0.0.1:${redisPort}/15`,
    SPACEVIEW_DATA_DIR: join(dir, 'data'),
    SPACEVIEW_PLC_URL: devnet.plcUrl,
    SPACEVIEW_ALLOW_PRIVATE_ADDRESSES: 'true',
    SPACEVIEW_SECRETS_KEY: '22'.repeat(32), // test key
    SPACEVIEW_CLIENT_ID: devnet.clients.indexer.clientId,
    SPACEVIEW_CLIENT_KEY: JSON.stringify(devnet.clients.indexer.privateJwk), // devnet test key
    SPACEVIEW_API_PORT: String(apiPort),
    SPACEVIEW_STORE_URL: `http://127.0.0.1:${apiPort}`,
    SPACEVIEW_SWEEP_INTERVAL_SEC: '3',
    SPACEVIEW_JOB_ATTEMPTS: '4',
    SPACEVIEW_WORKER_CONCURRENCY: '4',
    LOG_LEVEL: 'silent',
  }
  store = await startService('store', { ...env, METRICS_PORT: String(await freePort()) })
  // The operator's side (add-space): enqueues and reads the store through the RPC; works on no queue.
  control = await startInProcess(loadConfig(env), { api: false, queues: [], metrics: false })
  // Redis is killed on purpose below: its connection errors are expected, not news for the test log.
  for (const q of Object.values(control.crawler.queues)) q.on('error', () => undefined)
  queueRedis = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null })
  queueRedis.on('error', () => undefined)
}, 180_000)

afterAll(async () => {
  await worker?.kill()
  await control?.close()
  queueRedis?.disconnect()
  await store?.kill()
  await redis?.kill()
  await devnet?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

it('worker killed mid-job repeatedly', async () => {
  const mine = spaces.slice(0, 3)
  worker = await spawnWorker()
  for (const s of mine) await addSpace(s)
  let kills = 0
  let inFlight = 0
  for (let i = 0; i < 3; i++) {
    let active = 0
    await waitFor('a job in flight', async () => (active = await activeJobs()) > 0, 60_000, 20).catch(
      () => undefined,
    )
    await worker.kill('SIGKILL')
    kills++
    inFlight += active
    worker = await spawnWorker()
  }
  // BullMQ hands a dead worker's jobs to another after the lock lapses (30 s), so this takes a minute.
  await waitFor('repos at head after the kills', () => atHead(mine), 240_000, 1_000)
  const stalled = await stalledEvents()
  const metrics = await scrape(workerMetricsPort)
  const evidence = `kills=${kills} jobs_in_flight_at_kill=${inFlight} stalled_events=${stalled} job_retries=${counter(metrics, 'spaceview_job_retries_total')}`
  tally({ kind: 'fault', name: 'worker SIGKILLed mid-job (x3)', injected: kills, survived: true, evidence })
  // The kills hit work in progress (otherwise this scenario would prove nothing).
  expect(inFlight).toBeGreaterThanOrEqual(1)
}, 300_000)

it('Redis killed mid-backfill and restarted from its last snapshot', async () => {
  const mine = [spaces[3]!]
  await addSpace(mine[0]!)
  await waitFor('a job in flight', async () => (await activeJobs()) > 0, 60_000, 20).catch(() => undefined)
  await queueRedis.save()
  await redis.kill('SIGKILL')
  await sleep(1_500)
  redis = await startRedis(redisPort, dir)
  await waitFor('repos at head after the Redis restart', () => atHead(mine), 240_000, 1_000)
  const metrics = await scrape(workerMetricsPort)
  tally({
    kind: 'fault',
    name: 'Redis SIGKILLed mid-backfill, restarted from snapshot',
    injected: 1,
    survived: true,
    evidence: `stalled_events=${await stalledEvents()} job_retries=${counter(metrics, 'spaceview_job_retries_total')}`,
  })
}, 300_000)

it('store process killed mid-batch and restarted on the same data', async () => {
  const mine = [spaces[4]!]
  await addSpace(mine[0]!)
  await waitFor(
    'a recovery in flight',
    async () => (await control.crawler.queues['repo-recovery'].getActiveCount().catch(() => 0)) > 0,
    60_000,
    20,
  ).catch(() => undefined)
  await store.kill('SIGKILL')
  await sleep(1_500)
  store = await startService('store', { ...env, METRICS_PORT: String(await freePort()) })
  await waitFor('repos at head after the store restart', () => atHead(mine), 240_000, 1_000)
  const metrics = await scrape(workerMetricsPort)
  const retries = counter(metrics, 'spaceview_job_retries_total')
  tally({
    kind: 'fault',
    name: 'store process SIGKILLed mid-batch, restarted',
    injected: 1,
    survived: true,
    evidence: `job_retries=${retries} repo_syncs_failed=${counter(metrics, 'spaceview_repo_syncs_total', { outcome: 'failed' })}`,
  })
}, 300_000)

describe('clock skew of the crawler at and beyond the DPoP window', () => {
  it.each(SKEWS.map(([name, ms], i) => [name, ms, i] as const))(
    '%s',
    async (name, ms, i) => {
      await worker?.kill('SIGTERM')
      worker = await spawnWorker(ms)
      const mine = [spaces[5 + i]!]
      await addSpace(mine[0]!)
      await waitFor(`repos at head with the clock off by ${ms} ms`, () => atHead(mine), 120_000, 500)
      const metrics = await scrape(workerMetricsPort)
      const hostErrors = counter(metrics, 'spaceview_host_errors_total')
      tally({
        kind: 'fault',
        name: `crawler clock skew ${name}`,
        injected: 1,
        survived: true,
        evidence: `host_errors=${hostErrors}`,
      })
      // DPoP refusals are retried inside one call with the host's clock: they never surface as failures.
      expect(hostErrors).toBe(0)
    },
    180_000,
  )
})

it('the merged view equals ground truth, record by record, after all of it', async () => {
  await worker?.kill('SIGTERM')
  worker = undefined
  await store.kill('SIGTERM')
  const merged = await MergeStore.open({
    clickhouse: {
      transport: 'embedded',
      path: join(env.SPACEVIEW_DATA_DIR!, 'clickhouse'),
      database: 'spaceview',
    },
    batch: { maxRows: 1000, maxDelayMs: 5 },
    readStrategy: 'final',
  })
  try {
    const { lost, forged } = await lostAndForged(merged, devnet, spaces)
    tally({ kind: 'records_lost', name: 'process faults', count: lost })
    tally({ kind: 'forged_accepted', name: 'process faults', count: forged })
    expect({ lost, forged }).toEqual({ lost: 0, forged: 0 })
  } finally {
    await merged.close()
  }
}, 120_000)
