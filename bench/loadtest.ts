/**
 * `npm run bench` / `spaceview loadtest`: the load-test harness (see `--help`, text in src/cli/loadtest.ts).
 *
 * Runs the chosen scenarios (bench/loadtest/scenarios.ts) one after another against a seeded devnet on
 * loopback, each with spaceview and the sequential baseline syncer in processes of their own; prints
 * progress on stderr, then a table and, as the LAST line of stdout, one JSON object with every figure, which
 * it also writes to --out; renders the HTML report to --html.
 *
 * Invariants: bounded (every wait has a timeout; scenarios run in sequence); stops by itself and cleans up
 * what it started (its redis-server, its child processes, its temp directory unless --keep-data); a
 * scenario that fails is reported in the document and the others still run; exit status 0 when every
 * scenario ran (targets missed are findings, not failures), 1 when one failed, 2 on a usage error.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { UsageError } from '../src/cli/args.js'
import { LOADTEST_HELP, parseLoadtestOptions, type LoadtestOptions } from '../src/cli/loadtest.js'
import { renderHtml } from './loadtest/html.js'
import type { ScenarioResult } from './loadtest/measurements.js'
import { startRedis, type RedisService } from './loadtest/redis-service.js'
import {
  collectTargets,
  machineInfo,
  renderTable,
  toJsonLine,
  type LoadtestReport,
} from './loadtest/report.js'
import { runScenario } from './loadtest/scenarios.js'
import { interruption } from './loadtest/systems.js'

/** The options as reported (the Redis URL is replaced by a description of which Redis was used). */
function withoutRedisUrl(opts: LoadtestOptions): Omit<LoadtestOptions, 'redisUrl'> {
  const { redisUrl: _url, ...rest } = opts
  return rest
}

function progress(started: number): (line: string) => void {
  return (line) => process.stderr.write(`[+${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`)
}

async function run(opts: LoadtestOptions): Promise<number> {
  const started = Date.now()
  const loadStart = loadavg()
  const log = progress(started)
  const workDir = opts.dataDir ? resolve(opts.dataDir) : mkdtempSync(join(tmpdir(), 'spaceview-loadtest-'))
  mkdirSync(workDir, { recursive: true })
  let redis: RedisService | undefined
  const report: LoadtestReport = {
    bench: 'spaceview.loadtest',
    version: 1,
    startedAt: new Date(started).toISOString(),
    finishedAt: '',
    seconds: 0,
    machine: machineInfo(loadStart),
    options: { ...withoutRedisUrl(opts), redis: '' },
    scenarios: [],
    targets: [],
    profiles: {},
    failures: [],
  }
  const onSignal = () => {
    if (interruption.interrupted) {
      // Second signal: quit now. Child processes exit when their IPC channel closes; the private
      // redis-server does not, so it is stopped here.
      if (redis?.pid !== undefined) process.kill(redis.pid, 'SIGKILL')
      process.exit(130)
    }
    interruption.interrupted = true
    log(
      'interrupted: waits end now, later scenarios are skipped, and what was measured is written (again to quit)',
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    redis = await startRedis(opts.redisUrl)
    report.options.redis = redis.private
      ? `private redis-server (pid ${redis.pid}, ${redis.url})`
      : `${redis.url} (shared: its figures include other clients)`
    log(`work dir ${workDir}; Redis ${report.options.redis}; scenarios ${opts.scenarios.join(', ')}`)
    for (const scenario of opts.scenarios) {
      if (interruption.interrupted) break
      log(`=== ${scenario}`)
      try {
        const out = await runScenario(scenario, { opts, redis, workDir, log })
        report.scenarios.push(out.result)
        if (out.profile) report.profiles[scenario] = out.profile
      } catch (err) {
        const message = (err as Error).stack ?? String(err)
        log(`${scenario} failed: ${message}`)
        report.failures.push({ scenario, error: (err as Error).message ?? String(err) })
      }
    }
  } finally {
    await redis?.close().catch(() => undefined)
    if (!opts.keepData && !opts.dataDir) rmSync(workDir, { recursive: true, force: true })
  }
  report.finishedAt = new Date().toISOString()
  report.seconds = Math.round((Date.now() - started) / 100) / 10
  report.machine = machineInfo(loadStart)
  report.targets = collectTargets(report.scenarios as ScenarioResult[])
  const json = toJsonLine(report)
  for (const [file, text] of [
    [opts.out, `${json}\n`],
    [opts.html, renderHtml(report)],
  ] as const) {
    mkdirSync(dirname(resolve(file)), { recursive: true })
    writeFileSync(file, text)
  }
  log(`wrote ${opts.out} and ${opts.html}`)
  process.stdout.write(`${renderTable(report)}\n\n`)
  process.stdout.write(`${json}\n`)
  return report.failures.length > 0 ? 1 : 0
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseLoadtestOptions>
  try {
    parsed = parseLoadtestOptions(process.argv.slice(2))
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`spaceview loadtest: ${err.message}\n`)
      return 2
    }
    throw err
  }
  if (parsed.help) {
    process.stdout.write(`${LOADTEST_HELP}\n`)
    return 0
  }
  return run(parsed.options)
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`spaceview loadtest: ${err.stack ?? err.message}\n`)
    process.exit(1)
  },
)
