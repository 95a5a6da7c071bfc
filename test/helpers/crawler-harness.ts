/**
 * Test harness: a devnet, an embedded merge store in a temp dir, a Redis database of the test's own and a
 * crawler wired exactly as production wires it (build-context + Crawler). `mergedView` and `truth` put the
 * merged view next to devnet's ground truth. `tune` adjusts the built context before the crawler starts,
 * for suites that need a production knob set differently (test/hostile/lib/rig.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { Redis } from 'ioredis'
import pino from 'pino'
import { startDevnet, type Devnet, type DevnetOptions } from '../../src/devnet/devnet.js'
import { MergeStore } from '../../src/merge/store.js'
import { loadConfig, type Config } from '../../src/config.js'
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js'
import { buildSyncContext, type BuiltContext } from '../../src/crawler/build-context.js'
import { Crawler, type CrawlerOptions } from '../../src/crawler/crawler.js'

export interface Harness {
  devnet: Devnet
  store: MergeStore
  redis: Redis
  ctx: BuiltContext
  crawler: Crawler
  metrics: Metrics
  dataDir: string
  /** Starts crawling a space with the indexer's session (what `spaceview add-space` does). */
  addSpace(space: string): Promise<void>
  close(): Promise<void>
}

export interface HarnessOptions {
  redisDb: number
  /** Devnet seed (default `test-{redisDb}`). */
  seed?: string
  devnet?: DevnetOptions
  crawler?: Partial<CrawlerOptions>
  env?: Record<string, string>
  /** Adjusts the production-built context (HTTP budgets, page size) before the crawler starts. */
  tune?: (ctx: BuiltContext, config: Config) => void
}

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const devnet = await startDevnet({ seed: opts.seed ?? `test-${opts.redisDb}`, ...opts.devnet })
  const dataDir = mkdtempSync(join(tmpdir(), 'spaceview-crawl-'))
  const config = loadConfig({
    SPACEVIEW_DATA_DIR: dataDir,
    SPACEVIEW_PLC_URL: devnet.plcUrl,
    SPACEVIEW_ALLOW_PRIVATE_ADDRESSES: 'true',
    SPACEVIEW_SECRETS_KEY: '11'.repeat(32), // test key
    SPACEVIEW_CLIENT_ID: devnet.clients.indexer.clientId,
    SPACEVIEW_CLIENT_KEY: JSON.stringify(devnet.clients.indexer.privateJwk), // devnet test key
    ...opts.env,
  })
  const redisUrl = `${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'}/${opts.redisDb}`
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null })
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
  opts.tune?.(ctx, config)
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
    dataDir,
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

/** Authorises the indexer account for every devnet space and starts crawling them. */
export async function crawlAllSpaces(h: Harness): Promise<string[]> {
  const spaces = h.devnet.spaces().map((s) => s.uri)
  for (const space of spaces) await h.addSpace(space)
  return spaces
}

type Row = { uri: string; cid: string; value: unknown }

export async function mergedView(store: MergeStore, space: string): Promise<Row[]> {
  const out: Row[] = []
  let cursor: string | undefined
  for (;;) {
    const page = await store.listRecords({ space, limit: 1000, ...(cursor ? { cursor } : {}) })
    for (const r of page.records) out.push({ uri: r.uri, cid: r.cid, value: r.value })
    if (!page.cursor) break
    cursor = page.cursor
  }
  return out.sort((a, b) => (a.uri < b.uri ? -1 : 1))
}

export function truth(devnet: Devnet, space: string): Row[] {
  return devnet
    .groundTruth(space)
    .map((r) => ({ uri: r.uri, cid: r.cid, value: r.value }))
    .sort((a, b) => (a.uri < b.uri ? -1 : 1))
}

/**
 * Polls `check` until it holds. Checks read the embedded store, which the crawler under test also waits on:
 * tests that poll many spaces at once pass a longer `intervalMs` so their reads do not starve it.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** Anything that has a devnet and the store holding the merged view (Harness, ServiceHarness). */
export interface ViewSource {
  devnet: Devnet
  store: MergeStore
}

export async function converged(h: ViewSource, spaces: string[]): Promise<boolean> {
  for (const space of spaces) {
    // Values compare as data: key order differs between JSON and DAG-CBOR's canonical order.
    if (!isDeepStrictEqual(await mergedView(h.store, space), truth(h.devnet, space))) return false
  }
  return true
}
