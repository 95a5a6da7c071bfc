// The ACL filter's Redis state against a real Redis: single-use jtis, bounded admissions per (caller, space
// epoch), and the member lists of managed spaces.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { AdmissionCache } from '../../src/acl-filter/admission-cache.js'
import { MembershipStore } from '../../src/acl-filter/membership-store.js'
import { redisReplayCheck } from '../../src/acl-filter/replay-store.js'

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const prefix = `spaceview-test:${randomBytes(6).toString('hex')}:`
const SPACE = 'at://did:plc:authority00000000000000000/space/com.example.forum/main'
const OTHER = 'at://did:plc:authority00000000000000000/space/com.example.forum/other'
const ALICE = 'did:plc:alice0000000000000000000'

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
})

describe('replay store', () => {
  const seen = redisReplayCheck(redis, `${prefix}jti:`)
  const entry = { kind: 'service_auth' as const, iss: ALICE, jti: 'abc', expiresAt: Date.now() / 1000 + 60 }

  it('reports the first use as fresh and every later one as a replay', async () => {
    expect(await seen(entry)).toBe(false)
    expect(await seen(entry)).toBe(true)
    expect(await seen({ ...entry, kind: 'dpop' })).toBe(false)
    expect(await seen({ ...entry, iss: 'did:plc:bob' })).toBe(false)
  })

  it('keeps an entry only as long as its token could be used, and never stores the token', async () => {
    await seen({ ...entry, jti: 'short', expiresAt: Date.now() / 1000 + 5 })
    const keys = await redis.keys(`${prefix}jti:*`)
    expect(keys.join()).not.toContain('short')
    const ttls = await Promise.all(keys.map((k) => redis.ttl(k)))
    expect(Math.min(...ttls)).toBeLessThanOrEqual(7)
    expect(Math.max(...ttls)).toBeLessThanOrEqual(62)
  })
})

describe('admission cache', () => {
  const cache = new AdmissionCache(redis, `${prefix}adm:`)

  it('admits a caller to one space epoch until the expiry', async () => {
    const expiresAt = Date.now() + 60_000
    await cache.put(ALICE, { space: SPACE, epoch: 1, expiresAt })
    expect(await cache.get(ALICE, SPACE, 1)).toBe(expiresAt)
    expect(await cache.get(ALICE, SPACE, 2)).toBeNull()
    expect(await cache.get(ALICE, OTHER, 1)).toBeNull()
    expect(await cache.get('did:plc:bob', SPACE, 1)).toBeNull()
  })

  it('does not honour an expired admission and drops it on the next write', async () => {
    await cache.put(ALICE, { space: OTHER, epoch: 1, expiresAt: Date.now() + 50 })
    await new Promise((r) => setTimeout(r, 80))
    expect(await cache.get(ALICE, OTHER, 1)).toBeNull()
    await cache.put(ALICE, { space: OTHER, epoch: 2, expiresAt: Date.now() + 60_000 })
    const members = await redis.zrange(`${prefix}adm:${ALICE}`, '0', '-1')
    expect(members.sort()).toEqual([`1 ${SPACE}`, `2 ${OTHER}`].sort())
  })

  it('evicts every epoch of one space at once', async () => {
    await cache.put(ALICE, { space: SPACE, epoch: 3, expiresAt: Date.now() + 60_000 })
    await cache.evict(ALICE, SPACE)
    expect(await cache.get(ALICE, SPACE, 1)).toBeNull()
    expect(await cache.get(ALICE, SPACE, 3)).toBeNull()
    expect(await cache.get(ALICE, OTHER, 2)).not.toBeNull()
  })

  it('expires the whole key with its newest admission', async () => {
    const pttl = await redis.pttl(`${prefix}adm:${ALICE}`)
    expect(pttl).toBeGreaterThan(50_000)
    expect(pttl).toBeLessThanOrEqual(60_000)
  })
})

describe('membership store', () => {
  const members = new MembershipStore(redis, `${prefix}members:`)
  const dids = Array.from({ length: 7 }, (_, i) => `did:plc:member${i}${'0'.repeat(17)}`)

  it('adds and removes idempotently, per space', async () => {
    await members.add(SPACE, ALICE)
    await members.add(SPACE, ALICE)
    expect(await members.has(SPACE, ALICE)).toBe(true)
    expect(await members.has(OTHER, ALICE)).toBe(false)
    await members.remove(SPACE, ALICE)
    await members.remove(SPACE, ALICE)
    expect(await members.has(SPACE, ALICE)).toBe(false)
  })

  it('pages members by DID with a cursor only on full pages', async () => {
    for (const did of [...dids].reverse()) await members.add(OTHER, did)
    const first = await members.list(OTHER, 3)
    expect(first.members).toEqual(dids.slice(0, 3))
    const second = await members.list(OTHER, 3, first.cursor)
    expect(second.members).toEqual(dids.slice(3, 6))
    const last = await members.list(OTHER, 3, second.cursor)
    expect(last).toEqual({ members: dids.slice(6) })
  })

  it('clears a space', async () => {
    await members.clear(OTHER)
    expect(await members.list(OTHER, 10)).toEqual({ members: [] })
  })
})
