import { Redis } from 'ioredis'
import { HostLimiter } from '../../src/crawler/host-limiter.js'
import { acquireWaitingOutRate, deferralDelayMs, takeHostLease } from '../../src/crawler/host-call.js'
import { HostGate } from '../../src/crawler/host-gate.js'

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const prefix = `sv:test:${process.pid}:${Date.now()}`
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

describe('HostLimiter (real Redis)', () => {
  it('caps concurrency per host and frees slots on release, independently per host', async () => {
    const l = new HostLimiter(redis, { concurrency: 2, requestsPerSec: 100, prefix })
    const a = await l.acquire('a.example')
    const b = await l.acquire('a.example')
    const c = await l.acquire('a.example')
    expect([a.ok, b.ok, c.ok]).toEqual([true, true, false])
    expect(c).toMatchObject({ ok: false, reason: 'concurrency' })
    expect((await l.acquire('b.example')).ok).toBe(true) // another host is not affected
    if (a.ok) await l.release('a.example', a.leaseId)
    expect((await l.acquire('a.example')).ok).toBe(true)
  })

  it('expired leases (crashed holders) free their slot', async () => {
    const l = new HostLimiter(redis, { concurrency: 1, requestsPerSec: 100, leaseMs: 1000, prefix })
    const now = Date.now()
    expect((await l.acquire('lease.example', now)).ok).toBe(true)
    expect((await l.acquire('lease.example', now + 10)).ok).toBe(false)
    expect((await l.acquire('lease.example', now + 1500)).ok).toBe(true)
  })

  it('a renewed lease outlives its lifetime; an expired one is not revived by a late renewal', async () => {
    const l = new HostLimiter(redis, { concurrency: 1, requestsPerSec: 100, leaseMs: 1000, prefix })
    const now = Date.now()
    const held = await l.acquire('renew.example', now)
    if (!held.ok) throw new Error('no lease')
    await l.renew('renew.example', held.leaseId, now + 800)
    expect((await l.acquire('renew.example', now + 1500)).ok).toBe(false) // still held: renewed at +800
    const next = await l.acquire('renew.example', now + 2000) // the renewal ran out at +1800
    expect(next.ok).toBe(true)
    await l.renew('renew.example', held.leaseId, now + 2100) // the old holder wakes up late
    expect((await l.acquire('renew.example', now + 2200)).ok).toBe(false) // only `next` holds the slot
    if (next.ok) await l.release('renew.example', next.leaseId)
    expect((await l.acquire('renew.example', now + 2300)).ok).toBe(true)
    expect(l.renewEveryMs).toBeLessThan(1000 / 2)
  })

  it('caps requests per second (a burst of one second, then one per 1/rps) and says exactly when to come back', async () => {
    const l = new HostLimiter(redis, { concurrency: 100, requestsPerSec: 3, prefix })
    const t = Date.now()
    const results = []
    for (let i = 0; i < 4; i++) results.push(await l.acquire('rate.example', t))
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false])
    expect(results[3]).toMatchObject({ ok: false, reason: 'rate', retryInMs: 334 })
    // Refusals consume nothing: just before the hint still refused, at the hint admitted, then spaced 1/rps.
    expect(await l.acquire('rate.example', t + 300)).toMatchObject({
      ok: false,
      reason: 'rate',
      retryInMs: 34,
    })
    expect((await l.acquire('rate.example', t + 334)).ok).toBe(true)
    expect(await l.acquire('rate.example', t + 400)).toMatchObject({
      ok: false,
      reason: 'rate',
      retryInMs: 267,
    })
    // Over a longer span the rate holds: asked every 10 ms for 10 s, 3 a second (plus what was unspent).
    const later = []
    for (let ms = 1000; ms < 11_000; ms += 10) later.push((await l.acquire('rate.example', t + ms)).ok)
    expect(later.filter(Boolean).length).toBeGreaterThanOrEqual(30)
    expect(later.filter(Boolean).length).toBeLessThanOrEqual(32)
  })

  it('honours Retry-After', async () => {
    const l = new HostLimiter(redis, { concurrency: 5, requestsPerSec: 100, prefix })
    const now = Date.now()
    await l.recordFailure('busy.example', 2000, now)
    const r = await l.acquire('busy.example', now + 500)
    expect(r).toMatchObject({ ok: false, reason: 'retry_after' })
    expect(r.ok ? 0 : r.retryInMs).toBeGreaterThan(1000)
  })

  it('opens the circuit after repeated failures, half-opens, and closes on success', async () => {
    const l = new HostLimiter(redis, {
      concurrency: 5,
      requestsPerSec: 100,
      failureThreshold: 3,
      openMs: 1000,
      prefix,
    })
    const now = Date.now()
    expect(await l.recordFailure('down.example', undefined, now)).toBe('closed')
    expect(await l.recordFailure('down.example', undefined, now)).toBe('closed')
    expect(await l.recordFailure('down.example', undefined, now)).toBe('open')
    expect(await l.state('down.example', now + 10)).toBe('open')
    expect(await l.acquire('down.example', now + 10)).toMatchObject({ ok: false, reason: 'circuit_open' })
    // After the open period: half-open, one probe at a time.
    expect(await l.state('down.example', now + 1500)).toBe('half_open')
    expect((await l.acquire('down.example', now + 1500)).ok).toBe(true)
    expect(await l.acquire('down.example', now + 1501)).toMatchObject({ ok: false, reason: 'concurrency' })
    // A further failure re-opens for twice as long.
    await l.recordFailure('down.example', undefined, now + 1600)
    expect(await l.state('down.example', now + 3000)).toBe('open')
    const probe = await l.acquire('down.example', now + 3100)
    expect(probe).toMatchObject({ ok: false, reason: 'circuit_open' })
    // A lease released after a success closes the circuit (and frees its slot) in one step.
    const held = await l.acquire('down.example', now + 40_000)
    expect(held.ok).toBe(true)
    if (held.ok) await l.release('down.example', held.leaseId, true)
    expect(await l.state('down.example')).toBe('closed')
    expect((await l.acquire('down.example', now + 40_100)).ok).toBe(true)
  })
})

describe('a job refused by the rate cap', () => {
  it('waits out a short refusal in place, and is refused at once when the wait would be long', async () => {
    const fast = new HostLimiter(redis, { concurrency: 100, requestsPerSec: 10, prefix })
    for (let i = 0; i < 10; i++) expect((await fast.acquire('wait.example')).ok).toBe(true) // the burst
    const t0 = performance.now()
    expect((await acquireWaitingOutRate(fast, 'wait.example')).ok).toBe(true) // ~100 ms later
    expect(performance.now() - t0).toBeGreaterThanOrEqual(50)
    const slow = new HostLimiter(redis, { concurrency: 100, requestsPerSec: 2, prefix })
    for (let i = 0; i < 2; i++) expect((await slow.acquire('nowait.example')).ok).toBe(true)
    const t1 = performance.now()
    expect(await acquireWaitingOutRate(slow, 'nowait.example')).toMatchObject({ ok: false, reason: 'rate' })
    expect(performance.now() - t1).toBeLessThan(250)
  })
})

/** The real limiter, counting the acquire scripts it sends. */
class CountingLimiter extends HostLimiter {
  acquires = 0
  override acquire(host: string, now?: number) {
    this.acquires++
    return super.acquire(host, now)
  }
}

describe('slot holders of a rate-bound host', () => {
  it('take turns to ask the limiter, in order: about one script per lease, not one per holder per refusal', async () => {
    // 20/s with its burst spent: every lease below waits ~50 ms for the rate cap, four holders at a time.
    const limiter = new CountingLimiter(redis, { concurrency: 100, requestsPerSec: 20, prefix })
    for (let i = 0; i < 20; i++) expect((await limiter.acquire('turns.example')).ok).toBe(true)
    limiter.acquires = 0
    const gate = new HostGate({ cap: 4, maxWaitMs: 60_000, maxWaiters: 100 })
    const granted: number[] = []
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const { leaseId, local } = await takeHostLease(gate, limiter, 'turns.example')
        granted.push(i)
        await limiter.release('turns.example', leaseId, true)
        local()
      }),
    )
    expect(granted).toEqual([...Array(12).keys()]) // first come, first leased
    // One acquire per lease, plus the refusals of the holder whose turn it is (about one per lease: the
    // refusal says when the next request fits). Four holders asking at once sent ~4 per lease.
    expect(limiter.acquires).toBeLessThanOrEqual(12 * 2 + 2)
    expect(gate.turnUsage('turns.example')).toEqual({ held: 0, waiting: 0 })
  })
})

describe('deferral delay of a job the limiter refused', () => {
  it('is the hint plus a random share of at least 250 ms, so refused jobs do not return together', () => {
    expect(deferralDelayMs(50, () => 0)).toBe(50)
    expect(deferralDelayMs(50, () => 0.5)).toBe(175)
    expect(deferralDelayMs(50, () => 1)).toBe(300)
    expect(deferralDelayMs(2000, () => 1)).toBe(4000)
    const spread = new Set(Array.from({ length: 50 }, () => deferralDelayMs(50)))
    expect(spread.size).toBeGreaterThan(10)
    for (const d of spread) expect(d >= 50 && d <= 300).toBe(true)
  })
})
