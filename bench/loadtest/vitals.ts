/**
 * In-process vitals of a process under test, reported to the orchestrator with each stats request:
 * CPU time, memory (current and peak RSS, heap), event-loop utilisation and delay, and a tally of what the
 * process logged at warn level and above.
 *
 * Why event-loop figures: a Node process with spare cores can still be saturated on its one JavaScript
 * thread. Event-loop utilisation near 1 (and delay p99 in the tens of ms) says the main thread is the
 * bottleneck, whatever the machine's load average says.
 *
 * Invariants: every figure is cumulative since the process started or since the previous snapshot (named
 * so), never a moving average; the log tally keeps at most 40 distinct messages and counts the rest as
 * "other", so a flood of one error cannot grow memory; only the first 20 warn+ lines are echoed to stderr.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks'
import pino, { type Logger } from 'pino'

export interface VitalsSnapshot {
  at: number
  cpuUserSec: number
  cpuSystemSec: number
  rssBytes: number
  /** Peak RSS of this process's lifetime (getrusage). */
  maxRssBytes: number
  heapUsedBytes: number
  /** Event-loop utilisation since the previous snapshot (0..1). */
  elu: number
  /** Event-loop delay since the previous snapshot (ms). */
  loopDelayP50Ms: number
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  /** warn+ log lines: by level, and the most frequent messages. */
  logs: { warn: number; error: number; fatal: number; messages: Array<{ msg: string; count: number }> }
}

const LEVELS: Record<number, 'warn' | 'error' | 'fatal'> = { 40: 'warn', 50: 'error', 60: 'fatal' }
const MAX_MESSAGES = 40
const ECHO_LINES = 20

export class Vitals {
  private readonly delay = monitorEventLoopDelay({ resolution: 10 })
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization()
  private readonly counts = { warn: 0, error: 0, fatal: 0 }
  private readonly messages = new Map<string, number>()
  private echoed = 0

  constructor(private readonly name: string) {
    this.delay.enable()
  }

  /** A pino logger at warn level whose lines are tallied here (and the first few echoed to stderr). */
  logger(): Logger {
    return pino(
      { level: 'warn', base: { proc: this.name } },
      {
        write: (line: string) => {
          let entry: { level?: number; msg?: string; err?: unknown }
          try {
            entry = JSON.parse(line) as typeof entry
          } catch {
            return
          }
          const level = LEVELS[entry.level ?? 0]
          if (!level) return
          this.counts[level]++
          const msg = String(entry.msg ?? '').slice(0, 120)
          if (this.messages.has(msg) || this.messages.size < MAX_MESSAGES)
            this.messages.set(msg, (this.messages.get(msg) ?? 0) + 1)
          else this.messages.set('other', (this.messages.get('other') ?? 0) + 1)
          if (this.echoed++ < ECHO_LINES)
            process.stderr.write(`[${this.name}] ${line.trim().slice(0, 400)}\n`)
        },
      },
    )
  }

  snapshot(): VitalsSnapshot {
    const cpu = process.cpuUsage()
    const mem = process.memoryUsage()
    const now = performance.eventLoopUtilization()
    const elu = performance.eventLoopUtilization(now, this.lastElu).utilization
    this.lastElu = now
    const ms = (ns: number) => Math.round((ns / 1e6) * 100) / 100
    const out: VitalsSnapshot = {
      at: Date.now(),
      cpuUserSec: cpu.user / 1e6,
      cpuSystemSec: cpu.system / 1e6,
      rssBytes: mem.rss,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      heapUsedBytes: mem.heapUsed,
      elu: Math.round(elu * 1000) / 1000,
      loopDelayP50Ms: this.delay.count > 0 ? ms(this.delay.percentile(50)) : 0,
      loopDelayP99Ms: this.delay.count > 0 ? ms(this.delay.percentile(99)) : 0,
      loopDelayMaxMs: this.delay.count > 0 ? ms(this.delay.max) : 0,
      logs: {
        ...this.counts,
        messages: [...this.messages.entries()]
          .map(([msg, count]) => ({ msg, count }))
          .sort((a, b) => b.count - a.count)
          .slice(0, 10),
      },
    }
    this.delay.reset()
    return out
  }
}
