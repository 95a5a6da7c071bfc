/**
 * `spaceview loadtest`: the load-test harness's flags, help and launcher.
 *
 * The harness itself lives in bench/ (bench/loadtest.ts, compiled to dist/bench/loadtest.js) because it
 * runs devnet, and nothing under src/ may import src/devnet. This module is the thin part the CLI needs:
 * it parses and validates the flags (so usage errors exit 2 without starting anything), prints --help, and
 * otherwise runs `node dist/bench/loadtest.js <args>` as a child, streaming the child's stdout through
 * `out` line by line and its stderr (progress) straight to ours. The bench entry parses the same flags
 * with `parseLoadtestOptions`, so both agree on every default.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseCommandArgs, UsageError } from './args.js'

export const LOADTEST_SCENARIOS = ['backfill', 'incremental', 'notify-lost', 'api', 'mixed'] as const
export type LoadtestScenario = (typeof LOADTEST_SCENARIOS)[number]

export const LOADTEST_HELP = `Usage: spaceview loadtest [options]        (npm run bench -- [options])

Load-tests spaceview against a seeded simulated network (devnet, TEST KEYS ONLY) on 127.0.0.1, next to a
straightforward sequential baseline syncer measured in the same run on the same data. Prints a table, then
ONE line of JSON with every figure; writes that JSON to --out and an HTML report with charts to --html.
Bounded in time and size; stops by itself. Needs redis-server on PATH (or --redis-url).

Scenarios (--scenario, comma-separated, or "all"):
  backfill      S spaces x W writers x R records from empty: verified records/s end to end
  incremental   writes at --rate for --duration with notifications: write -> visible p50/p95/p99
  notify-lost   the same with every notification dropped: sweep-only convergence
  api           dev.spaceview.listRecords with the ACL (credential + DPoP) at --api-rate
  mixed         incremental writes and API reads at the same time

Network (per-scenario defaults when not given: backfill 200x5x100, api 20x5x200, others 40x3x10):
  --spaces <n>            spaces
  --writers <n>           writers per space
  --records <n>           records per writer
  --hosts <n>             devnet repo hosts (default 8; spaceview's per-host politeness caps
                          pulls at hosts x SPACEVIEW_HOST_RPS)
  --seed <s>              devnet seed (default loadtest)

Load:
  --rate <n>              target writes/s for the write scenarios (default 50; devnet costs ~0.8 ms CPU
                          per write and shares the cores with spaceview: the achieved rate is reported)
  --duration <s>          write window of incremental / notify-lost / mixed (default 30)
  --warmup <s>            writes at --rate before that window, not measured (default 10; 0: none): the
                          processes' JIT and caches warm up, and the window sees the steady state
  --api-rate <n>          offered listRecords requests/s (default 2000)
  --api-seconds <s>       API load window, at most 50 (DPoP proofs are signed ahead, max age 60 s; default 20)
  --api-limit <n>         records per listRecords page (default 20)
  --sweep-interval <s>    spaceview sweep interval in notify-lost (default 10; spaceview pulls every writer on
                          every 12th sweep, which is what catches writes whose notifications were all lost)

Baseline:
  --no-baseline           skip the baseline syncer
  --baseline-seconds <s>  cap on the baseline's backfill time; its rate is measured over what it did (default 60)

Limits and output:
  --timeout <s>           longest wait for a backfill or for convergence (default 600)
  --out <file.json>       JSON result (default .data/loadtest/loadtest.json)
  --html <file.html>      HTML report (default .data/loadtest/loadtest.html)
  --profile               CPU-profile the spaceview process and summarise where its time goes
  --data-dir <dir>        working directory for stores and profiles (default: a temp dir, removed); a
                          given one is kept, and each system's store in it is emptied when it starts
  --keep-data             keep the default temp dir afterwards

Services:
  --redis-url <url>       use this Redis (default: a private redis-server on a free loopback port)
  --redis-db <n>          Redis database for spaceview (default 13)
  --baseline-redis-db <n> Redis database for the baseline (default 12)

spaceview settings under test (default: spaceview's own defaults):
  --host-rps <n>          SPACEVIEW_HOST_RPS, per-host request rate cap
  --host-concurrency <n>  SPACEVIEW_HOST_CONCURRENCY, per-host concurrent requests
  --worker-concurrency <n> SPACEVIEW_WORKER_CONCURRENCY, jobs per queue
  --sync-concurrency <n>  SPACEVIEW_SYNC_CONCURRENCY, jobs on the repo-sync queue
  --batch-ms <n>          MERGE_BATCH_MS, longest a merge write waits for companions
  --batch-period-ms <n>   MERGE_BATCH_PERIOD_MS, least time between two inserts of a busy store
  --spaceview-sweep <s>   SPACEVIEW_SWEEP_INTERVAL_SEC in every scenario (notify-lost takes --sweep-interval):
                          a backfill longer than it runs with the spaces' periodic sweeps

Targets (2 cores): backfill >= 30,000 verified records/s; write -> visible p99 < 500 ms at 1,000 writes/s
for 5 minutes; listRecords with ACL p99 < 20 ms at 2,000 req/s; < 1 GiB RSS per process at 1M merged
records; 10,000 spaces x 10 writers. Examples:
  npm run bench -- --scenario backfill --spaces 1000 --writers 10 --records 100     (1M records)
  npm run bench -- --scenario backfill --spaces 10000 --writers 10 --records 10
  npm run bench -- --scenario incremental --rate 1000 --duration 300
  npm run bench -- --scenario api --api-rate 2000 --api-seconds 30`

export interface LoadtestOptions {
  scenarios: LoadtestScenario[]
  /** Network shape; undefined = the scenario's default. */
  spaces: number | undefined
  writers: number | undefined
  records: number | undefined
  hosts: number
  seed: string
  rate: number
  durationSec: number
  /** Writes at the target rate before the measured write window. */
  warmupSec: number
  apiRate: number
  apiSeconds: number
  apiLimit: number
  sweepIntervalSec: number
  baseline: boolean
  baselineSeconds: number
  timeoutSec: number
  out: string
  html: string
  profile: boolean
  dataDir: string | undefined
  keepData: boolean
  redisUrl: string | undefined
  redisDb: number
  baselineRedisDb: number
  /** Environment overrides for the spaceview process under test. */
  spaceviewEnv: Record<string, string>
}

const FLAGS = {
  scenario: { type: 'string' },
  spaces: { type: 'string' },
  writers: { type: 'string' },
  records: { type: 'string' },
  hosts: { type: 'string' },
  seed: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  'api-rate': { type: 'string' },
  'api-seconds': { type: 'string' },
  'api-limit': { type: 'string' },
  'sweep-interval': { type: 'string' },
  'no-baseline': { type: 'boolean' },
  'baseline-seconds': { type: 'string' },
  timeout: { type: 'string' },
  out: { type: 'string' },
  html: { type: 'string' },
  profile: { type: 'boolean' },
  'data-dir': { type: 'string' },
  'keep-data': { type: 'boolean' },
  'redis-url': { type: 'string' },
  'redis-db': { type: 'string' },
  'baseline-redis-db': { type: 'string' },
  'host-rps': { type: 'string' },
  'host-concurrency': { type: 'string' },
  'worker-concurrency': { type: 'string' },
  'sync-concurrency': { type: 'string' },
  'batch-ms': { type: 'string' },
  'batch-period-ms': { type: 'string' },
  'spaceview-sweep': { type: 'string' },
} as const

function num(
  name: string,
  raw: string | undefined,
  dflt: number,
  opts: { min: number; max?: number; integer?: boolean },
): number {
  if (raw === undefined) return dflt
  const n = Number(raw)
  const integer = opts.integer ?? true
  if (
    raw.trim() === '' ||
    !Number.isFinite(n) ||
    (integer && !Number.isInteger(n)) ||
    n < opts.min ||
    (opts.max !== undefined && n > opts.max)
  ) {
    const range = opts.max !== undefined ? `between ${opts.min} and ${opts.max}` : `>= ${opts.min}`
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} ${range} (got "${raw}")`)
  }
  return n
}

function optionalInt(name: string, raw: string | undefined, min: number): number | undefined {
  return raw === undefined ? undefined : num(name, raw, 0, { min })
}

/** Parses and validates loadtest flags; `{ help: true }` for --help. Throws UsageError on bad input. */
export function parseLoadtestOptions(
  argv: string[],
): { help: true } | { help: false; options: LoadtestOptions } {
  const { values, positionals } = parseCommandArgs('loadtest', argv, FLAGS)
  if (values.help) return { help: true }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see --help`)
  const raw = (values.scenario ?? 'all').split(',').map((s) => s.trim())
  const scenarios: LoadtestScenario[] = []
  for (const s of raw) {
    if (s === 'all') scenarios.push(...LOADTEST_SCENARIOS)
    else if ((LOADTEST_SCENARIOS as readonly string[]).includes(s)) scenarios.push(s as LoadtestScenario)
    else
      throw new UsageError(`--scenario must be one of ${LOADTEST_SCENARIOS.join(', ')} or all (got "${s}")`)
  }
  const spaceviewEnv: Record<string, string> = {}
  const env = (flag: keyof typeof FLAGS, name: string, min: number) => {
    const v = optionalInt(flag, values[flag] as string | undefined, min)
    if (v !== undefined) spaceviewEnv[name] = String(v)
  }
  env('host-rps', 'SPACEVIEW_HOST_RPS', 1)
  env('host-concurrency', 'SPACEVIEW_HOST_CONCURRENCY', 1)
  env('worker-concurrency', 'SPACEVIEW_WORKER_CONCURRENCY', 1)
  env('sync-concurrency', 'SPACEVIEW_SYNC_CONCURRENCY', 1)
  env('batch-ms', 'MERGE_BATCH_MS', 1)
  env('batch-period-ms', 'MERGE_BATCH_PERIOD_MS', 0)
  env('spaceview-sweep', 'SPACEVIEW_SWEEP_INTERVAL_SEC', 1)
  const redisDb = num('redis-db', values['redis-db'], 13, { min: 0, max: 15 })
  const baselineRedisDb = num('baseline-redis-db', values['baseline-redis-db'], 12, { min: 0, max: 15 })
  if (redisDb === baselineRedisDb) throw new UsageError('--redis-db and --baseline-redis-db must differ')
  if (values['redis-url'] !== undefined && !/^rediss?:\/\//.test(values['redis-url'])) {
    throw new UsageError('--redis-url must be a redis:// URL (without a database number)')
  }
  return {
    help: false,
    options: {
      scenarios: [...new Set(scenarios)],
      spaces: optionalInt('spaces', values.spaces, 1),
      writers: optionalInt('writers', values.writers, 1),
      records: optionalInt('records', values.records, 1),
      hosts: num('hosts', values.hosts, 8, { min: 1, max: 64 }),
      seed: values.seed ?? 'loadtest',
      rate: num('rate', values.rate, 50, { min: 0.1, integer: false }),
      durationSec: num('duration', values.duration, 30, { min: 1, max: 3600 }),
      warmupSec: num('warmup', values.warmup, 10, { min: 0, max: 600 }),
      apiRate: num('api-rate', values['api-rate'], 2000, { min: 1, max: 50_000 }),
      apiSeconds: num('api-seconds', values['api-seconds'], 20, { min: 1, max: 50 }),
      apiLimit: num('api-limit', values['api-limit'], 20, { min: 1, max: 100 }),
      sweepIntervalSec: num('sweep-interval', values['sweep-interval'], 10, { min: 1, max: 3600 }),
      baseline: values['no-baseline'] !== true,
      baselineSeconds: num('baseline-seconds', values['baseline-seconds'], 60, { min: 1, max: 3600 }),
      timeoutSec: num('timeout', values.timeout, 600, { min: 5, max: 24 * 3600 }),
      out: values.out ?? join('.data', 'loadtest', 'loadtest.json'),
      html: values.html ?? join('.data', 'loadtest', 'loadtest.html'),
      profile: values.profile === true,
      dataDir: values['data-dir'],
      keepData: values['keep-data'] === true,
      redisUrl: values['redis-url'],
      redisDb,
      baselineRedisDb,
      spaceviewEnv,
    },
  }
}

/** The package root (the directory with spaceview's package.json), from this module's location. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'spaceview') return dir
      } catch {
        // An unreadable package.json is not ours; keep walking up.
      }
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the spaceview package root')
    dir = parent
  }
}

export async function loadtestCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const parsed = parseLoadtestOptions(argv)
  if (parsed.help) {
    out(LOADTEST_HELP)
    return 0
  }
  const entry = join(packageRoot(), 'dist', 'bench', 'loadtest.js')
  if (!existsSync(entry)) {
    throw new UsageError(`${entry} is missing: run \`npm run build\` first (or use \`npm run bench -- …\`)`)
  }
  const child = spawn(process.execPath, [entry, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] })
  // Ctrl-C reaches the child through the terminal's process group; the child cleans up and exits.
  const lines = createInterface({ input: child.stdout })
  lines.on('line', (line) => out(line))
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c, s) => resolve([c, s]))
  })
  if (signal) return 1
  return code ?? 1
}
