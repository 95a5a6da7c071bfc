/**
 * The per-process host gate: this process's jobs for one host queue here for a local slot before they ask
 * the shared Redis limiter (host-limiter.ts) for a lease, so one process does not spray refusals at a host
 * it already saturates by itself (each refusal is a Redis script call, a move to the delayed set and a
 * refetch of the job).
 *
 * Invariants:
 * - At most `cap` slots per host are held at once in this process (cap = the host's concurrency cap, so the
 *   gate never admits fewer requests than the limiter would grant to this process alone).
 * - Waiters are served in arrival order; a freed slot passes straight to the oldest waiter (no barging).
 * - Waiting is bounded twice: at most `maxWaiters` jobs wait per host (the rest are refused at once, so a
 *   saturated host cannot hold every worker slot while jobs for other hosts sit in the queue), and no
 *   wait lasts longer than `maxWaitMs`. A refused or timed-out `enter` holds nothing.
 * - The gate is only an optimisation in front of the limiter: the Redis limiter still decides every
 *   request (other processes, rate caps, open circuits, Retry-After).
 */

export interface HostGateOptions {
  /** Slots per host in this process. */
  cap: number
  /** Longest a job waits for a slot before it is refused. */
  maxWaitMs: number
  /** Jobs allowed to wait per host; default `cap`. */
  maxWaiters?: number
}

/** Gives the slot back; calling it again does nothing. */
export type GateRelease = () => void

interface Waiter {
  grant: (release: GateRelease) => void
  timer: NodeJS.Timeout
}

interface HostSlots {
  held: number
  waiters: Waiter[]
}

export class HostGate {
  private readonly hosts = new Map<string, HostSlots>()
  private readonly maxWaiters: number

  constructor(private readonly o: HostGateOptions) {
    if (!(o.cap >= 1)) throw new Error('host gate cap must be >= 1')
    this.maxWaiters = o.maxWaiters ?? o.cap
  }

  /** A slot for `host`, waiting for one if all are held; undefined when refused (too many waiters, timeout). */
  enter(host: string): Promise<GateRelease | undefined> {
    let slots = this.hosts.get(host)
    if (!slots) {
      slots = { held: 0, waiters: [] }
      this.hosts.set(host, slots)
    }
    if (slots.held < this.o.cap) {
      slots.held++
      return Promise.resolve(this.releaser(host, slots))
    }
    if (slots.waiters.length >= this.maxWaiters || this.o.maxWaitMs <= 0) return Promise.resolve(undefined)
    const s = slots
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: resolve,
        timer: setTimeout(() => {
          const i = s.waiters.indexOf(waiter)
          if (i >= 0) s.waiters.splice(i, 1)
          resolve(undefined)
        }, this.o.maxWaitMs),
      }
      waiter.timer.unref()
      s.waiters.push(waiter)
    })
  }

  /** Slots held and jobs waiting for `host` in this process. */
  usage(host: string): { held: number; waiting: number } {
    const slots = this.hosts.get(host)
    return { held: slots?.held ?? 0, waiting: slots?.waiters.length ?? 0 }
  }

  private releaser(host: string, slots: HostSlots): GateRelease {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = slots.waiters.shift()
      if (next) {
        // The slot passes to the oldest waiter: `held` is unchanged.
        clearTimeout(next.timer)
        next.grant(this.releaser(host, slots))
        return
      }
      slots.held--
      if (slots.held === 0) this.hosts.delete(host)
    }
  }
}
