/**
 * Test harness for spaceview as production composes it: a devnet, and the API role started with
 * `startService` (owner of the embedded store, notifyWrite / notifySpaceDeleted receivers, store RPC for
 * worker processes), with crawler workers in the same process unless `queues` says otherwise.
 *
 * The syncer's DID is published in devnet pointing at the API's real URL and configured as our service id,
 * so bootstrap registers with registerNotify and devnet delivers notifications over HTTP with service auth:
 * the notify path under test is the production one, not a call into the handler.
 *
 * `workerEnv` is the environment a separate `spaceview worker` process needs to join this deployment
 * (same Redis database, same secrets key, store RPC at the API's URL).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pino from 'pino'
import { startDevnet, type Devnet, type DevnetOptions } from '../../src/devnet/devnet.js'
import type { MergeStore } from '../../src/merge/store.js'
import { loadConfig, type Config } from '../../src/config.js'
import type { Metrics } from '../../src/metrics/metrics.js'
import { QUEUE_NAMES, type QueueName } from '../../src/crawler/queues.js'
import { startService, type Service } from '../../workers/service.js'

export const ALL_QUEUES: QueueName[] = QUEUE_NAMES.filter((q) => q !== 'dead-letter')

/** The syncer's label in devnet's DID directory (its DID is derived from the devnet seed and this). */
const SYNCER_LABEL = 'spaceview-under-test'

export interface ServiceHarness {
  devnet: Devnet
  service: Service
  /** The store the API role owns (the merged view the tests compare with ground truth). */
  store: MergeStore
  /** A connection of the test's own to the harness's Redis database, for inspection. */
  redis: Redis
  config: Config
  metrics: Metrics
  /** Our notification service id (`did#atproto_space_syncer`), registered with every space. */
  serviceId: string
  /** Environment for a `spaceview worker` child process joining this deployment. */
  workerEnv: Record<string, string>
  dataDir: string
  close(): Promise<void>
}

export interface ServiceHarnessOptions {
  /** Redis database of this test file (crawler test files run in parallel, each on its own). */
  redisDb: number
  devnet?: DevnetOptions
  /** Queues worked on in the test process (default: all; [] for an API-only store owner). */
  queues?: QueueName[]
  /** Extra configuration (e.g. SPACEVIEW_SWEEP_INTERVAL_SEC, SPACEVIEW_FIREHOSE_URLS). */
  env?: (devnet: Devnet) => Record<string, string>
}

export async function startServiceHarness(opts: ServiceHarnessOptions): Promise<ServiceHarness> {
  const devnet = await startDevnet({ seed: `svc-test-${opts.redisDb}`, ...opts.devnet })
  const dataDir = mkdtempSync(join(tmpdir(), 'spaceview-svc-'))
  const redisUrl = `${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'}/${opts.redisDb}`
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null })
  await redis.flushdb()
  // The DID does not depend on the endpoint: publish now for the config, again once the API has a port.
  const { did } = devnet.publishSyncer('http://127.0.0.1:9', SYNCER_LABEL)
  const env: Record<string, string> = {
    REDIS_URL: redisUrl,
    SPACEVIEW_DATA_DIR: dataDir,
    SPACEVIEW_PLC_URL: devnet.plcUrl,
    SPACEVIEW_ALLOW_PRIVATE_ADDRESSES: 'true',
    SPACEVIEW_SECRETS_KEY: '22'.repeat(32), // test key
    SPACEVIEW_CLIENT_ID: devnet.clients.indexer.clientId,
    SPACEVIEW_CLIENT_KEY: JSON.stringify(devnet.clients.indexer.privateJwk), // devnet test key
    SPACEVIEW_SERVICE_DID: did,
    SPACEVIEW_API_PORT: '0',
    LOG_LEVEL: 'silent',
    ...opts.env?.(devnet),
  }
  const config = loadConfig(env)
  let service: Service
  try {
    service = await startService(config, {
      api: true,
      queues: opts.queues ?? ALL_QUEUES,
      // SPACEVIEW_TEST_LOG_LEVEL=info (or debug) shows the crawler's logs when a test needs explaining.
      logger: pino({ level: process.env.SPACEVIEW_TEST_LOG_LEVEL ?? 'silent' }),
      metrics: false,
    })
  } catch (err) {
    redis.disconnect()
    await devnet.close()
    rmSync(dataDir, { recursive: true, force: true })
    throw err
  }
  const apiUrl = service.api!.url
  const { serviceId } = devnet.publishSyncer(apiUrl, SYNCER_LABEL)
  return {
    devnet,
    service,
    store: service.mergeStore!,
    redis,
    config,
    metrics: service.ctx.metrics,
    serviceId,
    workerEnv: { ...env, SPACEVIEW_STORE_URL: apiUrl },
    dataDir,
    async close() {
      // Devnet first: its write drivers and notifications stop before the receiver goes away.
      await devnet.close()
      await service.close()
      await redis.flushdb()
      redis.disconnect()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Authorises the indexer account for the given spaces (default: every devnet space) and crawls them. */
export async function crawlSpaces(h: ServiceHarness, only?: string[]): Promise<string[]> {
  const spaces = only ?? h.devnet.spaces().map((s) => s.uri)
  for (const space of spaces) {
    await h.service.ctx.sessions.addSpace(space, {
      did: h.devnet.indexer.did,
      accessToken: h.devnet.indexer.accessToken,
    })
    await h.service.crawler.addSpace(space)
  }
  return spaces
}
