/**
 * The backfill scenario: S spaces x W writers x R records synced from empty, first by spaceview (the window
 * closes the moment the last record becomes visible, to the millisecond, via the visibility log), then by
 * the baseline on the same devnet (capped at --baseline-seconds; its rate is over what it made visible).
 * "End to end" is checked: the store's reader must return the ground-truth count for sampled spaces.
 * The per-host politeness caps bound the figure: every host lease counts against its host's rate cap, and
 * a backfill takes one lease per space (its bootstrap's listRepos, getSpace and registerNotify) and one per
 * repo (getRepo), so records/s ≤ records × hosts × requests/s per host ÷ (spaces + repos); the scenario
 * states that ceiling for the limits spaceview ran with.
 */
import { availableParallelism } from 'node:os'
import { loadConfig } from '../../src/config.js'
import type { PhaseMeasure } from './phase.js'
import { type ProfileSummary } from './profile.js'
import { clickhouseChart, cpuSecOf, figure, resourceFigures, throughputSeries } from './measurements.js'
import {
  openNetwork,
  startBaseline,
  startSpaceview,
  waitUntil,
  type BaselineHandle,
  type Network,
  type RunEnv,
  type SpaceviewHandle,
} from './systems.js'
import {
  baseResult,
  baselineErrors,
  blRecorder,
  finish,
  fmt,
  jobNote,
  profileOf,
  rssChart,
  shapeFor,
  spaceviewErrors,
  stopQuietly,
  svRecorder,
  type BlPhase,
  type ScenarioOutput,
} from './scenario-common.js'

// ---------------------------------------------------------------------------------------------- backfill

/** Backfills `net` with spaceview; the window closes when every record is visible (or at the timeout). */
async function spaceviewBackfill(env: RunEnv, net: Network, sv: SpaceviewHandle, label: string) {
  await sv.child.request('expect', { records: net.expected })
  const rec = svRecorder(env, sv, label)
  await rec.start()
  await sv.child.request('addSpaces', { spaces: net.spaces, session: net.session })
  const done = await waitUntil(() => rec.reached !== null, env.opts.timeoutSec * 1000, 200)
  const phase = await rec.stop()
  const seconds = done && phase.reachedAt ? (phase.reachedAt - phase.startedAt) / 1000 : null
  return {
    phase,
    seconds,
    visible: phase.last.visibility.visibleRecords - phase.first.visibility.visibleRecords,
  }
}

/** The host limits spaceview runs with (--host-rps / --host-concurrency, else its defaults). */
function hostLimits(env: RunEnv): { rps: number; concurrency: number } {
  const config = loadConfig({ ...env.opts.spaceviewEnv })
  return { rps: config.hostRequestsPerSec, concurrency: config.hostConcurrency }
}

export async function runBackfill(env: RunEnv): Promise<ScenarioOutput> {
  const startedAt = Date.now()
  const shape = shapeFor('backfill', env.opts)
  const net = await openNetwork(env, shape, 'backfill')
  const result = baseResult('backfill', shape, net, startedAt)
  let sv: SpaceviewHandle | undefined
  let bl: BaselineHandle | undefined
  let svRun: Awaited<ReturnType<typeof spaceviewBackfill>> | undefined
  let blPhase: BlPhase | undefined
  let profile: ProfileSummary | undefined
  try {
    sv = await startSpaceview(env, net, 'backfill')
    env.log(`[backfill] spaceview: syncing ${fmt(net.expected)} records from empty`)
    svRun = await spaceviewBackfill(env, net, sv, 'backfill')
    // End to end means queryable: count what the store's reader returns for a sample of spaces.
    const step = Math.max(1, Math.ceil(net.spaces.length / 200))
    const sample = net.spaces.filter((_, i) => i % step === 0)
    const counts = await sv.child.request<number[]>('countRecords', { spaces: sample })
    const perSpace = shape.writers * shape.records
    const wrong = counts.filter((c) => c !== perSpace).length
    const complete = svRun.seconds !== null
    result.notes.push(
      `queryable check: listRecords-visible counts of ${sample.length} sampled spaces — ${sample.length - wrong} match ` +
        `the devnet ground truth (${perSpace} each), ${wrong} differ` +
        (complete ? '' : ' (the backfill did not finish, so unfinished spaces are expected to differ)'),
    )
    // Only a finished backfill with wrong counts is an error; an unfinished one is reported above.
    if (wrong > 0 && complete)
      result.errors['spaceview'] = { ...result.errors['spaceview'], 'spaces with wrong counts': wrong }
    await sv.child.stop()
    profile = profileOf(sv)
    sv = undefined

    if (env.opts.baseline) {
      bl = await startBaseline(env, net, 'backfill')
      await bl.child.request('addSpaces', { spaces: net.spaces, session: net.session })
      env.log(
        `[backfill] baseline: the same spaces one request at a time, at most ${env.opts.baselineSeconds} s`,
      )
      const rec = blRecorder(env, bl, 'backfill')
      await rec.start()
      const outcome = await bl.child.request<{ complete: boolean }>(
        'backfill',
        { spaces: net.spaces, deadline: Date.now() + env.opts.baselineSeconds * 1000 },
        (env.opts.baselineSeconds + 600) * 1000,
      )
      blPhase = await rec.stop()
      if (!outcome.complete)
        result.notes.push(
          `baseline stopped at its ${env.opts.baselineSeconds} s cap; its rate is over the records it made visible, ` +
            'and its completion time is projected from that rate',
        )
      await bl.child.stop()
      bl = undefined
    }
  } finally {
    await stopQuietly(sv)
    await stopQuietly(bl)
    await net.devnet.close()
  }
  const svPhase = svRun?.phase
  // A backfill that did not finish in --timeout is still measured: its rate over what became visible.
  const svRate = svRun?.seconds
    ? net.expected / svRun.seconds
    : svRun && svPhase && svPhase.seconds > 0
      ? svRun.visible / svPhase.seconds
      : null
  const blVisible = blPhase
    ? blPhase.last.visibility.visibleRecords - blPhase.first.visibility.visibleRecords
    : 0
  const blRate = blPhase && blPhase.seconds > 0 ? blVisible / blPhase.seconds : null
  const limits = hostLimits(env)
  const leases = shape.spaces * (1 + shape.writers)
  const ceiling = Math.floor((net.expected * shape.hosts * limits.rps) / leases)
  result.params = {
    hosts: shape.hosts,
    timeoutSec: env.opts.timeoutSec,
    baselineSeconds: env.opts.baselineSeconds,
    hostRps: limits.rps,
    hostConcurrency: limits.concurrency,
    ceilingRecordsPerSec: ceiling,
  }
  result.notes.push(
    `ceiling at these host limits: records × hosts × rps ÷ host leases = ${fmt(net.expected)} × ` +
      `${shape.hosts} × ${limits.rps} ÷ ${fmt(leases)} = ${fmt(ceiling)} rec/s (a lease per space bootstrap ` +
      `and per getRepo, all under each host's rate cap; each host also serves at most ` +
      `${limits.concurrency} of spaceview's requests at once; raise them with --host-rps / --host-concurrency)`,
  )
  result.figures.push(
    figure(
      'records_per_s',
      'verified records/s end to end (fetched, verified, merged, queryable)',
      'rec/s',
      svRate,
      blRate,
      'higher',
      {
        target: { op: '>=', value: 30_000 },
        digits: 0,
      },
    ),
    figure(
      'backfill_seconds',
      'time to sync everything',
      's',
      svRun?.seconds ?? (svRate ? net.expected / svRate : null),
      blRate ? net.expected / blRate : null,
      'lower',
      {
        ...(blPhase && blVisible < net.expected ? { note: 'baseline projected from its rate' } : {}),
        digits: 1,
      },
    ),
    figure(
      'records_visible',
      'records made visible in the window',
      'records',
      svRun?.visible ?? null,
      blVisible,
      'higher',
      { digits: 0 },
    ),
    figure(
      'repo_fetches_per_s',
      'repos fetched per second',
      'repos/s',
      svRate ? svRate / shape.records : null,
      blRate ? blRate / shape.records : null,
      'higher',
      {
        digits: 1,
      },
    ),
    figure(
      'cpu_ms_per_1k_records',
      'CPU of the syncer process per 1,000 records made visible',
      'ms',
      cpuMsPer1k(svPhase, 'spaceview', svRun?.visible),
      cpuMsPer1k(blPhase, 'baseline', blVisible),
      'lower',
      { digits: 0 },
    ),
    ...resourceFigures(svPhase, blPhase),
  )
  const cpuBound = cpuBoundNote(svPhase, svRun?.visible)
  if (cpuBound !== null) result.notes.push(cpuBound)
  if (svRun && svRun.seconds === null)
    result.notes.push(
      `spaceview did not make all ${fmt(net.expected)} records visible within --timeout ${env.opts.timeoutSec} s ` +
        `(${fmt(svRun.visible)} were); its rate is over what became visible and its time is projected from that rate`,
    )
  result.errors['spaceview'] = { ...result.errors['spaceview'], ...spaceviewErrors(svPhase) }
  result.errors['baseline'] = baselineErrors(blPhase)
  result.notes.push(jobNote(svPhase))
  result.charts.push(
    {
      title: 'Backfill throughput (records/s)',
      kind: 'time',
      unit: 'per_second',
      series: [throughputSeries('spaceview', svPhase), throughputSeries('baseline', blPhase)],
    },
    rssChart(svPhase, blPhase),
    clickhouseChart([
      ['spaceview', svPhase],
      ['baseline', blPhase],
    ]),
  )
  return { result: finish(result, startedAt, svPhase, blPhase), ...(profile ? { profile } : {}) }
}

/** CPU milliseconds of the process named `name` per 1,000 of `records` in a phase (null if either is unknown). */
function cpuMsPer1k(
  phase: PhaseMeasure | undefined,
  name: string,
  records: number | undefined,
): number | null {
  const cpuSec = cpuSecOf(phase, name)
  return cpuSec === null || !records ? null : (cpuSec * 1e6) / records
}

/**
 * What the machine's cores allow at the CPU the run cost per record: every process of the spaceview run
 * (spaceview, devnet with the load generator, Redis) shares them, so records/s ≤ cores ÷ CPU per record.
 */
function cpuBoundNote(phase: PhaseMeasure | undefined, records: number | undefined): string | null {
  if (!phase || !records) return null
  const total = phase.processes.reduce((n, p) => n + p.cpuSec, 0)
  const own = cpuSecOf(phase, 'spaceview')
  if (total <= 0 || own === null) return null
  const cores = availableParallelism()
  return (
    `CPU bound on this machine: the run's processes used ${total.toFixed(1)} CPU-s for ${fmt(records)} records ` +
    `(spaceview ${own.toFixed(1)}), so ${cores} cores allow at most ${fmt(Math.floor((cores * records) / total))} ` +
    `rec/s with devnet on the same machine, ${fmt(Math.floor((cores * records) / own))} rec/s for spaceview alone`
  )
}
