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
 * - One slot holder per host at a time asks the limiter (`turn`): holders that asked together were refused
 *   together by the rate cap, told the same few milliseconds to wait, and woke together to ask again, so a
 *   rate-bound host cost about `cap` Redis scripts per lease granted (the incremental load test sent ~8
 *   scripts per pull). Turns pass in arrival order too; only slot holders take them, so at most `cap`
 *   wait for one.
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
  timer: NodeJS.Timeout | undefined
}

interface HostSlots {
  held: number
  waiters: Waiter[]
}

/** FIFO slots per key: at most `cap` held at once, a freed slot passing straight to the oldest waiter. */
class KeyedSlots {
  private readonly keys = new Map<string, HostSlots>()

  constructor(
    private readonly cap: number,
    private readonly maxWaiters: number,
    /** Longest wait; Infinity: no timer. */
    private readonly maxWaitMs: number,
  ) {}

  enter(key: string): Promise<GateRelease | undefined> {
    let slots = this.keys.get(key)
    if (!slots) {
      slots = { held: 0, waiters: [] }
      this.keys.set(key, slots)
    }
    if (slots.held < this.cap) {
      slots.held++
      return Promise.resolve(this.releaser(key, slots))
    }
    if (slots.waiters.length >= this.maxWaiters || this.maxWaitMs <= 0) return Promise.resolve(undefined)
    const s = slots
    return new Promise((resolve) => {
      const waiter: Waiter = { grant: resolve, timer: undefined }
      if (Number.isFinite(this.maxWaitMs)) {
        waiter.timer = setTimeout(() => {
          const i = s.waiters.indexOf(waiter)
          if (i >= 0) s.waiters.splice(i, 1)
          resolve(undefined)
        }, this.maxWaitMs)
        waiter.timer.unref()
      }
      s.waiters.push(waiter)
    })
  }

  usage(key: string): { held: number; waiting: number } {
    const slots = this.keys.get(key)
    return { held: slots?.held ?? 0, waiting: slots?.waiters.length ?? 0 }
  }

  private releaser(key: string, slots: HostSlots): GateRelease {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = slots.waiters.shift()
      if (next) {
        // The slot passes to the oldest waiter: `held` is unchanged.
        clearTimeout(next.timer)
        next.grant(this.releaser(key, slots))
        return
      }
      slots.held--
      if (slots.held === 0) this.keys.delete(key)
    }
  }
}

export class HostGate {
  private readonly slots: KeyedSlots
  private readonly turns: KeyedSlots

  constructor(o: HostGateOptions) {
    if (!(o.cap >= 1)) throw new Error('host gate cap must be >= 1')
    this.slots = new KeyedSlots(o.cap, o.maxWaiters ?? o.cap, o.maxWaitMs)
    this.turns = new KeyedSlots(1, Infinity, Infinity)
  }

  /** A slot for `host`, waiting for one if all are held; undefined when refused (too many waiters, timeout). */
  enter(host: string): Promise<GateRelease | undefined> {
    return this.slots.enter(host)
  }

  /**
   * The turn to ask the limiter for a lease on `host`, for a holder of one of its slots; give it back once
   * the limiter has answered (granted, or refused for longer than is waited out in place).
   */
  async turn(host: string): Promise<GateRelease> {
    return (await this.turns.enter(host))!
  }

  /** Slots held and jobs waiting for `host` in this process. */
  usage(host: string): { held: number; waiting: number } {
    return this.slots.usage(host)
  }

  /** Holders asking for, and waiting for, the turn to ask the limiter about `host`. */
  turnUsage(host: string): { held: number; waiting: number } {
    return this.turns.usage(host)
  }
}
