/**
 * Per-process resource sampling from /proc (Linux): resident memory (current and peak), CPU seconds, and
 * CPU seconds per thread group, for every process of a load-test run (the orchestrator with devnet, the
 * spaceview process, the baseline, redis-server) — without their cooperation.
 *
 * Why threads: chdb (embedded ClickHouse) runs inside the spaceview process on its own native threads, and
 * libuv runs crypto and file work on its pool. Grouping per-thread CPU by thread name (digits stripped)
 * splits one process's CPU into "JavaScript main thread", "ClickHouse", "libuv pool" and "V8/GC helpers"
 * without a profiler.
 *
 * Invariants: a process that has exited is skipped silently (its last sample stands); peaks are the max of
 * the kernel's own high-water mark (VmHWM) and every sample seen; nothing here throws on a missing /proc.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

export interface ProcSample {
  /** ms since the epoch. */
  at: number
  rssBytes: number
  /** Kernel high-water mark of RSS. */
  hwmBytes: number
  /** user + system CPU seconds since the process started. */
  cpuSec: number
}

let clockTicks: number | undefined
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** utime + stime (seconds) and comm from a /proc …/stat line. */
function parseStat(text: string): { comm: string; cpuSec: number } | undefined {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < 0) return undefined
  const comm = text.slice(open + 1, close)
  // Fields after the comm start at field 3 (state); utime and stime are fields 14 and 15.
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ')
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
  return { comm, cpuSec: (utime + stime) / ticksPerSecond() }
}

function statusKb(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return m ? Number(m[1]) * 1024 : 0
}

/** One sample of `pid`, or undefined when it is gone. */
export function sampleProcess(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
    if (!stat) return undefined
    return {
      at: Date.now(),
      rssBytes: statusKb(status, 'VmRSS'),
      hwmBytes: statusKb(status, 'VmHWM'),
      cpuSec: stat.cpuSec,
    }
  } catch {
    return undefined
  }
}

/** Thread name without digits and trailing separators: "QueryPipelineEx", "libuv-worker", "node". */
export function threadGroup(comm: string): string {
  const name = comm.replace(/[0-9]+/g, '').replace(/[-_:. ]+$/, '')
  return name === '' ? comm : name
}

/** CPU seconds per thread group of `pid` (threads that already exited are not counted). */
export function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>()
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tids) {
    try {
      const stat = parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))
      if (!stat) continue
      const group = tid === String(pid) ? 'main thread' : threadGroup(stat.comm)
      out.set(group, (out.get(group) ?? 0) + stat.cpuSec)
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return out
}

export interface ProcessUsage {
  name: string
  pid: number
  peakRssBytes: number
  /** CPU seconds used inside the observed window. */
  cpuSec: number
  /** cpuSec / window seconds: 1.0 = one core fully busy. */
  cores: number
  /** CPU seconds per thread group inside the window (largest first). */
  threads: Array<{ group: string; cpuSec: number }>
  /** RSS over time (MiB), for charts. */
  rssSeries: Array<{ t: number; mb: number }>
}

/** Samples a set of named processes every `intervalMs` between start() and stop(). */
export class ProcSampler {
  private readonly tracked = new Map<
    string,
    {
      pid: number
      first?: ProcSample
      last?: ProcSample
      peak: number
      threadsAtStart: Map<string, number>
      threadsLast: Map<string, number>
      series: Array<{ t: number; mb: number }>
    }
  >()
  private timer: NodeJS.Timeout | undefined
  private startedAt = 0

  constructor(private readonly intervalMs = 1000) {}

  track(name: string, pid: number): void {
    const first = sampleProcess(pid)
    const threads = threadCpu(pid)
    this.tracked.set(name, {
      pid,
      ...(first ? { first, last: first } : {}),
      peak: first ? Math.max(first.rssBytes, first.hwmBytes) : 0,
      threadsAtStart: threads,
      threadsLast: threads,
      series: [],
    })
  }

  start(): void {
    this.startedAt = Date.now()
    this.sample()
    this.timer = setInterval(() => this.sample(), this.intervalMs)
    this.timer.unref()
  }

  /** Takes a sample now (also call right before a tracked process exits). */
  sample(): void {
    for (const t of this.tracked.values()) {
      const s = sampleProcess(t.pid)
      if (!s) continue
      t.first ??= s
      t.last = s
      t.peak = Math.max(t.peak, s.rssBytes, s.hwmBytes)
      t.series.push({ t: s.at, mb: Math.round(s.rssBytes / 2 ** 20) })
      const threads = threadCpu(t.pid)
      if (threads.size > 0) t.threadsLast = threads
    }
  }

  /** Usage per process over the window since start(); stops sampling. */
  stop(): ProcessUsage[] {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.sample()
    const windowSec = Math.max(0.001, (Date.now() - this.startedAt) / 1000)
    return [...this.tracked.entries()].map(([name, t]) => {
      const cpuSec = t.first && t.last ? t.last.cpuSec - t.first.cpuSec : 0
      const threads = [...t.threadsLast.entries()]
        .map(([group, sec]) => ({
          group,
          cpuSec: Math.round((sec - (t.threadsAtStart.get(group) ?? 0)) * 100) / 100,
        }))
        .filter((x) => x.cpuSec > 0)
        .sort((a, b) => b.cpuSec - a.cpuSec)
      return {
        name,
        pid: t.pid,
        peakRssBytes: t.peak,
        cpuSec: Math.round(cpuSec * 100) / 100,
        cores: Math.round((cpuSec / windowSec) * 100) / 100,
        threads,
        rssSeries: t.series,
      }
    })
  }
}
