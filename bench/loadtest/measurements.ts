/**
 * The figures a scenario reports, each next to the baseline's figure for the same quantity and the ratio
 * between them, plus the targets the issue sets. This module is the JSON shape of a result (report.ts
 * prints and renders it) and the conversions from raw phase measurements to figures.
 *
 * Invariants:
 * - Every figure has a unit and says which direction is better; `ratio` is always spaceview / baseline
 *   (so for latencies below 1 is better, for throughput above 1), null when either side is missing.
 * - A target is judged only on a measured value; a missing measurement is `meets: null`, never a pass.
 * - Figures are plain numbers (rounded), so the JSON stays one readable line.
 */
import type { LoadtestScenario } from '../../src/cli/loadtest.js'
import type { PhaseMeasure } from './phase.js'
import type { Series } from '../../src/metrics/series.js'
import type { Unit } from '../../src/metrics/svg-chart.js'
import { linearHistogram, ratio, round, summarize, type HistogramBin, type LatencySummary } from './stats.js'

export interface Target {
  op: '>=' | '<'
  value: number
  meets: boolean | null
  /** Conditions of the target that this run did not reproduce (e.g. a lower achieved rate). */
  caveat?: string
}

export interface Figure {
  key: string
  label: string
  unit: string
  value: number | null
  baseline: number | null
  ratio: number | null
  better: 'higher' | 'lower'
  target?: Target
  note?: string
}

export interface Chart {
  title: string
  /** 'time': x = wall time; 'latency': x = latency in ms, drawn as a histogram line. */
  kind: 'time' | 'latency'
  unit: Unit
  series: Series[]
}

export interface ProcessFigure {
  system: string
  name: string
  peakRssMiB: number
  cpuSec: number
  cores: number
  threads: Array<{ group: string; cpuSec: number }>
}

/** Where one system's time went in its window. */
export interface Shares {
  /** Fraction of wall time Redis spent executing this run's commands. */
  redis: number
  /** Fraction of wall time with a ClickHouse call in flight. */
  clickhouse: number
  /** Event-loop utilisation of the system's process. */
  elu: number
  redisTop: Array<{ command: string; calls: number; ms: number }>
  /** ClickHouse calls by kind: count, total ms and mean ms per call. */
  clickhouseCalls: Record<string, { calls: number; ms: number; meanMs: number | null }>
  /** ClickHouse statements by time spent (queueing included), largest first. */
  clickhouseStatements: Array<{ statement: string; calls: number; ms: number; share: number }>
}

export interface ScenarioResult {
  scenario: LoadtestScenario
  shape: { spaces: number; writers: number; records: number; hosts: number; totalRecords: number }
  params: Record<string, number | string | boolean>
  startedAt: string
  seconds: number
  figures: Figure[]
  processes: ProcessFigure[]
  /** Where time went, per system: Redis, ClickHouse, event loop. */
  shares: Record<string, Shares>
  errors: Record<string, Record<string, number>>
  latency: Record<string, LatencySummary>
  histograms: Record<string, HistogramBin[]>
  charts: Chart[]
  loadavg: { start: number[]; end: number[] }
  notes: string[]
}

export function figure(
  key: string,
  label: string,
  unit: string,
  value: number | null | undefined,
  baseline: number | null | undefined,
  better: 'higher' | 'lower',
  extra: { target?: Omit<Target, 'meets'>; note?: string; digits?: number } = {},
): Figure {
  const digits = extra.digits ?? 2
  const v = value === undefined || value === null || !Number.isFinite(value) ? null : round(value, digits)
  const b =
    baseline === undefined || baseline === null || !Number.isFinite(baseline) ? null : round(baseline, digits)
  const f: Figure = { key, label, unit, value: v, baseline: b, ratio: ratio(v, b), better }
  if (extra.target) {
    const t = extra.target
    const meets = v === null ? null : t.op === '>=' ? v >= t.value : v < t.value
    f.target = { ...t, meets }
  }
  if (extra.note) f.note = extra.note
  return f
}

const MiB = 2 ** 20

export function processFigures(system: string, phase: PhaseMeasure | undefined): ProcessFigure[] {
  return (phase?.processes ?? []).map((p) => ({
    system,
    name: p.name,
    peakRssMiB: Math.round(p.peakRssBytes / MiB),
    cpuSec: p.cpuSec,
    cores: p.cores,
    threads: p.threads.slice(0, 8),
  }))
}

/** Peak RSS (MiB) of the process named `name` in a phase. */
export function peakRss(phase: PhaseMeasure | undefined, name: string): number | null {
  const p = phase?.processes.find((x) => x.name === name)
  return p ? Math.round(p.peakRssBytes / MiB) : null
}

export function coresOf(phase: PhaseMeasure | undefined, name: string): number | null {
  return phase?.processes.find((x) => x.name === name)?.cores ?? null
}

/** CPU seconds of the process named `name` in a phase. */
export function cpuSecOf(phase: PhaseMeasure | undefined, name: string): number | null {
  return phase?.processes.find((x) => x.name === name)?.cpuSec ?? null
}

/** Figures every scenario shares: memory, CPU and where time went, spaceview vs baseline. */
export function resourceFigures(
  sv: PhaseMeasure | undefined,
  bl: PhaseMeasure | undefined,
  baselineProcess = 'baseline',
): Figure[] {
  return [
    figure(
      'peak_rss_mib',
      'peak RSS of the syncer process',
      'MiB',
      peakRss(sv, 'spaceview'),
      peakRss(bl, baselineProcess),
      'lower',
      {
        target: { op: '<', value: 1024 },
        digits: 0,
      },
    ),
    figure(
      'cpu_cores',
      'CPU of the syncer process',
      'cores',
      coresOf(sv, 'spaceview'),
      coresOf(bl, baselineProcess),
      'lower',
    ),
    figure(
      'event_loop_utilisation',
      'event-loop utilisation (JS main thread busy)',
      'fraction',
      sv?.eluMean,
      bl?.eluMean,
      'lower',
      {
        digits: 3,
      },
    ),
    figure(
      'clickhouse_share',
      'ClickHouse busy share of wall time',
      'fraction',
      sv?.clickhouse.share,
      bl?.clickhouse.share,
      'lower',
      {
        digits: 3,
      },
    ),
    figure(
      'redis_share',
      'Redis busy share of wall time',
      'fraction',
      sv?.redis.share,
      bl?.redis.share,
      'lower',
      { digits: 3 },
    ),
    figure(
      'redis_calls_per_s',
      'Redis commands per second',
      'cmd/s',
      rate(sv?.redis.calls, sv),
      rate(bl?.redis.calls, bl),
      'lower',
      {
        digits: 0,
      },
    ),
  ]
}

function rate(n: number | undefined, phase: PhaseMeasure | undefined): number | null {
  return n === undefined || !phase || phase.seconds <= 0 ? null : n / phase.seconds
}

export function sharesOf(phase: PhaseMeasure | undefined): Shares | undefined {
  if (!phase) return undefined
  const calls: Shares['clickhouseCalls'] = {}
  for (const [kind, c] of Object.entries(phase.clickhouse.byKind))
    calls[kind] = { calls: c.calls, ms: c.ms, meanMs: c.calls > 0 ? round(c.ms / c.calls, 1) : null }
  return {
    redis: phase.redis.share,
    clickhouse: phase.clickhouse.share,
    elu: phase.eluMean,
    redisTop: phase.redis.top.slice(0, 5),
    clickhouseCalls: calls,
    clickhouseStatements: (() => {
      const total = phase.clickhouse.byStatement.reduce((n, st) => n + st.ms, 0)
      return phase.clickhouse.byStatement.slice(0, 8).map((st) => ({
        ...st,
        share: total > 0 ? round(st.ms / total, 3) : 0,
      }))
    })(),
  }
}

/**
 * Records/s over time from a phase's cumulative visible counts, averaged over windows long enough that a
 * long run still charts ~120 points (per-second rates of a bursty batcher are mostly noise).
 */
export function throughputSeries(name: string, phase: PhaseMeasure | undefined): Series {
  const points: Series['points'] = []
  const v = phase?.visible ?? []
  if (!phase || v.length < 2) return { name, points }
  const windowMs = Math.max(1000, (phase.seconds * 1000) / 120)
  let from = v[0] as { t: number; n: number }
  for (let i = 1; i < v.length; i++) {
    const b = v[i] as { t: number; n: number }
    const dt = b.t - from.t
    if (dt < windowMs && i < v.length - 1) continue
    if (dt > 0) points.push({ t: b.t - phase.startedAt, v: ((b.n - from.n) * 1000) / dt })
    from = b
  }
  return { name, points }
}

/** ClickHouse mean call latency over the window, per system (queueing in the engine shows as growth). */
export function clickhouseChart(phases: Array<[string, PhaseMeasure | undefined]>): Chart {
  return {
    title: 'ClickHouse mean call latency (queueing included)',
    kind: 'time',
    unit: 'seconds',
    series: phases.map(([name, p]) => ({
      name,
      points: (p?.clickhouseSeries ?? [])
        .filter((x) => x.meanMs !== null)
        .map((x) => ({ t: x.t - (p as PhaseMeasure).startedAt, v: (x.meanMs as number) / 1000 })),
    })),
  }
}

/** A latency histogram as a chart series (x = latency in ms). */
export function histogramSeries(name: string, bins: HistogramBin[]): Series {
  return { name, points: bins.map((b) => ({ t: b.upTo, v: b.count })) }
}

export function latencyOf(phase: PhaseMeasure | undefined): LatencySummary {
  return summarize(phase?.latencies.values() ?? [])
}

/** Histogram bins of two latency sets on a common axis (so the two lines compare). */
export function commonBins(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  bins = 40,
): [HistogramBin[], HistogramBin[]] {
  const all = Float64Array.from([...Array.from(a), ...Array.from(b)]).sort()
  const top = all.length > 0 ? (all[Math.min(all.length - 1, Math.floor(all.length * 0.995))] as number) : 1
  return [linearHistogram(a, bins, Math.max(top, 1e-6)), linearHistogram(b, bins, Math.max(top, 1e-6))]
}
