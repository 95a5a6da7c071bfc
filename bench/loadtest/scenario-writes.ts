/**
 * The write scenarios (incremental, notify-lost, mixed): after a setup backfill that is not measured, the
 * seeded write driver writes at --rate through devnet's real write path, first for --warmup seconds that
 * are not measured (JIT, caches and the pipeline reach their steady state), then for --duration; each
 * system's window records write → visible latency for every driver record, then waits until the system
 * holds every repo at devnet's head. notify-lost drops every notification (devnet fault) and shortens spaceview's sweep
 * interval; mixed adds API reads in the middle of the write window. spaceview and the baseline each run on
 * a fresh network from the same seed, with the same seeded driver.
 */
import type { LoadtestScenario } from '../../src/cli/loadtest.js'
import { generateDpopKey } from '../../src/protocol/dpop.js'
import { type ProfileSummary } from './profile.js'
import {
  planAclRequests,
  planPlainRequests,
  runApiLoad,
  type ApiRowResult,
  type ApiTarget,
} from './api-load.js'
import type { BaselineStats } from './baseline-process.js'
import {
  clickhouseChart,
  commonBins,
  figure,
  histogramSeries,
  latencyOf,
  resourceFigures,
  throughputSeries,
  type ScenarioResult,
} from './measurements.js'
import { PhaseRecorder, type PhaseMeasure } from './phase.js'
import type { SpaceviewStats } from './spaceview-process.js'
import { summarize } from './stats.js'
import {
  converge,
  interruption,
  openNetwork,
  startBaseline,
  startSpaceview,
  waitUntil,
  type BaselineHandle,
  type Network,
  type RunEnv,
  type Shape,
  type SpaceviewHandle,
} from './systems.js'
import {
  baseResult,
  baselineErrors,
  blRecorder,
  finish,
  fmt,
  jobNote,
  meanMsInPhase,
  notifyToVisible,
  ORCHESTRATOR_PROCESS,
  profileOf,
  rssChart,
  shapeFor,
  spaceviewErrors,
  stopQuietly,
  svRecorder,
  type BlPhase,
  type ScenarioOutput,
  type SvPhase,
} from './scenario-common.js'

// ---------------------------------------------------------------------------------------------- writes

interface WriteRun<P> {
  phase: P | undefined
  setupSeconds: number | null
  writes: { attempted: number; succeeded: number; failed: number; seconds: number }
  convergedAfterSec: number | null
  behind: number
  notifications: { sent: number; delivered: number; failed: number; dropped: number }
  p99PerSecond: Array<{ t: number; v: number }>
  writesPerSecond: Array<{ t: number; v: number }>
  api?: ApiRowResult
}

export interface WriteMode {
  label: LoadtestScenario
  dropNotifications: boolean
  /** Run API load in the middle of the write window (mixed). */
  api: boolean
}

/** Obtains space credentials for up to `n` spaces through devnet's real credential flow. */
export async function apiTargets(net: Network, n: number): Promise<ApiTarget[]> {
  const out: ApiTarget[] = []
  for (const space of net.spaces.slice(0, n)) {
    const key = await generateDpopKey()
    const { credential } = await net.devnet.obtainCredential(space, key)
    out.push({ space, credential, key })
  }
  return out
}

/**
 * One system's write window: the seeded write driver at --rate for --duration (optionally API load in the
 * middle), then the wait until the system holds every repo at devnet's head.
 */
async function writeWindow<S extends SpaceviewStats | BaselineStats>(
  env: RunEnv,
  net: Network,
  mode: WriteMode,
  rec: PhaseRecorder<S>,
  revs: (repos: Array<[string, string]>) => Promise<Array<string | null>>,
  api: { url: string; plan: () => ReturnType<typeof planAclRequests> } | undefined,
  windowLatencies: () => number[],
): Promise<Omit<WriteRun<PhaseMeasure<S>>, 'setupSeconds'>> {
  const { opts } = env
  const p99PerSecond: Array<{ t: number; v: number }> = []
  const writesPerSecond: Array<{ t: number; v: number }> = []
  if (mode.dropNotifications) net.devnet.faults.add({ kind: 'dropNotifications' })
  // One driver runs through the warm-up into the window, so the window opens on the steady state; the
  // recorder's first snapshot drains the warm-up's latencies, and the driver's counts are taken from there.
  const driver = net.devnet.startWriteDriver({
    ratePerSec: opts.rate,
    durationMs: (opts.warmupSec + opts.durationSec) * 1000,
    seed: opts.seed,
  })
  if (opts.warmupSec > 0) {
    env.log(`[${mode.label}] warm-up: ${opts.rate} writes/s for ${opts.warmupSec} s (not measured)`)
    await Promise.race([driver.done, new Promise((r) => setTimeout(r, opts.warmupSec * 1000))])
  }
  const base = { ...driver.stats }
  const before = { ...net.devnet.notifications }
  await rec.start()
  const started = Date.now()
  let lastAttempted = base.succeeded
  const ticker = setInterval(() => {
    if (interruption.interrupted) void driver.stop()
    const t = Date.now() - started
    const lat = windowLatencies()
    const s = summarize(lat)
    if (s.p99 !== null) p99PerSecond.push({ t, v: s.p99 / 1000 })
    writesPerSecond.push({ t, v: driver.stats.succeeded - lastAttempted })
    lastAttempted = driver.stats.succeeded
  }, 1000)
  let apiRun: ApiRowResult | undefined
  try {
    if (api) {
      const window = Math.min(opts.apiSeconds, opts.durationSec)
      await new Promise((r) => setTimeout(r, Math.max(0, ((opts.durationSec - window) / 2) * 1000)))
      const requests = api.plan()
      env.log(
        `[${mode.label}] API load: ${requests.length} listRecords at ${opts.apiRate}/s during the writes`,
      )
      apiRun = await runApiLoad(api.url, requests, opts.apiRate)
    }
    await driver.done
  } finally {
    clearInterval(ticker)
  }
  const writesSec = (Date.now() - started) / 1000
  const writesEnded = Date.now()
  await net.devnet.settle()
  env.log(
    `[${mode.label}] writes done: ${driver.stats.succeeded - base.succeeded} ok, ${driver.stats.failed - base.failed} ` +
      `failed in ${writesSec.toFixed(1)} s; waiting for convergence`,
  )
  let lastLog = 0
  const conv = await converge(net, revs, opts.timeoutSec * 1000, (behind) => {
    if (Date.now() - lastLog > 2000) {
      lastLog = Date.now()
      env.log(`[${mode.label}] converging: ${behind} repos behind devnet`)
    }
  })
  const phase = await rec.stop()
  if (mode.dropNotifications) net.devnet.faults.clear()
  const after = net.devnet.notifications
  return {
    phase,
    writes: {
      attempted: driver.stats.attempted - base.attempted,
      succeeded: driver.stats.succeeded - base.succeeded,
      failed: driver.stats.failed - base.failed,
      seconds: writesSec,
    },
    convergedAfterSec: conv.at === null ? null : (conv.at - writesEnded) / 1000,
    behind: conv.behind,
    notifications: {
      sent: after.sent - before.sent,
      delivered: after.delivered - before.delivered,
      failed: after.failed - before.failed,
      dropped: after.dropped - before.dropped,
    },
    p99PerSecond,
    writesPerSecond,
    ...(apiRun ? { api: apiRun } : {}),
  }
}

async function spaceviewWrites(
  env: RunEnv,
  mode: WriteMode,
  shape: Shape,
): Promise<WriteRun<SvPhase> & { profile?: ProfileSummary }> {
  const net = await openNetwork(env, shape, `${mode.label}/spaceview`)
  let sv: SpaceviewHandle | undefined
  try {
    const extra: Record<string, string> = mode.dropNotifications
      ? { SPACEVIEW_SWEEP_INTERVAL_SEC: String(env.opts.sweepIntervalSec) }
      : {}
    sv = await startSpaceview(env, net, mode.label, extra)
    const handle = sv
    const t0 = Date.now()
    await handle.child.request('expect', { records: net.expected })
    await handle.child.request('addSpaces', { spaces: net.spaces, session: net.session })
    env.log(`[${mode.label}] setup: spaceview backfills ${fmt(net.expected)} records (not measured)`)
    let reached = false
    let bootstrapsLeft = Infinity
    await waitUntil(
      async () => {
        const s = await handle.child.request<SpaceviewStats>('stats')
        const q = s.queues['space-bootstrap'] ?? {}
        bootstrapsLeft = (q.waiting ?? 0) + (q.active ?? 0) + (q.delayed ?? 0) + (q.prioritized ?? 0)
        reached ||= s.visibility.reachedAt !== null
        return reached && bootstrapsLeft === 0
      },
      env.opts.timeoutSec * 1000,
      500,
    )
    const setupSeconds = reached ? (Date.now() - t0) / 1000 : null
    const pending: number[] = []
    const rec = svRecorder(env, handle, mode.label, (s) => pending.push(...s.visibility.latencies))
    const targets = mode.api ? await apiTargets(net, Math.min(20, net.spaces.length)) : []
    const run = await writeWindow(
      env,
      net,
      mode,
      rec,
      (repos) => handle.child.request<Array<string | null>>('repoStates', { repos }),
      mode.api
        ? {
            url: handle.apiUrl,
            plan: () =>
              planAclRequests({
                publicUrl: handle.publicUrl,
                targets,
                count: Math.round(env.opts.apiRate * Math.min(env.opts.apiSeconds, env.opts.durationSec)),
                rate: env.opts.apiRate,
                limit: env.opts.apiLimit,
                iatBase: Date.now() / 1000,
              }),
          }
        : undefined,
      () => pending.splice(0),
    )
    await handle.child.stop()
    const profile = profileOf(handle)
    sv = undefined
    return { ...run, setupSeconds, ...(profile ? { profile } : {}) }
  } finally {
    await stopQuietly(sv)
    await net.devnet.close()
  }
}

async function baselineWrites(env: RunEnv, mode: WriteMode, shape: Shape): Promise<WriteRun<BlPhase>> {
  const net = await openNetwork(env, shape, `${mode.label}/baseline`)
  let bl: BaselineHandle | undefined
  try {
    bl = await startBaseline(env, net, mode.label)
    const handle = bl
    await handle.child.request('addSpaces', { spaces: net.spaces, session: net.session })
    env.log(
      `[${mode.label}] setup: baseline backfills ${fmt(net.expected)} records row by row (not measured)`,
    )
    const t0 = Date.now()
    const outcome = await handle.child.request<{ complete: boolean }>(
      'backfill',
      { spaces: net.spaces, deadline: Date.now() + env.opts.timeoutSec * 1000 },
      (env.opts.timeoutSec + 60) * 1000,
    )
    const setupSeconds = outcome.complete ? (Date.now() - t0) / 1000 : null
    if (mode.dropNotifications) {
      await handle.child.request('follow', { mode: 'poll' })
    } else {
      const syncer = net.devnet.publishSyncer(handle.url, `baseline-${mode.label}`)
      await handle.child.request('register', { spaces: net.spaces, serviceId: syncer.serviceId })
      await handle.child.request('follow', { mode: 'notify' })
    }
    const pending: number[] = []
    const rec = blRecorder(env, handle, mode.label, (s) => pending.push(...s.visibility.latencies))
    const run = await writeWindow(
      env,
      net,
      mode,
      rec,
      (repos) => handle.child.request<Array<string | null>>('revs', { repos }),
      mode.api
        ? {
            url: handle.url,
            plan: () =>
              planPlainRequests(
                net.spaces.slice(0, 20),
                Math.round(env.opts.apiRate * Math.min(env.opts.apiSeconds, env.opts.durationSec)),
                env.opts.apiLimit,
              ),
          }
        : undefined,
      () => pending.splice(0),
    )
    await handle.child.request('stopFollowing')
    await handle.child.stop()
    bl = undefined
    return { ...run, setupSeconds }
  } finally {
    await stopQuietly(bl)
    await net.devnet.close()
  }
}

/** The API load's failed requests by kind (HTTP status, timeout, transport) and those never sent. */
function apiErrors(a: ApiRowResult | undefined): Record<string, number> {
  if (!a) return {}
  const out: Record<string, number> = {}
  for (const [kind, n] of Object.entries(a.errorsByStatus)) out[`listRecords ${kind}`] = n
  if (a.dropped) out['listRecords not sent (too many in flight)'] = a.dropped
  return out
}

export async function runWrites(env: RunEnv, mode: WriteMode): Promise<ScenarioOutput> {
  const startedAt = Date.now()
  const shape = shapeFor(mode.label, env.opts)
  const sv = await spaceviewWrites(env, mode, shape)
  const bl = env.opts.baseline ? await baselineWrites(env, mode, shape) : undefined
  const result: ScenarioResult = {
    ...baseResult(
      mode.label,
      shape,
      { expected: shape.spaces * shape.writers * shape.records } as Network,
      startedAt,
    ),
  }
  const { opts } = env
  result.params = {
    targetRate: opts.rate,
    durationSec: opts.durationSec,
    warmupSec: opts.warmupSec,
    hosts: shape.hosts,
    ...(mode.dropNotifications ? { sweepIntervalSec: opts.sweepIntervalSec } : {}),
    ...(mode.api ? { apiRate: opts.apiRate, apiSeconds: Math.min(opts.apiSeconds, opts.durationSec) } : {}),
  }
  const svLat = latencyOf(sv.phase)
  const blLat = latencyOf(bl?.phase)
  const achieved = sv.writes.succeeded / sv.writes.seconds
  const blAchieved = bl ? bl.writes.succeeded / bl.writes.seconds : null
  const n2v = notifyToVisible(sv.phase)
  const caveats: string[] = []
  if (achieved < 1000) caveats.push(`at ${achieved.toFixed(0)} writes/s achieved, not 1,000`)
  if (opts.durationSec < 300) caveats.push(`for ${opts.durationSec} s, not 5 minutes`)
  const caveat = caveats.length > 0 ? caveats.join(', ') : undefined
  const latTarget =
    mode.label === 'incremental'
      ? { target: { op: '<' as const, value: 500, ...(caveat ? { caveat } : {}) } }
      : {}
  result.figures.push(
    figure(
      'writes_per_s',
      `writes/s achieved (target rate ${opts.rate}/s)`,
      'writes/s',
      achieved,
      blAchieved,
      'higher',
      { digits: 1 },
    ),
    figure('write_to_visible_p50_ms', 'write → visible p50', 'ms', svLat.p50, blLat.p50, 'lower', {
      digits: 0,
    }),
    figure('write_to_visible_p95_ms', 'write → visible p95', 'ms', svLat.p95, blLat.p95, 'lower', {
      digits: 0,
    }),
    figure('write_to_visible_p99_ms', 'write → visible p99', 'ms', svLat.p99, blLat.p99, 'lower', {
      digits: 0,
      ...latTarget,
    }),
    figure('write_to_visible_max_ms', 'write → visible max', 'ms', svLat.max, blLat.max, 'lower', {
      digits: 0,
    }),
    figure(
      'notify_to_visible_p50_ms',
      'notify → visible p50 (spaceview histogram, bucketed)',
      'ms',
      n2v.p50,
      null,
      'lower',
      { digits: 0 },
    ),
    figure(
      'notify_to_visible_p99_ms',
      'notify → visible p99 (spaceview histogram, bucketed)',
      'ms',
      n2v.p99,
      null,
      'lower',
      { digits: 0 },
    ),
    figure(
      'host_slot_wait_mean_ms',
      'host slot wait per sync (mean; per-host caps)',
      'ms',
      meanMsInPhase(sv.phase, (m) => m.hostSlotWait),
      null,
      'lower',
      { digits: 1 },
    ),
    figure(
      'host_pull_mean_ms',
      'listRepoOps round trip to the host (mean)',
      'ms',
      meanMsInPhase(sv.phase, (m) => m.hostPulls),
      null,
      'lower',
      { digits: 1 },
    ),
    figure(
      'converge_after_writes_s',
      'converged after the last write',
      's',
      sv.convergedAfterSec,
      bl?.convergedAfterSec ?? null,
      'lower',
      { digits: 1 },
    ),
    figure(
      'records_observed',
      'driver records seen becoming visible',
      'records',
      svLat.count,
      bl ? blLat.count : null,
      'higher',
      { digits: 0 },
    ),
    figure(
      'setup_backfill_s',
      `setup backfill of ${fmt(shape.spaces * shape.writers * shape.records)} records (not the backfill scenario)`,
      's',
      sv.setupSeconds,
      bl?.setupSeconds ?? null,
      'lower',
      {
        digits: 1,
      },
    ),
  )
  if (mode.api) {
    const a = sv.api
    const b = bl?.api
    result.figures.push(
      figure(
        'api_p50_ms',
        'listRecords p50 during writes (spaceview with ACL; baseline without)',
        'ms',
        a?.latency.p50,
        b?.latency.p50,
        'lower',
      ),
      figure('api_p99_ms', 'listRecords p99 during writes', 'ms', a?.latency.p99, b?.latency.p99, 'lower', {
        target: {
          op: '<',
          value: 20,
          ...(opts.apiRate < 2000 ? { caveat: `offered ${opts.apiRate} req/s, not 2,000` } : {}),
        },
      }),
      figure(
        'api_throughput',
        'listRecords ok/s during writes',
        'req/s',
        a?.throughput,
        b?.throughput,
        'higher',
        { digits: 0 },
      ),
      figure(
        'api_errors',
        'listRecords errors + dropped',
        'requests',
        a ? a.errors + a.dropped : null,
        b ? b.errors + b.dropped : null,
        'lower',
        { digits: 0 },
      ),
    )
    if (a) result.latency['api spaceview'] = a.latency
    if (b) result.latency['api baseline'] = b.latency
  }
  result.figures.push(...resourceFigures(sv.phase, bl?.phase))
  // CPU per write over the whole window (the writes and the catch-up after them): what each write costs the
  // syncer, and what generating it costs devnet (the orchestrator is devnet plus the load generator).
  const perWrite = (phase: PhaseMeasure | undefined, name: string, writes: number) => {
    const p = phase?.processes.find((x) => x.name === name)
    return p && writes > 0 ? (p.cpuSec * 1000) / writes : null
  }
  result.figures.push(
    figure(
      'cpu_ms_per_write',
      'syncer CPU per devnet write (window)',
      'ms',
      perWrite(sv.phase, 'spaceview', sv.writes.succeeded),
      bl ? perWrite(bl.phase, 'baseline', bl.writes.succeeded) : null,
      'lower',
      { digits: 2 },
    ),
    figure(
      'devnet_cpu_ms_per_write',
      'devnet + load generator CPU per write (window)',
      'ms',
      perWrite(sv.phase, ORCHESTRATOR_PROCESS, sv.writes.succeeded),
      bl ? perWrite(bl.phase, ORCHESTRATOR_PROCESS, bl.writes.succeeded) : null,
      'lower',
      { digits: 2 },
    ),
  )
  result.latency['write → visible spaceview'] = svLat
  if (bl) result.latency['write → visible baseline'] = blLat
  const [hs, hb] = commonBins(sv.phase?.latencies.values() ?? [], bl?.phase?.latencies.values() ?? [])
  result.histograms['write_to_visible_spaceview'] = hs
  if (bl) result.histograms['write_to_visible_baseline'] = hb
  result.charts.push(
    {
      title: 'write → visible latency histogram (x: latency)',
      kind: 'latency',
      unit: 'count',
      series: [histogramSeries('spaceview', hs), ...(bl ? [histogramSeries('baseline', hb)] : [])],
    },
    {
      title: 'write → visible p99 per second',
      kind: 'time',
      unit: 'seconds',
      series: [
        { name: 'spaceview', points: sv.p99PerSecond },
        ...(bl ? [{ name: 'baseline', points: bl.p99PerSecond }] : []),
      ],
    },
    {
      title: 'writes/s (devnet driver) and records visible/s',
      kind: 'time',
      unit: 'per_second',
      series: [
        { name: 'writes ok/s (spaceview run)', points: sv.writesPerSecond },
        throughputSeries('visible/s spaceview', sv.phase),
        ...(bl ? [throughputSeries('visible/s baseline', bl.phase)] : []),
      ],
    },
    rssChart(sv.phase, bl?.phase),
    clickhouseChart([
      ['spaceview', sv.phase],
      ['baseline', bl?.phase],
    ]),
  )
  if (mode.api && sv.api) {
    const [as, ab] = commonBins(sv.api.samples, bl?.api?.samples ?? [])
    result.histograms['api_spaceview'] = as
    if (bl?.api) result.histograms['api_baseline'] = ab
    result.charts.push({
      title: 'listRecords latency histogram during writes (x: latency)',
      kind: 'latency',
      unit: 'count',
      series: [
        histogramSeries('spaceview (ACL)', as),
        ...(bl?.api ? [histogramSeries('baseline (no ACL)', ab)] : []),
      ],
    })
  }
  result.errors['spaceview'] = {
    ...spaceviewErrors(sv.phase),
    ...apiErrors(sv.api),
    ...(sv.writes.failed ? { 'devnet writes failed': sv.writes.failed } : {}),
    ...(sv.notifications.failed ? { 'notifications failed to deliver': sv.notifications.failed } : {}),
    ...(sv.convergedAfterSec === null ? { 'repos behind at timeout': sv.behind } : {}),
  }
  if (bl)
    result.errors['baseline'] = {
      ...baselineErrors(bl.phase),
      ...apiErrors(bl.api),
      ...(bl.writes.failed ? { 'devnet writes failed': bl.writes.failed } : {}),
      ...(bl.convergedAfterSec === null ? { 'repos behind at timeout': bl.behind } : {}),
    }
  result.notes.push(jobNote(sv.phase))
  result.notes.push(
    `notifications in the spaceview window: ${sv.notifications.sent} sent, ${sv.notifications.delivered} delivered, ` +
      `${sv.notifications.failed} failed, ${sv.notifications.dropped} dropped (devnet counts both hops: writer host → authority → syncer)`,
    'write → visible counts from the write driver building the request (before devnet signs and stores it) to the store ' +
      'write that made the record queryable resolving; deletes have no timestamp and are not in the latency figures',
  )
  if (achieved < opts.rate * 0.9)
    result.notes.push(
      `devnet's write driver reached ${achieved.toFixed(1)} of the ${opts.rate} writes/s asked: devnet (the write driver, ` +
        'every host, both notification hops) runs on one thread of the orchestrator process; see its CPU per write, ' +
        'and the other processes on the machine',
    )
  const out: ScenarioOutput = { result: finish(result, startedAt, sv.phase, bl?.phase) }
  if (sv.profile) out.profile = sv.profile
  return out
}
