// The ACL filter's rules one by one, with scripted store facts and authority answers and the real Redis
// admission cache and member lists: default deny, order of the rules, bounded and evictable admissions,
// and that decisions are counted and explained.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { AclFilter, type AclFacts } from '../../src/acl-filter/acl-filter.js'
import { AdmissionCache } from '../../src/acl-filter/admission-cache.js'
import type { ExchangeResult } from '../../src/acl-filter/authority-exchange.js'
import type { Caller } from '../../src/acl-filter/caller.js'
import { MembershipStore } from '../../src/acl-filter/membership-store.js'
import type { AccessSnapshot, AccountStatus, SpaceInfo } from '../../src/merge/index.js'
import { createMetrics } from '../../src/metrics/metrics.js'

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const prefix = `spaceview-test:${randomBytes(6).toString('hex')}:`
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
})

const AUTHORITY = 'did:plc:authority00000000000000000'
const ALICE = 'did:plc:alice0000000000000000000'
const BOB = 'did:plc:bob00000000000000000000000'
const US = 'did:web:spaceview.test#atproto_space_syncer'
const space = (skey: string) => `at://${AUTHORITY}/space/com.example.forum/${skey}`
const DEFS = 'com.atproto.simplespace.defs#'
const OPEN = { $type: `${DEFS}open` }
const policies = {
  public: { $type: `${DEFS}publicPolicy` },
  memberList: { $type: `${DEFS}memberListPolicy` },
  managedHere: { $type: `${DEFS}managingAppPolicy`, managingApp: US },
  managedElsewhere: { $type: `${DEFS}managingAppPolicy`, managingApp: 'did:web:other.app#manager' },
}

class Facts implements AclFacts {
  spaces = new Map<string, SpaceInfo>()
  access = new Map<string, AccessSnapshot>()
  statuses = new Map<string, AccountStatus>()
  reads = 0
  add(uri: string, policy: unknown, appAccess: unknown = OPEN, epoch = 1): string {
    this.spaces.set(uri, { space: uri, epoch, status: 'active', changedAt: new Date().toISOString() })
    this.access.set(uri, { policy, appAccess, members: null, fetchedAt: new Date().toISOString() })
    return uri
  }
  async getSpace(uri: string) {
    this.reads++
    return this.spaces.get(uri) ?? null
  }
  async getAccessSnapshot(uri: string) {
    return this.access.get(uri) ?? null
  }
  async getAccountStatus(did: string) {
    return this.statuses.get(did) ?? 'active'
  }
}

class Authority {
  calls: Array<{ space: string; token: string; appGated: boolean }> = []
  next: ExchangeResult = { ok: true, credentialExpiresAt: Date.now() + 7_200_000 }
  async exchange(space: string, _ref: unknown, token: string, appGated: boolean): Promise<ExchangeResult> {
    this.calls.push({ space, token, appGated })
    return this.next
  }
}

function setup(opts: { ttlSec?: number; factsTtlMs?: number } = {}) {
  const facts = new Facts()
  const authority = new Authority()
  const metrics = createMetrics()
  const membership = new MembershipStore(redis, `${prefix}members:`)
  const admissions = new AdmissionCache(redis, `${prefix}adm:${randomBytes(4).toString('hex')}:`)
  const acl = new AclFilter({
    facts,
    membership,
    admissions,
    exchange: authority,
    managingAppIds: [US],
    admissionTtlSec: opts.ttlSec ?? 300,
    factsTtlMs: opts.factsTtlMs ?? 0,
    metrics,
    logger: pino({ level: 'silent' }),
  })
  const counted = async (outcome: string, reason: string) => {
    const values =
      (await metrics.registry.getSingleMetric('spaceview_acl_decisions_total')?.get())?.values ?? []
    return values.find((v) => v.labels.outcome === outcome && v.labels.reason === reason)?.value ?? 0
  }
  return { facts, authority, acl, membership, admissions, counted }
}

const user = (did: string): Caller => ({ kind: 'user', did })

describe('ACL filter', () => {
  it('denies spaces it does not index or that were deleted, whoever asks', async () => {
    const { facts, acl } = setup()
    expect(await acl.admit(user(AUTHORITY), space('nowhere'))).toEqual({
      outcome: 'deny',
      reason: 'space_unavailable',
    })
    const gone = facts.add(space('gone'), policies.public)
    facts.spaces.set(gone, { space: gone, epoch: 1, status: 'deleted', changedAt: '' })
    expect(await acl.admit(user(AUTHORITY), gone)).toEqual({ outcome: 'deny', reason: 'space_unavailable' })
    const cred: Caller = { kind: 'space_credential', space: gone, expiresAt: Date.now() + 1000 }
    expect((await acl.admit(cred, gone)).outcome).toBe('deny')
  })

  it('admits a space credential to its own space only, until it expires', async () => {
    const { facts, acl } = setup()
    const a = facts.add(space('a'), policies.memberList)
    const b = facts.add(space('b'), policies.memberList)
    const expiresAt = Date.now() + 60_000
    const cred: Caller = { kind: 'space_credential', space: a, expiresAt }
    expect(await acl.admit(cred, a)).toEqual({
      outcome: 'allow',
      reason: 'space_credential',
      until: expiresAt,
    })
    expect(await acl.admit(cred, b)).toEqual({ outcome: 'deny', reason: 'wrong_space' })
  })

  it('lets no inactive account read, not even the authority', async () => {
    const { facts, acl } = setup()
    const s = facts.add(space('pub'), policies.public)
    for (const status of ['deactivated', 'takendown', 'suspended', 'deleted'] as const) {
      facts.statuses.set(AUTHORITY, status)
      facts.statuses.set(ALICE, status)
      expect(await acl.admit(user(AUTHORITY), s)).toEqual({ outcome: 'deny', reason: 'account_inactive' })
      expect(await acl.admit(user(ALICE), s)).toEqual({ outcome: 'deny', reason: 'account_inactive' })
    }
  })

  it('always admits the authority and, under a public policy, every user', async () => {
    const { facts, acl } = setup()
    const closed = facts.add(space('closed'), policies.memberList)
    const pub = facts.add(space('public'), policies.public)
    expect(await acl.admit(user(AUTHORITY), closed)).toEqual({ outcome: 'allow', reason: 'authority' })
    expect(await acl.admit(user(ALICE), pub)).toEqual({ outcome: 'allow', reason: 'public' })
  })

  it('uses our member list where spaceview is the managing app, and a removal applies at once', async () => {
    const { facts, acl, membership, authority } = setup({ factsTtlMs: 60_000 })
    const s = facts.add(space(`managed${randomBytes(3).toString('hex')}`), policies.managedHere)
    expect(await acl.admit(user(ALICE), s, 'token-ignored')).toEqual({
      outcome: 'deny',
      reason: 'not_member',
    })
    await membership.add(s, ALICE)
    expect(await acl.admit(user(ALICE), s)).toEqual({ outcome: 'allow', reason: 'member' })
    await membership.remove(s, ALICE)
    expect(await acl.admit(user(ALICE), s)).toEqual({ outcome: 'deny', reason: 'not_member' })
    expect(authority.calls).toEqual([])
  })

  it.each([
    ['memberList', policies.memberList],
    ['a managing app elsewhere', policies.managedElsewhere],
    ['no snapshot yet', undefined],
  ])(
    'lets the authority decide under %s: token → exchange → bounded cached admission',
    async (_n, policy) => {
      const { facts, acl, authority } = setup()
      const s = facts.add(space('ask'), policy)
      if (policy === undefined) facts.access.delete(s)
      expect(await acl.admit(user(ALICE), s)).toEqual({ outcome: 'deny', reason: 'delegation_required' })
      const before = Date.now()
      const granted = await acl.admit(user(ALICE), s, 'alice-token')
      expect(granted).toMatchObject({ outcome: 'allow', reason: 'credential' })
      expect(granted.outcome === 'allow' && granted.until).toBeGreaterThanOrEqual(before + 300_000)
      expect(granted.outcome === 'allow' && granted.until).toBeLessThanOrEqual(Date.now() + 300_000)
      // Without a snapshot the app gate is unknown too, so our attestation goes along.
      expect(authority.calls).toEqual([{ space: s, token: 'alice-token', appGated: policy === undefined }])
      // Later requests ride on the cached admission; other users do not.
      expect(await acl.admit(user(ALICE), s)).toMatchObject({ outcome: 'allow', reason: 'credential' })
      expect(await acl.admit(user(BOB), s)).toEqual({ outcome: 'deny', reason: 'delegation_required' })
      expect(authority.calls).toHaveLength(1)
    },
  )

  it('never admits past the credential that proved it, and forgets it when it lapses', async () => {
    const { facts, acl, authority } = setup({ ttlSec: 300 })
    const s = facts.add(space('short'), policies.memberList)
    authority.next = { ok: true, credentialExpiresAt: Date.now() + 150 }
    const granted = await acl.admit(user(ALICE), s, 'tok')
    expect(granted.outcome === 'allow' && granted.until).toBeLessThanOrEqual(Date.now() + 150)
    await new Promise((r) => setTimeout(r, 200))
    expect(await acl.admit(user(ALICE), s)).toEqual({ outcome: 'deny', reason: 'delegation_required' })
  })

  it.each(['user_not_authorized', 'app_not_authorized', 'not_authorized'] as const)(
    'denies and evicts the cached admission on %s',
    async (refusal) => {
      const { facts, acl, authority } = setup()
      const s = facts.add(space('revoked'), policies.memberList)
      await acl.admit(user(ALICE), s, 'first')
      authority.next = { ok: false, reason: refusal, detail: 'refused' }
      expect(await acl.admit(user(ALICE), s, 'second')).toEqual({ outcome: 'deny', reason: refusal })
      expect(await acl.admit(user(ALICE), s)).toEqual({ outcome: 'deny', reason: 'delegation_required' })
    },
  )

  it('fails closed when the authority cannot be asked, keeping an earlier admission', async () => {
    const { facts, acl, authority } = setup()
    const s = facts.add(space('flaky'), policies.memberList)
    await acl.admit(user(ALICE), s, 'first')
    authority.next = { ok: false, reason: 'authority_unreachable', detail: 'timeout' }
    expect(await acl.admit(user(ALICE), s, 'second')).toEqual({
      outcome: 'deny',
      reason: 'authority_unreachable',
    })
    expect(await acl.admit(user(ALICE), s)).toMatchObject({ outcome: 'allow', reason: 'credential' })
    expect(await acl.admit(user(BOB), s, 'bob')).toEqual({ outcome: 'deny', reason: 'authority_unreachable' })
  })

  it('asks with our client attestation where the space gates on app identity', async () => {
    const { facts, acl, authority } = setup()
    const s = facts.add(space('gated'), policies.memberList, {
      $type: `${DEFS}allowList`,
      allowed: ['https://app'],
    })
    await acl.admit(user(ALICE), s, 'tok')
    expect(authority.calls[0]?.appGated).toBe(true)
  })

  it('never carries an admission over to a re-created space (new epoch)', async () => {
    const { facts, acl } = setup()
    const s = facts.add(space('reborn'), policies.memberList, OPEN, 1)
    await acl.admit(user(ALICE), s, 'tok')
    facts.add(s, policies.memberList, OPEN, 2)
    expect(await acl.admit(user(ALICE), s)).toEqual({ outcome: 'deny', reason: 'delegation_required' })
  })

  it('reuses store facts for the configured time, and forgets a space on invalidate', async () => {
    const { facts, acl } = setup({ factsTtlMs: 60_000 })
    const s = facts.add(space('cached'), policies.public)
    await acl.admit(user(ALICE), s)
    await acl.admit(user(ALICE), s)
    expect(facts.reads).toBe(1)
    facts.spaces.set(s, { space: s, epoch: 1, status: 'deleted', changedAt: '' })
    acl.invalidate(s)
    expect(await acl.admit(user(ALICE), s)).toEqual({ outcome: 'deny', reason: 'space_unavailable' })
  })

  it('counts every decision by outcome and reason', async () => {
    const { facts, acl, counted } = setup()
    const s = facts.add(space('count'), policies.memberList)
    await acl.admit(user(AUTHORITY), s)
    await acl.admit(user(ALICE), s)
    await acl.admit(user(ALICE), space('missing'))
    acl.record({ outcome: 'deny', reason: 'bad_auth' })
    expect(await counted('allow', 'authority')).toBe(1)
    expect(await counted('deny', 'not_authorized')).toBe(1) // delegation_required, until the vocabulary has it
    expect(await counted('deny', 'space_unavailable')).toBe(1)
    expect(await counted('deny', 'bad_auth')).toBe(1)
  })

  it('explains a decision step by step without asking the authority or counting', async () => {
    const { facts, acl, authority, counted } = setup()
    const s = facts.add(space('explain'), policies.memberList)
    const denied = await acl.explain(s, ALICE)
    expect(denied.decision).toEqual({ outcome: 'deny', reason: 'delegation_required' })
    expect(denied.steps.map((st) => st.check)).toEqual([
      'space',
      'account status',
      'policy',
      'cached admission',
    ])
    expect(denied.steps.at(-1)?.result).toContain('X-Space-Delegation')
    await acl.admit(user(ALICE), s, 'tok')
    const allowed = await acl.explain(s, ALICE)
    expect(allowed.decision).toMatchObject({ outcome: 'allow', reason: 'credential' })
    expect(allowed.steps.at(-1)?.result).toMatch(/valid until \d{4}-/)
    expect(authority.calls).toHaveLength(1)
    expect(await counted('allow', 'credential')).toBe(1)
    expect(JSON.stringify(allowed)).not.toContain('tok')
  })
})
