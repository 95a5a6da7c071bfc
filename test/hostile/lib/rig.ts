/**
 * The in-process rig for fault and bad-input scenarios: a devnet, the real MergeStore on embedded chdb in a
 * temp dir, Redis DB 15 (this suite's own), and a crawler wired exactly as production wires it
 * (buildSyncContext + Crawler). It differs from test/helpers/crawler-harness.ts only where a hostile
 * scenario needs a knob: tighter HTTP budgets (slowloris), a smaller page size (pagination faults), a
 * smaller CAR cap, fewer attempts, a fast sweep. Nothing is mocked: every knob is a production setting.
 *
 * Also here: how a scenario decides it survived (`lostAndForged` compares the merged view with devnet's
 * ground truth record by record) and how it reads the metrics that must show what happened.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pino from 'pino'
import { startDevnet, type Devnet, type DevnetOptions } from '../../../src/devnet/devnet.js'
import { MergeStore } from '../../../src/merge/store.js'
import { loadConfig } from '../../../src/config.js'
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.js'
import { buildSyncContext, type BuiltContext } from '../../../src/crawler/build-context.js'
import { Crawler, type CrawlerOptions } from '../../../src/crawler/crawler.js'
import { HttpClient, type HttpTimeouts } from '../../../src/crawler/http-client.js'
import { SpaceClient } from '../../../src/crawler/space-client.js'
import { DEVNET_ENDPOINTS } from '../../../src/identity/endpoint-guard.js'
import { mergedView, truth } from '../../helpers/crawler-harness.js'

/** This suite's Redis database (the machine's shared Redis; other suites use other numbers). */
export const HOSTILE_REDIS_DB = 15
export const REDIS_BASE = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface RigOptions {
  seed: string
  devnet?: DevnetOptions
  crawler?: Partial<CrawlerOptions>
  /** HTTP budgets for repo/space host calls (JSON and CAR alike). */
  timeouts?: Partial<HttpTimeouts>
  /** listRepos / listRepoOps page size. */
  pageLimit?: number
  /** SPACEVIEW_MAX_CAR_BYTES. */
  maxCarBytes?: number
  env?: Record<string, string>
}

export interface Rig {
  devnet: Devnet
  store: MergeStore
  redis: Redis
  ctx: BuiltContext
  crawler: Crawler
  metrics: Metrics
  /** Starts crawling a space with the indexer's session (what `spaceview add-space` does). */
  addSpace(space: string): Promise<void>
  close(): Promise<void>
}

export async function startRig(opts: RigOptions): Promise<Rig> {
  const devnet = await startDevnet({ seed: opts.seed, ...opts.devnet })
  const dataDir = mkdtempSync(join(tmpdir(), 'spaceview-hostile-'))
  const config = loadConfig({
    SPACEVIEW_DATA_DIR: dataDir,
    SPACEVIEW_PLC_URL: devnet.plcUrl,
    SPACEVIEW_ALLOW_PRIVATE_ADDRESSES: 'true',
    SPACEVIEW_SECRETS_KEY: '11'.repeat(32), // test key
    SPACEVIEW_CLIENT_ID: devnet.clients.indexer.clientId,
    SPACEVIEW_CLIENT_KEY: JSON.stringify(devnet.clients.indexer.privateJwk), // devnet test key
    ...(opts.maxCarBytes ? { SPACEVIEW_MAX_CAR_BYTES: String(opts.maxCarBytes) } : {}),
    ...opts.env,
  })
  const redis = new Redis(`${REDIS_BASE}/${HOSTILE_REDIS_DB}`, { maxRetriesPerRequest: null })
  await redis.flushdb()
  const store = await MergeStore.open({
    clickhouse: { transport: 'embedded', path: join(dataDir, 'clickhouse'), database: 'spaceview' },
    batch: { maxRows: 50_000, maxDelayMs: 20 },
    readStrategy: 'final',
  })
  const metrics = createMetrics()
  const ctx = buildSyncContext({
    config,
    store,
    redis,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    metrics,
    serviceId: '',
  })
  if (opts.timeouts) {
    // The same client production builds, with tighter budgets so a trickling host is cut in seconds.
    const http = new HttpClient({ policy: DEVNET_ENDPOINTS, timeouts: opts.timeouts })
    ctx.client = new SpaceClient({ http, carMaxBytes: config.maxCarBytes, carTimeouts: opts.timeouts })
  }
  if (opts.pageLimit) ctx.pageLimit = opts.pageLimit
  const crawler = new Crawler(ctx, redis, {
    sweepIntervalSec: 3600,
    notifyRenewSec: 3600,
    concurrency: 8,
    attempts: 3,
    ...opts.crawler,
  })
  crawler.start()
  return {
    devnet,
    store,
    redis,
    ctx,
    crawler,
    metrics,
    async addSpace(space) {
      await ctx.sessions.addSpace(space, { did: devnet.indexer.did, accessToken: devnet.indexer.accessToken })
      await crawler.addSpace(space)
    },
    async close() {
      await crawler.close()
      await store.close()
      await redis.flushdb()
      redis.disconnect()
      await devnet.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

type Row = { uri: string; cid: string; value: unknown }

/**
 * Records lost (in the truth but missing or different in the merged view) and records forged (in the
 * merged view but not served by any honest host), over the given spaces.
 */
export async function lostAndForged(
  store: MergeStore,
  devnet: Devnet,
  spaces: string[],
): Promise<{ lost: number; forged: number }> {
  let lost = 0
  let forged = 0
  for (const space of spaces) {
    const key = (r: Row) => `${r.uri} ${r.cid} ${JSON.stringify(sortKeys(r.value))}`
    const have = new Set((await mergedView(store, space)).map(key))
    const want = new Set(truth(devnet, space).map(key))
    for (const k of want) if (!have.has(k)) lost++
    for (const k of have) if (!want.has(k)) forged++
  }
  return { lost, forged }
}

/** JSON with object keys sorted: values compare as data (DAG-CBOR and JSON order keys differently). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    )
  }
  return value
}

/** Sum of a counter's samples whose labels include `labels` (0 when none). */
export async function metricSum(
  metrics: Metrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name)
  if (!metric) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((n, v) => n + v.value, 0)
}

/** The non-zero samples of a counter, as "label=value" pairs for the summary's evidence column. */
export async function nonZero(metrics: Metrics, name: string, label: string): Promise<string> {
  const metric = metrics.registry.getSingleMetric(name)
  if (!metric) return ''
  const { values } = await metric.get()
  return values
    .filter((v) => v.value > 0 && v.labels[label] !== undefined)
    .map((v) => `${String(v.labels[label])}=${v.value}`)
    .join(' ')
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, everyMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}
