/**
 * Smoke run of the load test end to end: a tiny backfill (devnet, the spaceview process, the baseline
 * process, Redis, embedded ClickHouse) must finish well under a minute, exit 0, end stdout with one line of
 * JSON holding the figures, and write the JSON and HTML files. Its --data-dir is a reused one: each system's
 * store in it starts empty. Uses a private redis-server when one is
 * installed, else REDIS_URL (databases 13 and 12).
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LoadtestReport } from '../../bench/loadtest/report.js'

const dir = mkdtempSync(join(tmpdir(), 'spaceview-loadtest-smoke-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const hasRedisServer = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).status === 0

it('runs a tiny backfill with its baseline and reports every figure', async () => {
  const out = join(dir, 'result.json')
  const html = join(dir, 'report.html')
  // A reused --data-dir: what an earlier run left in a system's store must not be there for this one.
  const work = join(dir, 'work')
  const stale = join(work, 'backfill-spaceview', 'left-by-an-earlier-run')
  mkdirSync(join(work, 'backfill-spaceview'), { recursive: true })
  writeFileSync(stale, 'stale')
  const args = [
    '--import',
    'tsx',
    'bench/loadtest.ts',
    '--scenario',
    'backfill',
    '--spaces',
    '2',
    '--writers',
    '2',
    '--records',
    '5',
    '--hosts',
    '1',
    '--baseline-seconds',
    '10',
    '--timeout',
    '40',
    '--out',
    out,
    '--html',
    html,
    '--data-dir',
    work,
    ...(hasRedisServer ? [] : ['--redis-url', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379']),
  ]
  const started = Date.now()
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  const seconds = (Date.now() - started) / 1000
  if (code !== 0) throw new Error(`loadtest exited ${code}\n${stderr.slice(-4000)}`)
  expect(seconds).toBeLessThan(60)

  const lines = stdout.trim().split('\n')
  const report = JSON.parse(lines[lines.length - 1] as string) as LoadtestReport
  expect(report.failures).toEqual([])
  const backfill = report.scenarios[0]
  expect(backfill?.scenario).toBe('backfill')
  expect(backfill?.shape.totalRecords).toBe(20)
  const byKey = new Map(backfill?.figures.map((f) => [f.key, f]))
  expect(byKey.get('records_per_s')?.value).toBeGreaterThan(0)
  expect(byKey.get('records_per_s')?.baseline).toBeGreaterThan(0)
  expect(byKey.get('records_visible')?.value).toBe(20)
  expect(byKey.get('peak_rss_mib')?.value).toBeGreaterThan(0)
  expect(byKey.get('cpu_ms_per_1k_records')?.value).toBeGreaterThan(0)
  expect(byKey.get('cpu_ms_per_1k_records')?.baseline).toBeGreaterThan(0)
  expect(backfill?.notes.join('\n')).toContain('2 match the devnet ground truth')
  // Two bootstraps and four getRepos share the hosts' rate caps.
  expect(backfill?.notes.join('\n')).toMatch(/÷ host leases = 20 × \d+ × \d+ ÷ 6 = /)
  expect(backfill?.notes.join('\n')).toMatch(/CPU bound on this machine: .* for 20 records/)
  expect(stdout).toContain('== backfill: 2 spaces x 2 writers x 5 records')
  expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(report)
  expect(existsSync(html)).toBe(true)
  expect(existsSync(join(work, 'backfill-spaceview'))).toBe(true)
  expect(existsSync(stale)).toBe(false)
  expect(readFileSync(html, 'utf8')).toContain('<svg ')
}, 90_000)
