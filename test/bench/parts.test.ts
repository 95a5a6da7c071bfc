/**
 * The load test's pure parts: flag parsing and --help, Redis commandstats deltas, /proc thread grouping,
 * CPU-profile summaries, the write → visible log, and the fast DPoP signer (its proofs must pass the same
 * verification the API applies).
 */
import { generateDpopKey, verifyDpopProof } from '../../src/protocol/dpop.js'
import { UsageError } from '../../src/cli/args.js'
import { LOADTEST_HELP, loadtestCommand, parseLoadtestOptions } from '../../src/cli/loadtest.js'
import { FastDpopSigner, planAclRequests, summarizeApiRun } from '../../bench/loadtest/api-load.js'
import { categorize, summarizeProfile } from '../../bench/loadtest/profile.js'
import { threadGroup } from '../../bench/loadtest/proc-sampler.js'
import { commandStatsDelta, parseCommandStats } from '../../bench/loadtest/redis-service.js'
import { observingStore, VisibilityLog } from '../../bench/loadtest/visibility.js'
import { statementShape } from '../../bench/loadtest/clickhouse-timer.js'
import type { SyncStore } from '../../src/merge/sync-store.js'

describe('loadtest flags', () => {
  const parse = (argv: string[]) => {
    const r = parseLoadtestOptions(argv)
    if (r.help) throw new Error('help')
    return r.options
  }

  it('defaults to every scenario with settings sized for a 2-core machine', () => {
    const o = parse([])
    expect(o.scenarios).toEqual(['backfill', 'incremental', 'notify-lost', 'api', 'mixed'])
    expect(o).toMatchObject({
      rate: 50,
      durationSec: 30,
      warmupSec: 10,
      apiRate: 2000,
      apiSeconds: 20,
      hosts: 8,
      redisDb: 13,
      baseline: true,
    })
    expect(o.spaces).toBeUndefined()
    expect(o.spaceviewEnv).toEqual({})
  })

  it('parses scenarios, shape, limits and spaceview settings', () => {
    const o = parse([
      '--scenario',
      'backfill,api',
      '--spaces',
      '10000',
      '--writers',
      '10',
      '--records',
      '10',
      '--rate',
      '1000',
      '--duration',
      '300',
      '--no-baseline',
      '--host-rps',
      '500',
      '--batch-ms',
      '20',
      '--out',
      'x.json',
    ])
    expect(o).toMatchObject({
      scenarios: ['backfill', 'api'],
      spaces: 10000,
      writers: 10,
      records: 10,
      rate: 1000,
      durationSec: 300,
      baseline: false,
      out: 'x.json',
    })
    expect(o.spaceviewEnv).toEqual({ SPACEVIEW_HOST_RPS: '500', MERGE_BATCH_MS: '20' })
  })

  it('refuses bad input with a usage error that names the flag', () => {
    expect(() => parse(['--scenario', 'nope'])).toThrow(/--scenario must be one of/)
    expect(() => parse(['--spaces', '0'])).toThrow(/--spaces must be an integer >= 1/)
    expect(() => parse(['--api-seconds', '120'])).toThrow(/--api-seconds must be an integer between 1 and 50/)
    expect(() => parse(['--redis-db', '12'])).toThrow(/must differ/)
    expect(() => parse(['--bogus'])).toThrow(UsageError)
    expect(() => parse(['extra'])).toThrow(/unexpected argument/)
  })

  it('prints --help through the CLI verb without starting anything', async () => {
    const out: string[] = []
    expect(await loadtestCommand(['--help'], (s) => out.push(s))).toBe(0)
    expect(out.join('\n')).toBe(LOADTEST_HELP)
    expect(LOADTEST_HELP).toContain('--scenario')
    expect(LOADTEST_HELP).toContain('--out <file.json>')
    await expect(loadtestCommand(['--rate', 'x'], () => undefined)).rejects.toThrow(UsageError)
  })
})

describe('Redis commandstats', () => {
  const info = (calls: number, usec: number) =>
    `# Commandstats\r\ncmdstat_evalsha:calls=${calls},usec=${usec},usec_per_call=1.0,rejected_calls=0,failed_calls=0\r\n` +
    'cmdstat_get:calls=5,usec=10,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n'

  it('parses INFO commandstats and turns two snapshots into a busy share', () => {
    const before = parseCommandStats(info(100, 1_000))
    expect(before.get('evalsha')).toEqual({ calls: 100, usec: 1_000 })
    const after = parseCommandStats(info(300, 101_000))
    const d = commandStatsDelta(before, after, 1_000)
    expect(d).toEqual({
      calls: 200,
      busyMs: 100,
      share: 0.1,
      top: [{ command: 'evalsha', calls: 200, ms: 100 }],
    })
  })
})

describe('thread groups', () => {
  it('strips digits so pools group together', () => {
    expect(threadGroup('QueryPipelineEx')).toBe('QueryPipelineEx')
    expect(threadGroup('BgSchPool12')).toBe('BgSchPool')
    expect(threadGroup('libuv-worker')).toBe('libuv-worker')
    expect(threadGroup('V8Worker-3')).toBe('VWorker')
    expect(threadGroup('123')).toBe('123')
  })
})

describe('CPU profile summary', () => {
  it('charges sample time to frames and groups it by category, idle excluded from shares', () => {
    const frame = (id: number, functionName: string, url: string) => ({
      id,
      callFrame: { functionName, url, lineNumber: 9 },
    })
    const summary = summarizeProfile({
      nodes: [
        frame(1, '(root)', ''),
        frame(2, '(idle)', ''),
        frame(3, 'verify', 'file:///x/node_modules/@noble/curves/esm/abstract/weierstrass.js'),
        frame(4, 'syncRepo', 'file:///x/dist/src/crawler/repo-sync.js'),
        frame(5, '(garbage collector)', ''),
        { ...frame(6, 'send', 'file:///x/node_modules/ioredis/built/Redis.js'), children: [7] },
        { ...frame(7, 'writeGeneric', 'node:internal/stream_base_commons'), children: [8] },
        frame(8, 'writeUtf8String', ''),
      ],
      samples: [2, 3, 3, 4, 5, 3, 8, 8],
      timeDeltas: [5000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
      startTime: 0,
      endTime: 10_000,
    })
    expect(summary.totalMs).toBe(12)
    expect(summary.idleMs).toBe(5)
    expect(summary.busyMs).toBe(7)
    expect(summary.categories[0]).toEqual({ name: 'pkg @noble/curves', ms: 3, share: 0.429 })
    // Socket-write time is charged to the package whose call it sits under, through node core frames.
    expect(summary.callers).toEqual([{ name: 'pkg ioredis', ms: 2, share: 0.286 }])
    expect(summary.categories.map((c) => c.name)).toEqual(
      expect.arrayContaining(['spaceview src/crawler', 'GC']),
    )
    expect(summary.functions[0]?.name).toBe('verify @noble/curves/esm/abstract/weierstrass.js:10')
  })

  it('categorises node core, packages and spaceview sources', () => {
    expect(categorize('node:internal/http', 'x')).toBe('node core')
    expect(categorize('file:///a/node_modules/bullmq/dist/esm/classes/worker.js', 'x')).toBe('pkg bullmq')
    expect(categorize('file:///a/src/merge/store.ts', 'x')).toBe('spaceview src/merge')
    expect(categorize('', '(program)')).toBe('V8/native (program)')
  })
})

describe('write → visible log', () => {
  const driver = (n: number, createdAt: string) => ({ $type: 'x', text: `driver write ${n}`, createdAt })

  it('counts each driver record once, at its first visibility', () => {
    const log = new VisibilityLog()
    log.expect(3)
    log.observe(
      [driver(1, '2026-01-01T00:00:00.000Z'), { text: 'generated', createdAt: '2025-01-01T00:00:00.000Z' }],
      0,
      Date.parse('2026-01-01T00:00:00.250Z'),
    )
    log.observe(
      [driver(1, '2026-01-01T00:00:00.000Z'), driver(2, '2026-01-01T00:00:01.000Z')],
      2,
      Date.parse('2026-01-01T00:00:02.000Z'),
    )
    const d = log.drain()
    expect(d.latencies).toEqual([250, 1000])
    expect(d).toMatchObject({
      visibleRecords: 4,
      deletes: 2,
      appliedWrites: 2,
      reachedAt: Date.parse('2026-01-01T00:00:02.000Z'),
    })
    expect(log.drain().latencies).toEqual([])
  })

  it('observes only applied writes and passes every call through unchanged', async () => {
    const log = new VisibilityLog()
    const calls: string[] = []
    const result = (outcome: string) => ({ outcome, rev: 'r', generation: 0, version: 1 })
    const inner = {
      applyRepoUpdate: async () => (calls.push('update'), result('applied')),
      replaceRepo: async () => (calls.push('replace'), result('unchanged')),
      getRepoState: async () => (calls.push('state'), null),
    } as unknown as SyncStore
    const store = observingStore(inner, log)
    const update = {
      space: 's',
      author: 'a',
      rev: 'r',
      ltState: new Uint8Array(),
      commitHash: new Uint8Array(),
      since: null,
      deletes: [],
    }
    expect(
      await store.applyRepoUpdate({
        ...update,
        upserts: [{ collection: 'c', rkey: 'k', cid: 'x', value: driver(7, new Date().toISOString()) }],
      }),
    ).toEqual(result('applied'))
    await store.replaceRepo({ ...update, records: [{ collection: 'c', rkey: 'k', cid: 'x', value: {} }] })
    await store.getRepoState('s', 'a')
    expect(calls).toEqual(['update', 'replace', 'state'])
    expect(log.drain()).toMatchObject({ visibleRecords: 1, appliedWrites: 1 })
  })
})

describe('API load planning', () => {
  it('signs DPoP proofs that the API verification accepts', async () => {
    const key = await generateDpopKey()
    const now = Math.floor(Date.now() / 1000)
    const proof = new FastDpopSigner(key).proof({
      htm: 'GET',
      htu: 'http://127.0.0.1:9/xrpc/dev.spaceview.listRecords',
      credential: 'cred',
      iat: now,
    })
    const verified = await verifyDpopProof(proof, {
      htm: 'GET',
      htu: 'http://127.0.0.1:9/xrpc/dev.spaceview.listRecords',
      credential: { token: 'cred', jkt: key.jkt },
    })
    expect(verified.jkt).toBe(key.jkt)
  })

  it('plans requests round-robin over targets with iat following the send schedule', async () => {
    const key = await generateDpopKey()
    const targets = [
      { space: 'at://did:plc:a/space/x/1', credential: 'c1', key },
      { space: 'at://did:plc:b/space/x/2', credential: 'c2', key },
    ]
    const plan = planAclRequests({
      publicUrl: 'http://127.0.0.1:9',
      targets,
      count: 4,
      rate: 2,
      limit: 20,
      iatBase: 1000,
    })
    expect(plan.map((p) => p.path)).toEqual([
      '/xrpc/dev.spaceview.listRecords?space=at%3A%2F%2Fdid%3Aplc%3Aa%2Fspace%2Fx%2F1&limit=20',
      '/xrpc/dev.spaceview.listRecords?space=at%3A%2F%2Fdid%3Aplc%3Ab%2Fspace%2Fx%2F2&limit=20',
      '/xrpc/dev.spaceview.listRecords?space=at%3A%2F%2Fdid%3Aplc%3Aa%2Fspace%2Fx%2F1&limit=20',
      '/xrpc/dev.spaceview.listRecords?space=at%3A%2F%2Fdid%3Aplc%3Ab%2Fspace%2Fx%2F2&limit=20',
    ])
    const iats = plan.map(
      (p) =>
        JSON.parse(Buffer.from((p.headers.dpop as string).split('.')[1] as string, 'base64url').toString())
          .iat,
    )
    expect(iats).toEqual([1000, 1000, 1001, 1001])
    expect(plan[1]?.headers.authorization).toBe('DPoP c2')
  })

  it('summarises a run: warm-up excluded from latency, errors by kind, throughput over the window', () => {
    const n = 10
    const out = {
      dueMs: Float64Array.from({ length: n }, (_, i) => i * 100),
      latencyMs: Float64Array.from({ length: n }, (_, i) => i + 1),
      status: Uint16Array.from({ length: n }, (_, i) => (i === 9 ? 401 : i === 8 ? 1 : 200)),
      dropped: 2,
      elapsedMs: 1000,
    }
    const r = summarizeApiRun(out, 12, 10)
    expect(r.ok).toBe(8)
    expect(r.errors).toBe(2)
    expect(r.errorsByStatus).toEqual({ 'HTTP 401': 1, timeout: 1 })
    expect(r.dropped).toBe(2)
    expect(r.throughput).toBe(8)
    // Warm-up: the first tenth of the 1.2 s window (120 ms) → requests due at 0 and 100 ms are not measured.
    expect(r.latency.count).toBe(6)
    expect(r.latency.min).toBe(3)
  })
})

describe('ClickHouse statement shapes', () => {
  it('group the same statement whatever its database and literals', () => {
    const a = statementShape("SELECT x\n  FROM spaceview.records FINAL WHERE kind = 'commit' AND n = 12")
    const b = statementShape("SELECT x FROM baseline.records FINAL  WHERE kind = 'record' AND n = 7")
    expect(a).toBe("SELECT x FROM records FINAL WHERE kind = '…' AND n = N")
    expect(b).toBe(a)
  })
})
