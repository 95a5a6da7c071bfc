/**
 * Runtime configuration, read once from environment variables (documented in README "Configuration").
 * Every setting has a default that works on a fresh machine with `npm start` (embedded ClickHouse, local
 * Redis, devnet). Invalid values fail at start-up with a message naming the variable.
 */
import { join, resolve } from 'node:path'
import { DEFAULT_DID_CACHE_ENTRIES } from './identity/did-cache.js'

export interface Config {
  redisUrl: string
  /** Empty: embedded ClickHouse (chdb) under dataDir; otherwise a ClickHouse server URL. */
  clickhouseUrl: string
  clickhouseUser: string
  clickhousePassword: string
  clickhouseDatabase: string
  /** Cluster name for the sharded schema (Replicated*MergeTree + Distributed); empty for one server. */
  clickhouseCluster: string
  dataDir: string
  apiPort: number
  apiHost: string
  metricsPort: number
  /** Our service DID (did:web) and the fragment hosts deliver notifyWrite to. */
  serviceDid: string
  serviceFragment: string
  /** Public origin of our API (where notifyWrite arrives). */
  publicUrl: string
  /** Hex 32-byte key encrypting sessions and credentials at rest in Redis. */
  secretsKeyHex: string
  plcUrl: string
  /** DID documents the identity resolver keeps (least recently used dropped first). */
  didCacheEntries: number
  /** Allow DID documents to point at loopback/private addresses (devnet only). */
  allowPrivateAddresses: boolean
  sweepIntervalSec: number
  notifyRenewSec: number
  hostConcurrency: number
  hostRequestsPerSec: number
  maxCarBytes: number
  jobAttempts: number
  workerConcurrency: number
  /** Jobs in flight per process on the repo-sync queue (see README: a busy repo's job holds its slot). */
  syncConcurrency: number
  admissionTtlSec: number
  /** OAuth client_id (URL of client metadata publishing our JWKS), for app-gated (#allowList) spaces. */
  clientId: string
  /** Private JWK (JSON) of the client attestation key; its public half is in the client metadata. */
  clientKeyJwk: string
  /** Bearer token for dev.spaceview.admin.* (empty disables the admin methods). */
  adminToken: string
  /** WebSocket URLs of firehoses (com.atproto.sync.subscribeRepos) for #account / #identity events. */
  firehoseUrls: string[]
  /** Where worker processes reach the store owner when the store is embedded (default: the API). */
  storeUrl: string
  /** V8's heap growth past the live heap after a full collection, in percent; 0: V8 decides (workers/heap-growth.ts). */
  heapGrowingPercent: number
  logLevel: string
}

type Env = Record<string, string | undefined>

function int(env: Env, name: string, dflt: number, min = 0): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return dflt
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min} (got "${raw}")`)
  return n
}

function bool(env: Env, name: string, dflt: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return dflt
  if (/^(1|true|yes)$/i.test(raw)) return true
  if (/^(0|false|no)$/i.test(raw)) return false
  throw new Error(`${name} must be true or false (got "${raw}")`)
}

function hex(env: Env, name: string, bytes: number): string {
  const raw = env[name] ?? ''
  if (raw !== '' && !new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(raw)) {
    throw new Error(`${name} must be ${bytes} bytes of hex (${bytes * 2} characters)`)
  }
  return raw.toLowerCase()
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = resolve(env.SPACEVIEW_DATA_DIR ?? join(process.cwd(), '.data'))
  const apiPort = int(env, 'SPACEVIEW_API_PORT', 2590, 0)
  return {
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    clickhouseUrl: env.CLICKHOUSE_URL ?? '',
    clickhouseUser: env.CLICKHOUSE_USER ?? 'default',
    clickhousePassword: env.CLICKHOUSE_PASSWORD ?? '',
    clickhouseDatabase: env.CLICKHOUSE_DATABASE ?? 'spaceview',
    clickhouseCluster: env.CLICKHOUSE_CLUSTER ?? '',
    dataDir,
    apiPort,
    apiHost: env.SPACEVIEW_API_HOST ?? '127.0.0.1',
    metricsPort: int(env, 'METRICS_PORT', 9464, 0),
    serviceDid: env.SPACEVIEW_SERVICE_DID ?? '',
    serviceFragment: env.SPACEVIEW_SERVICE_FRAGMENT ?? 'atproto_space_syncer',
    publicUrl: env.SPACEVIEW_PUBLIC_URL ?? `http://127.0.0.1:${apiPort}`,
    secretsKeyHex: hex(env, 'SPACEVIEW_SECRETS_KEY', 32),
    plcUrl: env.SPACEVIEW_PLC_URL ?? 'https://plc.directory',
    didCacheEntries: int(env, 'SPACEVIEW_DID_CACHE_ENTRIES', DEFAULT_DID_CACHE_ENTRIES, 1),
    allowPrivateAddresses: bool(env, 'SPACEVIEW_ALLOW_PRIVATE_ADDRESSES', false),
    sweepIntervalSec: int(env, 'SPACEVIEW_SWEEP_INTERVAL_SEC', 300, 1),
    notifyRenewSec: int(env, 'SPACEVIEW_NOTIFY_RENEW_SEC', 12 * 3600, 1),
    hostConcurrency: int(env, 'SPACEVIEW_HOST_CONCURRENCY', 4, 1),
    hostRequestsPerSec: int(env, 'SPACEVIEW_HOST_RPS', 50, 1),
    maxCarBytes: int(env, 'SPACEVIEW_MAX_CAR_BYTES', 512 * 1024 * 1024, 1024),
    jobAttempts: int(env, 'SPACEVIEW_JOB_ATTEMPTS', 5, 1),
    workerConcurrency: int(env, 'SPACEVIEW_WORKER_CONCURRENCY', 64, 1),
    syncConcurrency: int(env, 'SPACEVIEW_SYNC_CONCURRENCY', 256, 1),
    admissionTtlSec: int(env, 'SPACEVIEW_ADMISSION_TTL_SEC', 300, 1),
    clientId: env.SPACEVIEW_CLIENT_ID ?? '',
    clientKeyJwk: env.SPACEVIEW_CLIENT_KEY ?? '',
    adminToken: env.SPACEVIEW_ADMIN_TOKEN ?? '',
    firehoseUrls: (env.SPACEVIEW_FIREHOSE_URLS ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean),
    storeUrl: env.SPACEVIEW_STORE_URL ?? `http://127.0.0.1:${apiPort}`,
    heapGrowingPercent: int(env, 'SPACEVIEW_HEAP_GROWING_PERCENT', 50, 0),
    logLevel: env.LOG_LEVEL ?? 'info',
  }
}
