/**
 * What every load-test scenario shares: the default network shapes, the progress-printing phase recorders
 * for spaceview and the baseline, and the conversions of their raw windows into errors, notes and the
 * common parts of a ScenarioResult.
 *
 * Invariant: helpers here only read phase measurements and format them; they start and stop nothing.
 */
import type { LoadtestOptions, LoadtestScenario } from '../../src/cli/loadtest.js'
import { summarizeProfileFile, type ProfileSummary } from './profile.js'
import type { BaselineStats } from './baseline-process.js'
import { processFigures, sharesOf, type Chart, type ScenarioResult } from './measurements.js'
import { PhaseRecorder, type PhaseMeasure } from './phase.js'
import type { SpaceviewStats, SumCount } from './spaceview-process.js'
import { bucketDelta, histogramQuantile } from './stats.js'
import {
  type BaselineHandle,
  type Network,
  type RunEnv,
  type Shape,
  type SpaceviewHandle,
} from './systems.js'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

export const DEFAULT_SHAPES: Record<LoadtestScenario, Omit<Shape, 'hosts'>> = {
  backfill: { spaces: 200, writers: 5, records: 100 },
  api: { spaces: 20, writers: 5, records: 200 },
  incremental: { spaces: 40, writers: 3, records: 10 },
  'notify-lost': { spaces: 40, writers: 3, records: 10 },
  mixed: { spaces: 40, writers: 3, records: 10 },
}

export function shapeFor(scenario: LoadtestScenario, opts: LoadtestOptions): Shape {
  const d = DEFAULT_SHAPES[scenario]
  return {
    spaces: opts.spaces ?? d.spaces,
    writers: opts.writers ?? d.writers,
    records: opts.records ?? d.records,
    hosts: opts.hosts,
  }
}

export interface ScenarioOutput {
  result: ScenarioResult
  profile?: ProfileSummary
}

export type SvPhase = PhaseMeasure<SpaceviewStats>
export type BlPhase = PhaseMeasure<BaselineStats>

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
export const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`

/** Display name of this process (devnet and the load generator run here) in process figures. */
export const ORCHESTRATOR_PROCESS = 'orchestrator (devnet + load generator)'

export function procList(env: RunEnv, name: string, pid: number): Array<[string, number]> {
  const list: Array<[string, number]> = [
    [ORCHESTRATOR_PROCESS, process.pid],
    [name, pid],
  ]
  if (env.redis.pid !== undefined) list.push(['redis-server', env.redis.pid])
  return list
}

export function queueLine(q: SpaceviewStats['queues']): string {
  const sum = (state: string) => Object.values(q).reduce((n, c) => n + (c[state] ?? 0), 0)
  return `jobs wait ${sum('waiting') + sum('prioritized')} act ${sum('active')} delay ${sum('delayed')} fail ${sum('failed')}`
}

export function svRecorder(
  env: RunEnv,
  sv: SpaceviewHandle,
  label: string,
  onStats?: (s: SpaceviewStats) => void,
): PhaseRecorder<SpaceviewStats> {
  let prev = 0
  let prevAt = Date.now()
  return new PhaseRecorder<SpaceviewStats>({
    system: 'spaceview',
    child: sv.child,
    redis: env.redis,
    processes: procList(env, 'spaceview', sv.child.pid),
    onPoll: (s, p) => {
      onStats?.(s)
      const now = Date.now()
      const rate = ((p.visible - prev) / Math.max(0.001, (now - prevAt) / 1000)) | 0
      prev = p.visible
      prevAt = now
      env.log(
        `[${label}] spaceview ${p.elapsedSec.toFixed(0)} s: ${fmt(p.visible)} rec visible (${fmt(rate)}/s) | ` +
          `${queueLine(s.queues)} | elu ${s.vitals.elu} | rss ${mib(s.vitals.rssBytes)}`,
      )
    },
  })
}

export function blRecorder(
  env: RunEnv,
  bl: BaselineHandle,
  label: string,
  onStats?: (s: BaselineStats) => void,
): PhaseRecorder<BaselineStats> {
  return new PhaseRecorder<BaselineStats>({
    system: 'baseline',
    child: bl.child,
    redis: env.redis,
    processes: procList(env, 'baseline', bl.child.pid),
    onPoll: (s, p) => {
      onStats?.(s)
      env.log(
        `[${label}] baseline ${p.elapsedSec.toFixed(0)} s: ${fmt(p.visible)} rec visible | ${s.counters.requests} requests, ` +
          `${s.counters.rowsInserted} row inserts, backlog ${s.backlog} | elu ${s.vitals.elu}`,
      )
    },
  })
}

/** Counter deltas of spaceview's own metrics over a window: errors worth reporting. */
export function spaceviewErrors(phase: SvPhase | undefined): Record<string, number> {
  if (!phase) return {}
  const a = phase.first.metrics
  const b = phase.last.metrics
  const out: Record<string, number> = {}
  const add = (k: string, v: number) => {
    if (v > 0) out[k] = v
  }
  add('job retries', b.jobRetries - a.jobRetries)
  add('dead letters', b.deadLetters - a.deadLetters)
  for (const [k, v] of Object.entries(b.verificationFailures))
    add(`verification failure ${k}`, v - (a.verificationFailures[k] ?? 0))
  for (const [k, v] of Object.entries(b.hostErrors)) add(`host error ${k}`, v - (a.hostErrors[k] ?? 0))
  // Deferrals (limiter refusals) are not errors: the job runs again later; jobNote counts them.
  for (const [k, v] of Object.entries(b.repoSyncs))
    if (!k.endsWith(':ok') && !k.endsWith(':deferred')) add(`repo sync ${k}`, v - (a.repoSyncs[k] ?? 0))
  for (const [k, v] of Object.entries(b.notifications))
    if (k.endsWith(':rejected')) add(`notification ${k}`, v - (a.notifications[k] ?? 0))
  const failedJobs = Object.values(phase.last.queues).reduce((n, c) => n + (c.failed ?? 0), 0)
  add('failed jobs (in queues)', failedJobs)
  add('log warn', phase.last.vitals.logs.warn - phase.first.vitals.logs.warn)
  add('log error', phase.last.vitals.logs.error - phase.first.vitals.logs.error)
  for (const m of phase.last.vitals.logs.messages.slice(0, 5)) add(`log "${m.msg}" (process total)`, m.count)
  return out
}

export function baselineErrors(phase: BlPhase | undefined): Record<string, number> {
  if (!phase) return {}
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(phase.last.counters.errors)) {
    const d = v - (phase.first.counters.errors[k] ?? 0)
    if (d > 0) out[k] = d
  }
  return out
}

/** Job attempts per queue over a window (a limiter deferral is an attempt that moved itself to delayed). */
export function jobAttempts(phase: SvPhase | undefined): string {
  if (!phase) return ''
  const a = phase.first.metrics.jobs
  const b = phase.last.metrics.jobs
  return Object.entries(b)
    .map(([k, v]) => [k, v - (a[k] ?? 0)] as const)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
}

export function jobNote(phase: SvPhase | undefined): string {
  let deferred = 0
  if (phase) {
    const a = phase.first.metrics.repoSyncs
    for (const [k, v] of Object.entries(phase.last.metrics.repoSyncs))
      if (k.endsWith(':deferred')) deferred += v - (a[k] ?? 0)
  }
  return (
    `spaceview job attempts (queue:outcome): ${jobAttempts(phase) || 'none'} — an attempt refused by the per-host ` +
    `limiter moves itself to the delayed set and counts as completed here, and as repo sync "deferred" in ` +
    `repo_syncs_total (${deferred} in this window)`
  )
}

/** Quantiles of spaceview's notify → visible histogram (hint arrival → applied) over a window, in ms. */
export function notifyToVisible(phase: SvPhase | undefined): {
  p50: number | null
  p99: number | null
  count: number
} {
  if (!phase) return { p50: null, p99: null, count: 0 }
  const d = bucketDelta(phase.first.metrics.notifyToVisible, phase.last.metrics.notifyToVisible)
  const count = d.reduce((m, b) => Math.max(m, b.count), 0)
  const q = (x: number) => {
    const v = histogramQuantile(d, x)
    return v === null ? null : v * 1000
  }
  return { p50: q(0.5), p99: q(0.99), count }
}

/** Mean of a spaceview histogram over the phase's window, in ms (null if nothing was observed). */
export function meanMsInPhase(
  phase: SvPhase | undefined,
  pick: (m: SpaceviewStats['metrics']) => SumCount,
): number | null {
  if (!phase) return null
  const a = pick(phase.first.metrics)
  const b = pick(phase.last.metrics)
  const n = b.count - a.count
  return n > 0 ? ((b.sum - a.sum) / n) * 1000 : null
}

export async function stopQuietly(handle: { child: { stop(): Promise<void> } } | undefined): Promise<void> {
  await handle?.child.stop().catch(() => undefined)
}

export function profileOf(sv: SpaceviewHandle | undefined): ProfileSummary | undefined {
  if (!sv?.profileDir) return undefined
  const files = readdirSync(sv.profileDir).filter((f) => f.endsWith('.cpuprofile'))
  const file = files.sort().at(-1)
  return file ? summarizeProfileFile(join(sv.profileDir, file)) : undefined
}

export function baseResult(
  scenario: LoadtestScenario,
  shape: Shape,
  net: Network,
  startedAt: number,
): ScenarioResult {
  return {
    scenario,
    shape: { ...shape, totalRecords: net.expected },
    params: {},
    startedAt: new Date(startedAt).toISOString(),
    seconds: 0,
    figures: [],
    processes: [],
    shares: {},
    errors: {},
    latency: {},
    histograms: {},
    charts: [],
    loadavg: { start: [], end: [] },
    notes: [],
  }
}

export function finish(
  result: ScenarioResult,
  startedAt: number,
  sv: PhaseMeasure | undefined,
  bl: PhaseMeasure | undefined,
): ScenarioResult {
  result.seconds = Math.round((Date.now() - startedAt) / 100) / 10
  result.processes = [...processFigures('spaceview', sv), ...processFigures('baseline', bl)]
  const svShares = sharesOf(sv)
  const blShares = sharesOf(bl)
  if (svShares) result.shares.spaceview = svShares
  if (blShares) result.shares.baseline = blShares
  result.loadavg = { start: sv?.loadavg.start ?? [], end: (bl ?? sv)?.loadavg.end ?? [] }
  return result
}

export function rssChart(sv: PhaseMeasure | undefined, bl: PhaseMeasure | undefined): Chart {
  const series = [
    ...(sv?.processes ?? []).map((p) => ({
      name: `${p.name} (spaceview run)`,
      points: p.rssSeries.map((x) => ({ t: x.t - (sv as PhaseMeasure).startedAt, v: x.mb })),
    })),
    ...(bl?.processes ?? [])
      .filter((p) => p.name === 'baseline')
      .map((p) => ({
        name: 'baseline',
        points: p.rssSeries.map((x) => ({ t: x.t - (bl as PhaseMeasure).startedAt, v: x.mb })),
      })),
  ]
  return { title: 'Resident memory (MiB)', kind: 'time', unit: 'count', series }
}
