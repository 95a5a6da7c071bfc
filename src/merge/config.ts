/**
 * Configuration of the merge store and how to read it from the environment.
 *
 * One schema and one SQL dialect, two transports: the embedded engine (chdb, in-process, one data directory
 * per process; the default for `npm start` and tests) or a ClickHouse server reached over HTTP. A server
 * may be a cluster (`CLICKHOUSE_CLUSTER`), which selects the Replicated/Distributed variant of the schema.
 *
 * Environment:
 *   CLICKHOUSE_URL          server URL; unset = embedded engine
 *   CLICKHOUSE_USER, CLICKHOUSE_PASSWORD
 *   CLICKHOUSE_DATABASE     default "spaceview"
 *   CLICKHOUSE_CLUSTER      cluster name from the server's remote_servers (server only)
 *   SPACEVIEW_DATA_DIR      embedded data lives in $SPACEVIEW_DATA_DIR/clickhouse (default ".data")
 *   MERGE_BATCH_ROWS        rows per insert before a batch is written at once (default 50000)
 *   MERGE_BATCH_MS          longest a write waits for companions on an idle store (default 20)
 *   MERGE_READ_STRATEGY     "final" (default) or "limit-by"
 *   MERGE_STATE_CACHE_MS    repo-state / account-status hint cache lifetime (default 5000; 0 = off)
 *   MERGE_VIEW_CACHE_MB     exact cache of merged-view reads, embedded engine only (default 64; 0 = off)
 */
import { join } from 'node:path'
import { MergeError } from './errors.js'
import type { ReadStrategy } from './types.js'

export type ClickHouseConfig =
  | { transport: 'embedded'; path: string; database: string }
  | {
      transport: 'server'
      url: string
      username?: string
      password?: string
      database: string
      /** Cluster name; selects the Replicated*MergeTree + Distributed schema. */
      cluster?: string
    }

export interface BatchConfig {
  /** A batch is written as soon as it holds this many rows (records + commits). */
  maxRows: number
  /** A write waits at most this long for other writes to share its insert. */
  maxDelayMs: number
  /**
   * Least time between the starts of two inserts of repo writes unless a batch is full (batcher.ts):
   * a busy store writes fewer, larger parts. Default DEFAULT_BATCH.minPeriodMs.
   */
  minPeriodMs?: number
}

export interface MergeConfig {
  clickhouse: ClickHouseConfig
  batch: BatchConfig
  readStrategy: ReadStrategy
  /**
   * How long a repo state or account status read from ClickHouse may be served from this process's hint
   * cache (hint-cache.ts); 0 turns the cache off. Default DEFAULT_STATE_CACHE_MS.
   */
  stateCacheMs?: number
  /**
   * Bytes (estimated) of merged-view answers the embedded store may keep in its exact view cache
   * (view-cache.ts); 0 turns it off, a server transport never uses it. Default DEFAULT_VIEW_CACHE_BYTES.
   */
  viewCacheBytes?: number
}

export const DEFAULT_VIEW_CACHE_BYTES = 64 * 1024 * 1024

/** Bounds how stale a state written by another store instance can look here; this one's writes are seen at once. */
export const DEFAULT_STATE_CACHE_MS = 5000

export const DEFAULT_BATCH: Required<BatchConfig> = { maxRows: 50_000, maxDelayMs: 20, minPeriodMs: 100 }

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) {
    throw new MergeError(
      'config',
      `${name}=${raw} is not a positive integer; unset it or give e.g. ${fallback}`,
    )
  }
  return n
}

function nonNegativeInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === '0') return 0
  return positiveInt(env, name, fallback)
}

function validIdentifier(name: string, value: string): string {
  // Database and cluster names are spliced into DDL, so only plain identifiers are accepted.
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
    throw new MergeError('config', `${name}=${value} must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`)
  }
  return value
}

export function mergeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): MergeConfig {
  const database = validIdentifier('CLICKHOUSE_DATABASE', env.CLICKHOUSE_DATABASE || 'spaceview')
  const url = env.CLICKHOUSE_URL
  const cluster = env.CLICKHOUSE_CLUSTER
  let clickhouse: ClickHouseConfig
  if (url) {
    clickhouse = { transport: 'server', url, database }
    if (env.CLICKHOUSE_USER) clickhouse.username = env.CLICKHOUSE_USER
    if (env.CLICKHOUSE_PASSWORD) clickhouse.password = env.CLICKHOUSE_PASSWORD
    if (cluster) clickhouse.cluster = validIdentifier('CLICKHOUSE_CLUSTER', cluster)
  } else {
    if (cluster) {
      throw new MergeError(
        'config',
        'CLICKHOUSE_CLUSTER needs CLICKHOUSE_URL: the embedded engine is a single node. Set both, or unset CLICKHOUSE_CLUSTER.',
      )
    }
    clickhouse = {
      transport: 'embedded',
      path: join(env.SPACEVIEW_DATA_DIR || '.data', 'clickhouse'),
      database,
    }
  }
  const strategy = env.MERGE_READ_STRATEGY || 'final'
  if (strategy !== 'final' && strategy !== 'limit-by') {
    throw new MergeError('config', `MERGE_READ_STRATEGY=${strategy} is not one of final, limit-by`)
  }
  return {
    clickhouse,
    batch: {
      maxRows: positiveInt(env, 'MERGE_BATCH_ROWS', DEFAULT_BATCH.maxRows),
      maxDelayMs: positiveInt(env, 'MERGE_BATCH_MS', DEFAULT_BATCH.maxDelayMs),
      minPeriodMs: nonNegativeInt(env, 'MERGE_BATCH_PERIOD_MS', DEFAULT_BATCH.minPeriodMs),
    },
    readStrategy: strategy,
    stateCacheMs: nonNegativeInt(env, 'MERGE_STATE_CACHE_MS', DEFAULT_STATE_CACHE_MS),
    viewCacheBytes:
      nonNegativeInt(env, 'MERGE_VIEW_CACHE_MB', DEFAULT_VIEW_CACHE_BYTES / (1024 * 1024)) * 1024 * 1024,
  }
}
