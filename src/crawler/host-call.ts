/**
 * Runs one unit of work against one host under the per-host limiter and with the space's credential.
 *
 * - First a slot of this process's host gate (host-gate.ts): a job waits there, briefly and in order, while
 *   this process's own jobs hold every slot of the host, instead of being refused by Redis and deferred.
 *   A job the gate turns away (too many waiting, waited too long) is deferred like a limiter refusal.
 * - A rate refusal of at most MAX_RATE_WAIT_MS is waited out in place (up to a second in all): under a steady
 *   load the rate cap refuses for milliseconds at a time, and deferring would add a quarter second or more.
 *   The slot holders of one host take turns to ask (the gate's `turn`), so they do not all wake at the
 *   same instant to be refused again.
 * - No lease (host at its concurrency or rate cap, circuit open, Retry-After pending): throws
 *   HostBusyError with how long to wait, and the job moves itself to the delayed set for that long plus a
 *   random share of it (`deferralDelayMs`), so jobs refused together do not all come back in the same
 *   instant to be refused again. A granted lease is
 *   renewed while the work runs, so a killed worker's slots come free within one short lease lifetime.
 * - The host refused the credential (expired or invalid): the credential is dropped, a new one minted,
 *   and the work retried once.
 * - Transport failures and 429/5xx count toward the host's circuit breaker; any success resets it. That
 *   includes failures while a streamed body (a getRepo CAR) is being read, which reach us as a bare
 *   HostError from the body iterator rather than as a SpaceCallError.
 * - Every failed request that carries a HostError is counted in `spaceview_host_errors_total` by class, so
 *   a 429 storm, a reset storm or a trickling host shows up in the metrics, not only in retried jobs.
 */
import type { SyncContext } from './sync-context.js'
import type { HeldCredential } from './credential-manager.js'
import { isSpaceCallError } from './space-errors.js'
import { isHostError, type HostError } from './host-errors.js'
import type { Acquired, HostLimiter } from './host-limiter.js'
import type { GateRelease, HostGate } from './host-gate.js'

export class HostBusyError extends Error {
  override readonly name = 'HostBusyError'
  constructor(
    readonly host: string,
    readonly retryInMs: number,
    readonly reason: string,
  ) {
    super(`host ${host} is busy (${reason}); retry in ${retryInMs} ms`)
  }
}

/** Retry hint for a job the local gate turned away: the limiter's own hint for a host at its cap. */
const LOCAL_RETRY_MS = 50

/** Least random spread added to a deferral: the limiter's concurrency hint (50 ms) alone is a busy-wait. */
const MIN_DEFERRAL_JITTER_MS = 250

/** When a job refused by the limiter runs again: the hint, plus up to max(hint, 250 ms) more at random. */
export function deferralDelayMs(retryInMs: number, random: () => number = Math.random): number {
  return Math.round(retryInMs + random() * Math.max(retryInMs, MIN_DEFERRAL_JITTER_MS))
}

const HOST_FAULTS = new Set(['rate_limited', 'unavailable', 'bad_response'])

/** The transport failure behind an error from `work`, if there is one. */
function hostErrorOf(err: unknown): HostError | undefined {
  if (isHostError(err)) return err
  if (isSpaceCallError(err) && isHostError(err.cause)) return err.cause
  return undefined
}

/** A rate refusal whose hint is at most this is waited out in place rather than deferring the job. */
const MAX_RATE_WAIT_MS = 250
/** Longest a job waits out rate refusals in place, in all. */
const MAX_RATE_WAIT_TOTAL_MS = 1_000

/**
 * A lease, waiting out short rate refusals while holding the local slot: under a steady load the rate cap
 * refuses for a few milliseconds at a time (host-limiter.ts), and a deferral through the delayed set would
 * turn each of those into a quarter of a second or more of added latency.
 */
export async function acquireWaitingOutRate(limiter: HostLimiter, host: string): Promise<Acquired> {
  const deadline = performance.now() + MAX_RATE_WAIT_TOTAL_MS
  for (;;) {
    const lease = await limiter.acquire(host)
    if (lease.ok || lease.reason !== 'rate' || lease.retryInMs > MAX_RATE_WAIT_MS) return lease
    if (performance.now() + lease.retryInMs > deadline) return lease
    await new Promise((resolve) => setTimeout(resolve, lease.retryInMs))
  }
}

/** A granted lease and the local gate slot held with it; the holder gives both back. */
export interface HostLease {
  leaseId: string
  local: GateRelease
}

/**
 * A slot of this process's gate for `host`, then, in the host's turn, a lease from the shared limiter
 * (short rate refusals waited out in place). Throws HostBusyError, holding nothing, when either refuses.
 */
export async function takeHostLease(gate: HostGate, limiter: HostLimiter, host: string): Promise<HostLease> {
  const local = await gate.enter(host)
  if (!local) throw new HostBusyError(host, LOCAL_RETRY_MS, 'concurrency')
  let lease: Acquired
  const turn = await gate.turn(host)
  try {
    lease = await acquireWaitingOutRate(limiter, host)
  } catch (err) {
    local()
    throw err
  } finally {
    turn()
  }
  if (!lease.ok) {
    local()
    throw new HostBusyError(host, lease.retryInMs, lease.reason)
  }
  return { leaseId: lease.leaseId, local }
}

export function hostKey(url: string): string {
  return new URL(url).host
}

export async function withHost<T>(
  ctx: SyncContext,
  space: string,
  url: string,
  work: (cred: HeldCredential) => Promise<T>,
): Promise<T> {
  const host = hostKey(url)
  const waited = ctx.metrics.hostSlotWait.startTimer()
  let held: HostLease
  try {
    held = await takeHostLease(ctx.gate, ctx.limiter, host)
  } catch (err) {
    if (err instanceof HostBusyError) waited({ outcome: 'deferred' })
    throw err
  }
  waited({ outcome: 'leased' })
  const { leaseId, local } = held
  // Keep the (short) lease alive while the work runs; if this process dies, the slot frees itself soon.
  const keepAlive = setInterval(
    () => void ctx.limiter.renew(host, leaseId).catch(() => undefined),
    ctx.limiter.renewEveryMs,
  )
  keepAlive.unref()
  let succeeded = false
  try {
    let cred = await ctx.creds.get(space)
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await work(cred)
        succeeded = true
        return out
      } catch (err) {
        const transport = hostErrorOf(err)
        if (transport) ctx.metrics.hostErrors.inc({ class: transport.class })
        if (isSpaceCallError(err)) {
          if (attempt === 0 && (err.kind === 'credential_expired' || err.kind === 'credential_invalid')) {
            await ctx.creds.invalidate(space, cred.credential)
            cred = await ctx.creds.get(space)
            continue
          }
          if (HOST_FAULTS.has(err.kind)) {
            const state = await ctx.limiter.recordFailure(host, err.retryAfterMs)
            if (state === 'open') ctx.metrics.circuitBreakerTransitions.inc({ state: 'open' })
          }
        } else if (transport?.retryable) {
          // A body cut mid-stream (reset, stall, trickle past the total budget) is the host failing too.
          const state = await ctx.limiter.recordFailure(host)
          if (state === 'open') ctx.metrics.circuitBreakerTransitions.inc({ state: 'open' })
        }
        throw err
      }
    }
  } finally {
    clearInterval(keepAlive)
    // A success resets the host's circuit breaker in the same round trip.
    await ctx.limiter.release(host, leaseId, succeeded).finally(local)
  }
}
