/**
 * `npm start` / `spaceview start`: the whole system in one process on the embedded default — a seeded
 * devnet (simulated network of conformant hosts), the crawler workers, and the API — then backfills every
 * devnet space with a progress bar and a one-line status per space, and keeps syncing live writes until
 * Ctrl-C. Redis must be reachable (REDIS_URL); ClickHouse is embedded (chdb) under SPACEVIEW_DATA_DIR.
 */
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import cliProgress from 'cli-progress'
import pino from 'pino'
import { Redis } from 'ioredis'
import { loadConfig } from '../src/config.js'
import { startDevnet } from '../src/devnet/devnet.js'
import { allSpaceStatuses } from '../src/crawler/space-status.js'
import { startService } from './service.js'

export const START_HELP = `Usage: spaceview start [options]      (npm start -- [options])

Runs a simulated permissioned-data network (devnet, TEST KEYS ONLY) plus spaceview's workers and API in
one process, backfills every space, then keeps syncing live writes until Ctrl-C.

Options:
  --spaces <n>             spaces in the devnet (default 20)
  --writers-per-space <n>  writers per space (default 5)
  --records <n>            records per writer (default 50)
  --hosts <n>              repo hosts (default 3)
  --write-rate <n>         live writes per second after backfill (default 2; 0 = none)
  --seed <s>               devnet seed (same seed, same network)
  --keep-data              keep the embedded store from an earlier run (default: start empty)

Environment: REDIS_URL (default redis://127.0.0.1:6379), SPACEVIEW_DATA_DIR (default ./.data),
SPACEVIEW_API_PORT (default 2590), METRICS_PORT (default 9464), LOG_LEVEL (default warn here).`

function num(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`)
  return n
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      spaces: { type: 'string' },
      'writers-per-space': { type: 'string' },
      records: { type: 'string' },
      hosts: { type: 'string' },
      'write-rate': { type: 'string' },
      seed: { type: 'string' },
      'keep-data': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(START_HELP)
    return 0
  }
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' })
  const devnet = await startDevnet({
    seed: values.seed ?? 'spaceview-demo',
    spaces: num('spaces', values.spaces, 20),
    writersPerSpace: num('writers-per-space', values['writers-per-space'], 5),
    records: num('records', values.records, 50),
    hosts: num('hosts', values.hosts, 3),
    logger,
  })
  const base = loadConfig()
  const syncer = devnet.publishSyncer(base.publicUrl, 'spaceview')
  const config = loadConfig({
    ...process.env,
    SPACEVIEW_PLC_URL: devnet.plcUrl,
    SPACEVIEW_ALLOW_PRIVATE_ADDRESSES: 'true',
    SPACEVIEW_SERVICE_DID: syncer.did,
    SPACEVIEW_SECRETS_KEY: process.env.SPACEVIEW_SECRETS_KEY ?? randomBytes(32).toString('hex'),
    SPACEVIEW_CLIENT_ID: devnet.clients.indexer.clientId,
    SPACEVIEW_CLIENT_KEY: JSON.stringify(devnet.clients.indexer.privateJwk), // devnet TEST key
    SPACEVIEW_FIREHOSE_URLS: devnet.relayUrl,
    SPACEVIEW_SWEEP_INTERVAL_SEC: process.env.SPACEVIEW_SWEEP_INTERVAL_SEC ?? '60',
  })
  if (!values['keep-data']) rmSync(join(config.dataDir, 'clickhouse'), { recursive: true, force: true })
  // A demo run starts from scratch: drop spaceview's own keys (prefix sv:) from an earlier run, nothing else.
  const redis = new Redis(config.redisUrl)
  for await (const keys of redis.scanStream({ match: 'sv:*', count: 1000 }))
    if ((keys as string[]).length) await redis.del(...(keys as string[]))
  redis.disconnect()
  const service = await startService(config, {
    api: true,
    queues: ['space-bootstrap', 'repo-sync', 'repo-recovery', 'sweep', 'notify-renewal'],
    logger,
  })

  const spaces = devnet.spaces().map((s) => s.uri)
  const expected = spaces.reduce((n, s) => n + devnet.groundTruth(s).length, 0)
  console.log(`devnet: ${spaces.length} spaces on ${devnet.hosts.length} hosts, directory ${devnet.plcUrl}`)
  console.log(`api:    ${service.api?.url}/xrpc/_health   metrics: ${service.metricsServer?.url ?? '(off)'}`)
  for (const space of spaces) {
    await service.ctx.sessions.addSpace(space, {
      did: devnet.indexer.did,
      accessToken: devnet.indexer.accessToken,
    })
    await service.crawler.addSpace(space)
  }

  const started = Date.now()
  const bar = new cliProgress.SingleBar(
    {
      format:
        'backfill [{bar}] {percentage}% | {value}/{total} records | {rate} rec/s | {spaces} spaces active',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  )
  bar.start(expected, 0, { rate: 0, spaces: 0 })
  const count = async () => {
    let n = 0
    for (const s of spaces) n += await service.mergeStore!.countRecords(s)
    return n
  }
  for (;;) {
    const n = await count()
    const statuses = await allSpaceStatuses(service.ctx.redis)
    const active = Object.values(statuses).filter((s) => s.status === 'active').length
    bar.update(Math.min(n, expected), {
      rate: Math.round(n / ((Date.now() - started) / 1000)),
      spaces: active,
    })
    if (n >= expected || Date.now() - started > 10 * 60_000) break
    await new Promise((r) => setTimeout(r, 500))
  }
  bar.stop()
  console.log(
    `backfill: ${await count()} of ${expected} records merged in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  )
  const statuses = await allSpaceStatuses(service.ctx.redis)
  for (const space of spaces) {
    const truth = devnet.groundTruth(space).length
    const merged = await service.mergeStore!.countRecords(space)
    const st = statuses[space]
    console.log(
      `  ${st?.status ?? 'unknown'}  ${String(merged).padStart(6)}/${String(truth).padEnd(6)} ${space}${st?.reason ? `  (${st.reason})` : ''}`,
    )
  }

  const rate = num('write-rate', values['write-rate'], 2)
  if (rate > 0) {
    devnet.startWriteDriver({ ratePerSec: rate })
    console.log(
      `live: devnet writes ${rate}/s; spaceview follows through notifyWrite and sweeps. Ctrl-C to stop.`,
    )
  } else {
    console.log('Ctrl-C to stop.')
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  console.log('stopping…')
  await service.close()
  await devnet.close()
  return 0
}
