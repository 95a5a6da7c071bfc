/**
 * Per-host politeness shared by every worker process through Redis: a concurrency cap, a requests-per-
 * second cap, `Retry-After` honoured, and a circuit breaker for hosts that keep failing.
 *
 * The rate cap is a GCRA (a token bucket kept as one "theoretical arrival time" per host): requests are
 * spaced 1/rps apart on average with a burst of up to one second's worth, and a refusal says exactly when
 * the next request fits (milliseconds under a steady load), not "after this second ends". A refusal
 * consumes nothing.
 *
 * `acquire` never waits: it either grants a lease or says how long to come back after, so the caller
 * (a BullMQ job) can move itself to the delayed set and the worker slot goes to another host's job.
 * That is what keeps one slow or broken host from stalling the others.
 *
 * Invariants: all checks and the grant happen in one Lua script (atomic across processes), sent by its
 * SHA (ioredis `defineCommand`: EVALSHA, the script body only after a NOSCRIPT); a lease is
 * short-lived and its holder renews it while the request runs (`renew`, every `renewEveryMs`), so the
 * slots of a worker that crashed or was killed come free within one lease lifetime, not after the longest
 * request could take; after `failureThreshold` consecutive
 * failures the circuit opens for `openMs`, doubling on each further failure up to `maxOpenMs`; once the
 * open period passes the host is half-open (one lease at a time) until a success closes it.
 */
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'

export interface HostLimiterOptions {
  concurrency: number
  requestsPerSec: number
  failureThreshold?: number
  openMs?: number
  maxOpenMs?: number
  /** Lease lifetime without renewal: how long a crashed holder's slot stays taken. */
  leaseMs?: number
  prefix?: string
}

export type CircuitState = 'closed' | 'open' | 'half_open'

export type Acquired =
  | { ok: true; leaseId: string }
  | { ok: false; retryInMs: number; reason: 'concurrency' | 'rate' | 'circuit_open' | 'retry_after' }

const ACQUIRE = `
local inflight, tat, fails, openUntil, retryUntil = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, concurrency, rps, threshold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local leaseId, leaseMs = ARGV[5], tonumber(ARGV[6])
local ru = tonumber(redis.call('GET', retryUntil) or '0')
if ru > now then return {0, ru - now, 'retry_after'} end
local ou = tonumber(redis.call('GET', openUntil) or '0')
if ou > now then return {0, ou - now, 'circuit_open'} end
redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
local f = tonumber(redis.call('GET', fails) or '0')
local cap = concurrency
if f >= threshold then cap = 1 end
if redis.call('ZCARD', inflight) >= cap then return {0, 50, 'concurrency'} end
local interval = 1000 / rps
local burst = 1000 - interval
local t = tonumber(redis.call('GET', tat) or '0')
if t < now then t = now end
if t - now > burst then return {0, math.ceil(t - now - burst), 'rate'} end
redis.call('SET', tat, tostring(t + interval), 'PX', math.ceil(t + interval - now) + 1000)
redis.call('ZADD', inflight, now + leaseMs, leaseId)
redis.call('PEXPIRE', inflight, leaseMs * 2)
return {1, 0, leaseId}
`

/** The acquire script as a command of the connection (EVALSHA); the name is ours alone on a shared client. */
const ACQUIRE_COMMAND = 'spaceviewHostAcquire'

type AcquireCommand = (...args: Array<string | number>) => Promise<[number, number, string]>

/** KEYS: inflight, fails, openUntil; ARGV: leaseId, succeeded (1/0). Frees the slot; a success closes the circuit. */
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] == '1' then redis.call('DEL', KEYS[2], KEYS[3]) end
return 1
`
const RELEASE_COMMAND = 'spaceviewHostRelease'

type ReleaseCommand = (...args: Array<string | number>) => Promise<number>

export class HostLimiter {
  private readonly o: Required<HostLimiterOptions>
  private readonly acquireScript: AcquireCommand
  private readonly releaseScript: ReleaseCommand

  constructor(
    private readonly redis: Redis,
    options: HostLimiterOptions,
  ) {
    if (!(ACQUIRE_COMMAND in redis)) redis.defineCommand(ACQUIRE_COMMAND, { numberOfKeys: 5, lua: ACQUIRE })
    if (!(RELEASE_COMMAND in redis)) redis.defineCommand(RELEASE_COMMAND, { numberOfKeys: 3, lua: RELEASE })
    const commands = redis as unknown as Record<typeof ACQUIRE_COMMAND, AcquireCommand> &
      Record<typeof RELEASE_COMMAND, ReleaseCommand>
    this.acquireScript = commands[ACQUIRE_COMMAND].bind(redis)
    this.releaseScript = commands[RELEASE_COMMAND].bind(redis)
    this.o = {
      failureThreshold: 5,
      openMs: 5_000,
      maxOpenMs: 5 * 60_000,
      leaseMs: 30_000,
      prefix: 'sv:host',
      ...options,
    }
  }

  private keys(host: string) {
    const k = `${this.o.prefix}:{${host}}`
    return {
      inflight: `${k}:inflight`,
      tat: `${k}:tat`,
      fails: `${k}:fails`,
      openUntil: `${k}:open`,
      retryUntil: `${k}:retry`,
    }
  }

  async acquire(host: string, now = Date.now()): Promise<Acquired> {
    const k = this.keys(host)
    const leaseId = randomUUID()
    const r = await this.acquireScript(
      k.inflight,
      k.tat,
      k.fails,
      k.openUntil,
      k.retryUntil,
      now,
      this.o.concurrency,
      this.o.requestsPerSec,
      this.o.failureThreshold,
      leaseId,
      this.o.leaseMs,
    )
    if (r[0] === 1) return { ok: true, leaseId }
    return {
      ok: false,
      retryInMs: Math.max(1, Number(r[1])),
      reason: r[2] as 'concurrency' | 'rate' | 'circuit_open' | 'retry_after',
    }
  }

  /** How often a holder renews its lease: three renewals per lifetime, so one late renewal is harmless. */
  get renewEveryMs(): number {
    return Math.max(100, Math.floor(this.o.leaseMs / 3))
  }

  /**
   * Extends a lease the holder still has. A lease that already expired is not revived (its slot may have
   * been granted again), so a stalled holder can never push a host over its cap.
   */
  async renew(host: string, leaseId: string, now = Date.now()): Promise<void> {
    const k = this.keys(host)
    await this.redis.zadd(k.inflight, 'XX', now + this.o.leaseMs, leaseId)
    await this.redis.pexpire(k.inflight, this.o.leaseMs * 2)
  }

  /**
   * Frees the lease's slot; `succeeded` also resets the host's failure count and closes its circuit. One
   * round trip, a script by its SHA: every job ends here, a socket write per command is what Redis costs
   * us, and building an ioredis pipeline per call cost more CPU than the commands themselves.
   */
  async release(host: string, leaseId: string, succeeded = false): Promise<void> {
    const k = this.keys(host)
    await this.releaseScript(k.inflight, k.fails, k.openUntil, leaseId, succeeded ? 1 : 0)
  }

  /** Counts a failure; opens the circuit at the threshold; honours a host's Retry-After. */
  async recordFailure(host: string, retryAfterMs?: number, now = Date.now()): Promise<CircuitState> {
    const k = this.keys(host)
    if (retryAfterMs && retryAfterMs > 0) {
      await this.redis.set(k.retryUntil, String(now + retryAfterMs), 'PX', retryAfterMs)
    }
    const fails = await this.redis.incr(k.fails)
    await this.redis.pexpire(k.fails, this.o.maxOpenMs * 4)
    if (fails < this.o.failureThreshold) return 'closed'
    const openFor = Math.min(this.o.maxOpenMs, this.o.openMs * 2 ** (fails - this.o.failureThreshold))
    await this.redis.set(k.openUntil, String(now + openFor), 'PX', openFor)
    return 'open'
  }

  async state(host: string, now = Date.now()): Promise<CircuitState> {
    const k = this.keys(host)
    const [fails, openUntil] = await this.redis.mget(k.fails, k.openUntil)
    if (Number(fails ?? 0) < this.o.failureThreshold) return 'closed'
    return Number(openUntil ?? 0) > now ? 'open' : 'half_open'
  }
}
