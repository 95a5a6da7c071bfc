/**
 * Setting up what a scenario measures: the devnet network (in the orchestrator's process) and the two
 * systems under test, each in a process of its own — spaceview (spaceview-process.ts, configured through
 * the same environment variables an operator sets) and the baseline syncer (baseline-process.ts).
 *
 * Invariants: everything listens on 127.0.0.1; each system gets its own empty Redis database and its own
 * store directory under the run's work directory; devnet keys and tokens are TEST credentials; the
 * spaceview process sees no CLICKHOUSE_URL from the caller's environment (it always runs the embedded
 * engine under test).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import type { LoadtestOptions } from '../../src/cli/loadtest.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { ChildHandle, siblingModule } from './child-ipc.js'
import { freePort, type RedisService } from './redis-service.js'

export interface Shape {
  spaces: number
  writers: number
  records: number
  hosts: number
}

export interface RunEnv {
  opts: LoadtestOptions
  redis: RedisService
  workDir: string
  /** A progress line on stderr. */
  log: (line: string) => void
}

export interface Network {
  devnet: Devnet
  spaces: string[]
  /** Every (space, writer) repo. */
  repos: Array<[string, string]>
  /** Records in the generated network (what a complete backfill makes visible). */
  expected: number
  session: { did: string; accessToken: string }
}

export async function openNetwork(env: RunEnv, shape: Shape, label: string): Promise<Network> {
  const t0 = performance.now()
  const devnet = await startDevnet({
    seed: env.opts.seed,
    spaces: shape.spaces,
    writersPerSpace: shape.writers,
    records: shape.records,
    hosts: shape.hosts,
    logger: pino({ level: 'silent' }),
  })
  // LtHash digests are computed lazily by devnet; doing it now keeps that cost out of every measured window.
  let lastLog = 0
  await devnet.materialize((done, total) => {
    if (Date.now() - lastLog > 2000 || done === total) {
      lastLog = Date.now()
      env.log(`[${label}] devnet: materializing ${done}/${total} repos`)
    }
  })
  const infos = devnet.spaces()
  const spaces = infos.map((s) => s.uri)
  const repos = infos.flatMap((s) => s.writers.map((w) => [s.uri, w] as [string, string]))
  env.log(
    `[${label}] devnet: ${spaces.length} spaces, ${repos.length} repos, ${repos.length * shape.records} records on ` +
      `${shape.hosts} hosts (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  )
  return {
    devnet,
    spaces,
    repos,
    expected: repos.length * shape.records,
    session: { did: devnet.indexer.did, accessToken: devnet.indexer.accessToken },
  }
}

/** The environment both systems share: devnet directory, loopback allowed, the devnet indexer client. */
function baseEnv(net: Network, dataDir: string, redisUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env)) if (/^(CLICKHOUSE_|MERGE_|SPACEVIEW_)/.test(k)) delete env[k]
  return {
    ...env,
    REDIS_URL: redisUrl,
    SPACEVIEW_DATA_DIR: dataDir,
    SPACEVIEW_PLC_URL: net.devnet.plcUrl,
    SPACEVIEW_ALLOW_PRIVATE_ADDRESSES: 'true',
    SPACEVIEW_SECRETS_KEY: randomBytes(32).toString('hex'),
    SPACEVIEW_CLIENT_ID: net.devnet.clients.indexer.clientId,
    SPACEVIEW_CLIENT_KEY: JSON.stringify(net.devnet.clients.indexer.privateJwk), // devnet TEST key
    LOG_LEVEL: 'warn',
  }
}

export interface SpaceviewHandle {
  child: ChildHandle
  /** The XRPC API (with the ACL); also where notifications arrive. */
  apiUrl: string
  /** The no-ACL listRecords endpoint of the same process. */
  plainUrl: string
  publicUrl: string
  /** Where --cpu-prof writes, when profiling. */
  profileDir: string | undefined
}

export async function startSpaceview(
  env: RunEnv,
  net: Network,
  label: string,
  extraEnv: Record<string, string> = {},
): Promise<SpaceviewHandle> {
  const dataDir = freshDir(join(env.workDir, `${label}-spaceview`))
  const port = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  const syncer = net.devnet.publishSyncer(publicUrl, `spaceview-${label}`)
  await env.redis.flushDb(env.opts.redisDb)
  const profileDir = env.opts.profile ? join(env.workDir, 'profiles', label) : undefined
  if (profileDir) mkdirSync(profileDir, { recursive: true })
  const child = await ChildHandle.start(
    'spaceview',
    fileURLToPath(siblingModule(import.meta.url, 'spaceview-process')),
    {
      env: {
        ...baseEnv(net, dataDir, `${env.redis.url}/${env.opts.redisDb}`),
        SPACEVIEW_SERVICE_DID: syncer.did,
        SPACEVIEW_API_PORT: String(port),
        SPACEVIEW_API_HOST: '127.0.0.1',
        SPACEVIEW_PUBLIC_URL: publicUrl,
        SPACEVIEW_FIREHOSE_URLS: net.devnet.relayUrl,
        ...env.opts.spaceviewEnv,
        ...extraEnv,
      },
      execArgv: profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    },
  )
  return {
    child,
    apiUrl: String(child.info.apiUrl),
    plainUrl: String(child.info.plainUrl),
    publicUrl,
    profileDir,
  }
}

/**
 * A store directory emptied before its system starts. Every scenario measures from an empty store; a store
 * left in a reused --data-dir by an earlier run would already hold the same seeded records, and the run
 * would wait for records that never become newly visible.
 */
function freshDir(dir: string): string {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  return dir
}

export interface BaselineHandle {
  child: ChildHandle
  /** Origin of its notifyWrite receiver and plain listRecords. */
  url: string
}

export async function startBaseline(env: RunEnv, net: Network, label: string): Promise<BaselineHandle> {
  const dataDir = freshDir(join(env.workDir, `${label}-baseline`))
  await env.redis.flushDb(env.opts.baselineRedisDb)
  const child = await ChildHandle.start(
    'baseline',
    fileURLToPath(siblingModule(import.meta.url, 'baseline-process')),
    {
      env: baseEnv(net, dataDir, `${env.redis.url}/${env.opts.baselineRedisDb}`),
    },
  )
  return { child, url: String(child.info.notifyUrl) }
}

/** Set on Ctrl-C: every wait below gives up at once, so the run can report what it measured and exit. */
export const interruption = { interrupted: false }

/** Polls `check` until it is true, `timeoutMs` passes or the run is interrupted; returns whether it became true. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 100,
): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > end || interruption.interrupted) return false
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/**
 * Waits until the system holds every repo at devnet's head rev. `revs` asks the system for its revs of
 * the given repos. Returns when it converged (ms since the epoch) or null on timeout, and how many repos
 * were still behind at the last check.
 */
export async function converge(
  net: Network,
  revs: (repos: Array<[string, string]>) => Promise<Array<string | null>>,
  timeoutMs: number,
  onCheck?: (behind: number) => void,
): Promise<{ at: number | null; behind: number }> {
  // Large networks: check a fixed sample (the write scenarios use small networks, where this is all).
  const step = Math.max(1, Math.ceil(net.repos.length / 5000))
  const repos = net.repos.filter((_, i) => i % step === 0)
  let behind = repos.length
  const ok = await waitUntil(
    async () => {
      const have = await revs(repos)
      behind = 0
      repos.forEach(([space, did], i) => {
        if (have[i] !== (net.devnet.repoHead(space, did)?.rev ?? null)) behind++
      })
      onCheck?.(behind)
      return behind === 0
    },
    timeoutMs,
    250,
  )
  return { at: ok ? Date.now() : null, behind }
}
