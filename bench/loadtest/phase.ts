/**
 * One measured window of one system (spaceview or the baseline): polls the system's process for stats once a
 * second while the window is open, samples every process's memory and CPU from /proc, and takes Redis
 * commandstats and the load average at both ends. What comes out (PhaseMeasure) is raw material for the
 * figures of measurements.ts.
 *
 * Invariants: polls never overlap (a slow stats answer delays the next poll instead of stacking them); the
 * window's figures are deltas between its first and last snapshot, so whatever happened before start()
 * (setup, a previous window) is not counted; latencies are drained from the child at every poll, so none
 * is counted twice or lost between windows.
 */
import { loadavg } from 'node:os'
import type { ChildHandle } from './child-ipc.js'
import type { ClickHouseTiming } from './clickhouse-timer.js'
import { ProcSampler, type ProcessUsage } from './proc-sampler.js'
import { commandStatsDelta, type CommandStats, type RedisService, type RedisShare } from './redis-service.js'
import { SampleBuffer } from './stats.js'
import type { VisibilityDrain } from './visibility.js'
import type { VitalsSnapshot } from './vitals.js'

/** What both systems' processes answer to `stats`. */
export interface CommonStats {
  visibility: VisibilityDrain
  clickhouse: ClickHouseTiming
  vitals: VitalsSnapshot
}

export interface PhaseMeasure<S extends CommonStats = CommonStats> {
  system: string
  startedAt: number
  endedAt: number
  seconds: number
  /** Cumulative records made visible since the window opened, once per poll. */
  visible: Array<{ t: number; n: number }>
  /** write → visible latencies (ms) observed in the window. */
  latencies: SampleBuffer
  /** ClickHouse calls per second and mean ms per call, once per poll (queueing inside chdb shows here). */
  clickhouseSeries: Array<{ t: number; perSec: number; meanMs: number | null }>
  first: S
  last: S
  /** Time-weighted mean event-loop utilisation of the system's process over the window. */
  eluMean: number
  loopDelayP99MaxMs: number
  clickhouse: {
    busyMs: number
    share: number
    calls: number
    byKind: ClickHouseTiming['byKind']
    /** Statements by time spent in the window (queueing included), largest first. */
    byStatement: ClickHouseTiming['byStatement']
  }
  redis: RedisShare
  processes: ProcessUsage[]
  loadavg: { start: number[]; end: number[] }
  /** When the child's `expect`ed record count was reached, if it was. */
  reachedAt: number | null
}

function statementDelta(
  before: ClickHouseTiming['byStatement'],
  after: ClickHouseTiming['byStatement'],
): ClickHouseTiming['byStatement'] {
  const prior = new Map(before.map((s) => [s.statement, s]))
  return after
    .map((s) => ({
      statement: s.statement,
      calls: s.calls - (prior.get(s.statement)?.calls ?? 0),
      ms: s.ms - (prior.get(s.statement)?.ms ?? 0),
    }))
    .filter((s) => s.calls > 0)
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 12)
}

export interface PhaseOptions<S extends CommonStats> {
  system: string
  child: ChildHandle
  redis: RedisService
  /** Every process to sample, by display name. */
  processes: Array<[string, number]>
  intervalMs?: number
  onPoll?: (stats: S, phase: { elapsedSec: number; visible: number }) => void
}

export class PhaseRecorder<S extends CommonStats> {
  private readonly sampler: ProcSampler
  private readonly latencies = new SampleBuffer()
  private readonly visible: Array<{ t: number; n: number }> = []
  private readonly chSeries: PhaseMeasure['clickhouseSeries'] = []
  private first: S | undefined
  private last: S | undefined
  private cmdBefore: CommandStats = new Map()
  private loadStart: number[] = []
  private startedAt = 0
  private timer: NodeJS.Timeout | undefined
  private polling: Promise<void> | undefined
  private eluWeighted = 0
  private eluTime = 0
  private loopDelayMax = 0
  private reachedAt: number | null = null

  constructor(private readonly opts: PhaseOptions<S>) {
    this.sampler = new ProcSampler(opts.intervalMs ?? 1000)
  }

  async start(): Promise<void> {
    for (const [name, pid] of this.opts.processes) this.sampler.track(name, pid)
    this.cmdBefore = await this.opts.redis.commandStats()
    this.loadStart = loadavg()
    // The first snapshot drains what happened before the window (setup) and is the baseline of deltas.
    this.first = await this.opts.child.request<S>('stats')
    this.last = this.first
    this.startedAt = Date.now()
    this.visible.push({ t: this.startedAt, n: 0 })
    this.sampler.start()
    this.timer = setInterval(() => {
      if (!this.polling) this.polling = this.poll().finally(() => (this.polling = undefined))
    }, this.opts.intervalMs ?? 1000)
  }

  private absorb(s: S): void {
    const prev = this.last as S
    this.latencies.addAll(s.visibility.latencies)
    this.visible.push({
      t: s.vitals.at,
      n: s.visibility.visibleRecords - (this.first as S).visibility.visibleRecords,
    })
    const dt = s.vitals.at - prev.vitals.at
    if (dt > 0) {
      this.eluWeighted += s.vitals.elu * dt
      this.eluTime += dt
    }
    this.loopDelayMax = Math.max(this.loopDelayMax, s.vitals.loopDelayP99Ms)
    const calls = s.clickhouse.calls - prev.clickhouse.calls
    if (dt > 0)
      this.chSeries.push({
        t: s.vitals.at,
        perSec: (calls * 1000) / dt,
        meanMs:
          calls > 0 ? Math.round(((s.clickhouse.sumMs - prev.clickhouse.sumMs) / calls) * 10) / 10 : null,
      })
    if (s.visibility.reachedAt !== null) this.reachedAt = s.visibility.reachedAt
    this.last = s
  }

  private async poll(): Promise<void> {
    try {
      const s = await this.opts.child.request<S>('stats', undefined, 30_000)
      this.absorb(s)
      this.opts.onPoll?.(s, {
        elapsedSec: (Date.now() - this.startedAt) / 1000,
        visible: s.visibility.visibleRecords - (this.first as S).visibility.visibleRecords,
      })
    } catch {
      // A slow or exiting child misses a poll; the final snapshot in stop() still closes the window.
    }
  }

  /** The latest snapshot (for progress and stop conditions). */
  get latest(): S | undefined {
    return this.last
  }

  get reached(): number | null {
    return this.reachedAt
  }

  async stop(): Promise<PhaseMeasure<S>> {
    if (this.timer) clearInterval(this.timer)
    await this.polling
    this.absorb(await this.opts.child.request<S>('stats', undefined, 60_000))
    const processes = this.sampler.stop()
    const endedAt = Date.now()
    const windowMs = endedAt - this.startedAt
    const redis = commandStatsDelta(this.cmdBefore, await this.opts.redis.commandStats(), windowMs)
    const first = this.first as S
    const last = this.last as S
    const busyMs = last.clickhouse.busyMs - first.clickhouse.busyMs
    const kind = (k: keyof ClickHouseTiming['byKind']) => ({
      calls: last.clickhouse.byKind[k].calls - first.clickhouse.byKind[k].calls,
      ms: last.clickhouse.byKind[k].ms - first.clickhouse.byKind[k].ms,
    })
    return {
      system: this.opts.system,
      startedAt: this.startedAt,
      endedAt,
      seconds: windowMs / 1000,
      visible: this.visible,
      latencies: this.latencies,
      clickhouseSeries: this.chSeries,
      first,
      last,
      eluMean: this.eluTime > 0 ? Math.round((this.eluWeighted / this.eluTime) * 1000) / 1000 : 0,
      loopDelayP99MaxMs: this.loopDelayMax,
      clickhouse: {
        busyMs,
        share: windowMs > 0 ? Math.round((busyMs / windowMs) * 1000) / 1000 : 0,
        calls: last.clickhouse.calls - first.clickhouse.calls,
        byKind: { query: kind('query'), command: kind('command'), insert: kind('insert') },
        byStatement: statementDelta(first.clickhouse.byStatement, last.clickhouse.byStatement),
      },
      redis,
      processes,
      loadavg: {
        start: this.loadStart.map((x) => Math.round(x * 100) / 100),
        end: loadavg().map((x) => Math.round(x * 100) / 100),
      },
      reachedAt: this.reachedAt,
    }
  }
}
