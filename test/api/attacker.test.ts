// The API from the attacker's side, end to end over real HTTP: a devnet authority deciding access, the real
// MergeStore, real Redis. Every refusal must carry the right error and leak nothing — in particular a space
// the caller may not read must be answered byte-for-byte like a space that does not exist.
import { setTimeout as sleep } from 'node:timers/promises'
import { SpaceViewClient } from '../../src/api/client.js'
import { SPACE_NOT_FOUND_MESSAGE } from '../../src/api/errors.js'
import { NSID } from '../../src/api/lexicons.js'
import { aclExplainCommand } from '../../src/cli/acl-explain.js'
import type { Account } from '../../src/devnet/accounts.js'
import { credentialFetch } from '../../src/devnet/credential-client.js'
import { managingAppPolicy, MEMBER_LIST_POLICY, PUBLIC_POLICY } from '../../src/devnet/space-config.js'
import { createDpopProof, generateDpopKey } from '../../src/protocol/dpop.js'
import { resign } from '../protocol/token-fixtures.js'
import { startHarness, type Harness, type Reply } from './harness.js'

const SECRET = 'SECRET-CONTENT'
const POST = 'com.example.forum.post'
const TTL_SEC = 2

let h: Harness
let authority: Account,
  member: Account,
  outsider: Account,
  leaver: Account,
  neighbour: Account,
  sleeper: Account
let closed: string, other: string, open: string, managed: string
const nowhere = () => `at://did:plc:${'z'.repeat(24)}/space/com.example.forum/nowhere`

beforeAll(async () => {
  h = await startHarness({ admissionTtlSec: TTL_SEC, factsTtlMs: 0 })
  authority = h.account('authority')
  member = h.account('member')
  outsider = h.account('outsider')
  leaver = h.account('leaver')
  neighbour = h.account('neighbour')
  sleeper = h.account('sleeper')
  closed = await h.createSpace(authority, 'closed', MEMBER_LIST_POLICY, [member, leaver])
  other = await h.createSpace(authority, 'other', MEMBER_LIST_POLICY, [neighbour])
  open = await h.createSpace(authority, 'open', PUBLIC_POLICY)
  managed = await h.createSpace(authority, 'managed', managingAppPolicy(h.managingAppId))
  const posts = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => ({
      collection: POST,
      rkey: `${tag}${i}`,
      value: { $type: POST, text: `${SECRET} ${tag} ${i}` },
    }))
  await h.writeRecords(closed, authority, posts(3, 'a'))
  await h.writeRecords(closed, member, posts(2, 'm'))
  await h.writeRecords(other, neighbour, posts(2, 'n'))
  await h.writeRecords(open, authority, posts(2, 'o'))
  await h.writeRecords(open, sleeper, posts(2, 's'))
  await h.writeRecords(managed, authority, posts(1, 'g'))
}, 120_000)

afterAll(() => h?.close())

/** How often the ACL filter decided (outcome, reason) so far. */
async function decisions(outcome: string, reason: string): Promise<number> {
  const metric = await h.metrics.registry.getSingleMetric('spaceview_acl_decisions_total')?.get()
  return metric?.values.find((v) => v.labels.outcome === outcome && v.labels.reason === reason)?.value ?? 0
}

const records = (r: Reply) => (r.json.records as Array<{ uri: string; author: string }>) ?? []

function expectNoLeak(r: Reply): void {
  expect(r.text).not.toContain(SECRET)
  for (const space of [closed, other, open, managed]) expect(r.text).not.toContain(space)
  for (const a of [authority, member, neighbour]) expect(r.text).not.toContain(a.did)
}

/** Asserts the one refusal answer, identical to the answer for a space that does not exist. */
async function expectRefused(r: Reply, as: Account): Promise<void> {
  const missing = await h.asUser(as, NSID.listRecords, { space: nowhere() })
  expect({ status: r.status, text: r.text }).toEqual({ status: missing.status, text: missing.text })
  expect(r.headers.get('content-type')).toBe(missing.headers.get('content-type'))
  expect(r.headers.get('content-length')).toBe(missing.headers.get('content-length'))
  expect(r.status).toBe(400)
  expect(r.json).toEqual({ error: 'SpaceNotFound', message: SPACE_NOT_FOUND_MESSAGE })
  expectNoLeak(r)
}

describe('health', () => {
  it('answers on /xrpc/_health with component states only', async () => {
    const res = await fetch(`${h.api.url}/xrpc/_health`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ version: expect.any(String), redis: 'ok', store: 'ok' })
  })
})

describe('admitted readers', () => {
  it('serves the authority the merged records of every writer, in pages with sealed cursors', async () => {
    const all = await h.asUser(authority, NSID.listRecords, { space: closed })
    expect(all.status).toBe(200)
    expect(
      records(all)
        .map((r) => r.author)
        .sort(),
    ).toEqual([authority.did, authority.did, authority.did, member.did, member.did].sort())
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const page = await h.asUser(authority, NSID.listRecords, {
        space: closed,
        limit: 2,
        ...(cursor ? { cursor } : {}),
      })
      expect(page.status).toBe(200)
      seen.push(...records(page).map((r) => r.uri))
      cursor = page.json.cursor as string | undefined
    } while (cursor)
    expect(seen).toEqual(records(all).map((r) => r.uri))
  })

  it('filters by author and collection and reverses', async () => {
    const mine = await h.asUser(authority, NSID.listRecords, {
      space: closed,
      author: member.did,
      collection: POST,
    })
    expect(records(mine).map((r) => r.author)).toEqual([member.did, member.did])
    const fwd = records(await h.asUser(authority, NSID.listRecords, { space: closed })).map((r) => r.uri)
    const back = records(await h.asUser(authority, NSID.listRecords, { space: closed, reverse: true })).map(
      (r) => r.uri,
    )
    expect(back).toEqual([...fwd].reverse())
  })

  it('admits a member through the authority with their delegation token, then for a bounded time', async () => {
    const token = await h.delegation(member, closed)
    const grants = await decisions('allow', 'credential')
    const first = await h.asUser(member, NSID.getSpace, { space: closed }, { 'x-space-delegation': token })
    expect(first.status).toBe(200)
    expect(await decisions('allow', 'credential')).toBe(grants + 1)
    expect(first.json).toMatchObject({
      uri: closed,
      authority: authority.did,
      access: { reason: 'credential', until: expect.any(String) },
      policy: { kind: 'memberList', appAccess: 'open' },
      recordCount: 5,
      writers: { total: 2, synced: 2, hidden: 0 },
    })
    const until = Date.parse((first.json.access as { until: string }).until)
    expect(until - Date.now()).toBeLessThanOrEqual(TTL_SEC * 1000)
    const again = await h.asUser(member, NSID.listRecords, { space: closed })
    expect(records(again)).toHaveLength(5)
  })

  it('serves a public space to any authenticated user and gets single records', async () => {
    const list = await h.asUser(outsider, NSID.listRecords, { space: open })
    expect(list.status).toBe(200)
    const uri = records(list)[0]?.uri as string
    const one = await h.asUser(outsider, NSID.getRecord, { uri })
    expect(one.status).toBe(200)
    expect(one.json).toMatchObject({ uri, value: { text: expect.stringContaining(SECRET) } })
    const absent = await h.asUser(outsider, NSID.getRecord, { uri: uri.replace(/[^/]+$/, 'nope') })
    expect(absent.status).toBe(400)
    expect(absent.json.error).toBe('RecordNotFound')
  })

  it('reports per-writer sync status', async () => {
    const status = await h.asUser(authority, NSID.getSyncStatus, { space: closed })
    expect(status.status).toBe(200)
    expect(status.json.writers).toEqual(
      [authority.did, member.did]
        .sort()
        .map((did) => expect.objectContaining({ did, state: 'synced', rev: expect.any(String) })),
    )
  })

  it('lists the spaces the caller can read now, and only those', async () => {
    await h.asUser(
      member,
      NSID.listRecords,
      { space: closed },
      { 'x-space-delegation': await h.delegation(member, closed) },
    )
    const listed = await h.asUser(member, NSID.listSpaces, {})
    expect(listed.status).toBe(200)
    const uris = (listed.json.spaces as Array<{ uri: string }>).map((s) => s.uri)
    expect(uris).toEqual(expect.arrayContaining([closed, open]))
    expect(uris).not.toContain(other)
    expect(uris).not.toContain(managed)
  })

  it('offers a typed client that apps call with per-call auth', async () => {
    const client = new SpaceViewClient({
      service: h.api.url,
      auth: async ({ nsid }) => ({ authorization: `Bearer ${await h.serviceAuth(authority, nsid)}` }),
    })
    const page = await client.listRecords({ space: open, limit: 1 })
    expect(page.records).toHaveLength(1)
    expect(page.cursor).toEqual(expect.any(String))
    await expect(client.getSpace({ space: other.replace('other', 'absent') })).rejects.toMatchObject({
      status: 400,
      error: 'SpaceNotFound',
    })
  })
})

describe('refused readers (forbidden looks exactly like not found)', () => {
  it('refuses a non-member, with or without a delegation token', async () => {
    await expectRefused(await h.asUser(outsider, NSID.listRecords, { space: closed }), outsider)
    const token = await h.delegation(outsider, closed)
    const refusals = await decisions('deny', 'user_not_authorized')
    await expectRefused(
      await h.asUser(outsider, NSID.listRecords, { space: closed }, { 'x-space-delegation': token }),
      outsider,
    )
    // The authority itself was asked and said no.
    expect(await decisions('deny', 'user_not_authorized')).toBe(refusals + 1)
    await expectRefused(await h.asUser(outsider, NSID.getSpace, { space: closed }), outsider)
    await expectRefused(await h.asUser(outsider, NSID.getSyncStatus, { space: closed }), outsider)
    const uri = `${closed}/${authority.did}/${POST}/a0`
    await expectRefused(await h.asUser(outsider, NSID.getRecord, { uri }), outsider)
  })

  it('refuses a member of another space, and their token for that space', async () => {
    const theirs = await h.delegation(neighbour, other)
    expect(
      (await h.asUser(neighbour, NSID.listRecords, { space: other }, { 'x-space-delegation': theirs }))
        .status,
    ).toBe(200)
    await expectRefused(await h.asUser(neighbour, NSID.listRecords, { space: closed }), neighbour)
    const wrongSpace = await h.asUser(
      neighbour,
      NSID.listRecords,
      { space: closed },
      { 'x-space-delegation': await h.delegation(neighbour, other) },
    )
    expect(wrongSpace.status).toBe(400)
    expect(wrongSpace.json.error).toBe('InvalidDelegationToken')
    expectNoLeak(wrongSpace)
  })

  it('refuses a removed member once the admission lapses, and evicts it on the authority refusal', async () => {
    const space = await h.createSpace(authority, 'leaving', MEMBER_LIST_POLICY, [leaver])
    await h.writeRecords(space, authority, [{ collection: POST, rkey: 'x', value: { text: SECRET } }])
    const ok = await h.asUser(
      leaver,
      NSID.listRecords,
      { space },
      { 'x-space-delegation': await h.delegation(leaver, space) },
    )
    expect(ok.status).toBe(200)
    // The authority removes the member (what simplespace.removeMember does); nobody tells syncers.
    h.devnet.hosts[authority.host]?.spaceHost.get(space)?.members.delete(leaver.did)
    expect((await h.asUser(leaver, NSID.listRecords, { space })).status).toBe(200) // within the admission
    await sleep(TTL_SEC * 1000 + 100)
    await expectRefused(await h.asUser(leaver, NSID.listRecords, { space }), leaver)
    const refusals = await decisions('deny', 'user_not_authorized')
    const retry = await h.asUser(
      leaver,
      NSID.listRecords,
      { space },
      { 'x-space-delegation': await h.delegation(leaver, space) },
    )
    await expectRefused(retry, leaver)
    expect(await decisions('deny', 'user_not_authorized')).toBe(refusals + 1)
  })

  it('refuses expired and forged delegation tokens before asking anyone', async () => {
    const expired = await h.signedDelegation(outsider, closed, Date.now() / 1000 - 300)
    const late = await h.asUser(
      outsider,
      NSID.listRecords,
      { space: closed },
      { 'x-space-delegation': expired },
    )
    expect(late.json).toEqual({ error: 'InvalidDelegationToken', message: expect.stringMatching(/expired/) })
    const genuine = await h.signedDelegation(outsider, closed)
    const forged = await resign(genuine, await h.devnet.accounts.keypair(member), {})
    const bad = await h.asUser(
      outsider,
      NSID.listRecords,
      { space: closed },
      { 'x-space-delegation': forged },
    )
    expect(bad.json).toEqual({ error: 'InvalidDelegationToken', message: expect.stringMatching(/signature/) })
    expectNoLeak(late)
    expectNoLeak(bad)
  })

  it("refuses someone else's delegation token", async () => {
    const stolen = await h.delegation(member, closed)
    const r = await h.asUser(outsider, NSID.listRecords, { space: closed }, { 'x-space-delegation': stolen })
    expect(r.status).toBe(400)
    expect(r.json).toEqual({
      error: 'InvalidDelegationToken',
      message: expect.stringContaining('another user'),
    })
  })

  it('hides deactivated callers and deactivated authors', async () => {
    await h.store.setAccountStatus(sleeper.did, 'deactivated')
    await expectRefused(await h.asUser(sleeper, NSID.listRecords, { space: open }), sleeper)
    const list = await h.asUser(outsider, NSID.listRecords, { space: open })
    expect(records(list).map((r) => r.author)).not.toContain(sleeper.did)
    const hidden = await h.asUser(outsider, NSID.getRecord, { uri: `${open}/${sleeper.did}/${POST}/s0` })
    expect(hidden.json.error).toBe('RecordNotFound')
    const status = await h.asUser(authority, NSID.getSyncStatus, { space: open, author: sleeper.did })
    expect(status.json.writers).toEqual([
      expect.objectContaining({ state: 'hidden', accountStatus: 'deactivated' }),
    ])
    await h.store.setAccountStatus(sleeper.did, 'active')
  })

  it('never serves a deleted space, not even to its authority', async () => {
    const space = await h.createSpace(authority, 'doomed', PUBLIC_POLICY)
    await h.writeRecords(space, authority, [{ collection: POST, rkey: 'x', value: { text: SECRET } }])
    expect((await h.asUser(authority, NSID.listRecords, { space })).status).toBe(200)
    await h.store.deleteSpace(space)
    h.api.acl.invalidate(space)
    await expectRefused(await h.asUser(authority, NSID.listRecords, { space }), authority)
    await expectRefused(await h.asUser(authority, NSID.getSpace, { space }), authority)
  })

  it('answers refusals in about the same time as missing spaces', async () => {
    const time = async (space: string) => {
      const t0 = performance.now()
      const r = await h.asUser(outsider, NSID.listRecords, { space })
      expect(r.status).toBe(400)
      return performance.now() - t0
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
    const forbidden: number[] = []
    const missing: number[] = []
    for (let i = 0; i < 15; i++) {
      forbidden.push(await time(closed))
      missing.push(await time(nowhere()))
    }
    expect(median(forbidden)).toBeGreaterThanOrEqual(20)
    expect(median(missing)).toBeGreaterThanOrEqual(20)
    expect(Math.abs(median(forbidden) - median(missing))).toBeLessThan(10)
  })
})

describe('authentication attacks (401, before any space is looked at)', () => {
  const lxm = NSID.listRecords
  const cases: Array<[string, (a: Account) => Promise<Record<string, string>>, string]> = [
    ['no Authorization', async () => ({}), 'AuthRequired'],
    ['an unknown scheme', async () => ({ authorization: 'Basic dXNlcjpwYXNz' }), 'InvalidToken'],
    [
      'an expired JWT',
      async (a) => ({
        authorization: `Bearer ${await h.serviceAuth(a, lxm, { now: Date.now() / 1000 - 300 })}`,
      }),
      'JwtExpired',
    ],
    [
      'a not-yet-valid JWT',
      async (a) => ({
        authorization: `Bearer ${await h.serviceAuth(a, lxm, { now: Date.now() / 1000 + 300 })}`,
      }),
      'BadJwt',
    ],
    [
      'a JWT for another service',
      async (a) => ({
        authorization: `Bearer ${await h.serviceAuth(a, lxm, { aud: 'did:web:evil.example' })}`,
      }),
      'BadJwtAudience',
    ],
    [
      'a JWT for another method',
      async (a) => ({ authorization: `Bearer ${await h.serviceAuth(a, NSID.getRecord)}` }),
      'BadJwtLexiconMethod',
    ],
    [
      'a wrongly signed JWT',
      async (a) => {
        const genuine = await h.serviceAuth(a, lxm)
        const forged = await resign(genuine, await h.devnet.accounts.keypair(authority), {})
        return { authorization: `Bearer ${forged}` }
      },
      'BadJwtSignature',
    ],
  ]

  it.each(cases)('refuses %s', async (_name, headers, error) => {
    for (const space of [closed, open, nowhere()]) {
      const r = await h.get(lxm, { space }, await headers(member))
      expect({ status: r.status, error: r.json.error }).toEqual({ status: 401, error })
      expectNoLeak(r)
    }
  })

  it('refuses a replayed JWT', async () => {
    const token = await h.serviceAuth(member, lxm)
    expect((await h.get(lxm, { space: open }, { authorization: `Bearer ${token}` })).status).toBe(200)
    const replay = await h.get(lxm, { space: open }, { authorization: `Bearer ${token}` })
    expect({ status: replay.status, error: replay.json.error }).toEqual({ status: 401, error: 'JwtReplayed' })
    expectNoLeak(replay)
  })
})

describe('space credentials with DPoP', () => {
  it('read exactly their space; proofs are single-use and bound', async () => {
    const key = await generateDpopKey()
    const { credential } = await h.devnet.obtainCredential(closed, key, { account: member })
    const url = (space: string) => `${h.api.url}/xrpc/${NSID.listRecords}?space=${encodeURIComponent(space)}`
    const ok = await credentialFetch(url(closed), { credential, dpopKey: key })
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as { records: unknown[] }).records).toHaveLength(5)

    const elsewhere = await credentialFetch(url(other), { credential, dpopKey: key })
    const missing = await h.asUser(member, NSID.listRecords, { space: nowhere() })
    expect({ status: elsewhere.status, text: await elsewhere.text() }).toEqual({
      status: 400,
      text: missing.text,
    })

    const proof = await createDpopProof(key, { htm: 'GET', htu: url(closed), credential })
    const headers = { authorization: `DPoP ${credential}`, dpop: proof }
    expect((await fetch(url(closed), { headers })).status).toBe(200)
    const replayed = await fetch(url(closed), { headers })
    expect(replayed.status).toBe(401)
    expect(((await replayed.json()) as { error: string }).error).toBe('BadDpopProof')

    const bare = await fetch(url(closed), { headers: { authorization: `DPoP ${credential}` } })
    expect(((await bare.json()) as { error: string }).error).toBe('MissingDpopProof')
    const asBearer = await fetch(url(closed), { headers: { authorization: `Bearer ${credential}` } })
    expect(((await asBearer.json()) as { error: string }).error).toBe('BadJwtType')
  })
})

describe('malformed requests (400 InvalidRequest naming the problem)', () => {
  const bad = async (nsid: string, params: Record<string, string | number>, pattern: RegExp) => {
    const r = await h.asUser(authority, nsid, params)
    expect({ status: r.status, error: r.json.error }).toEqual({ status: 400, error: 'InvalidRequest' })
    expect(r.json.message).toMatch(pattern)
    expectNoLeak(r)
  }

  it('refuses oversized and nonsensical limits', async () => {
    await bad(NSID.listRecords, { space: closed, limit: 101 }, /limit/)
    await bad(NSID.listRecords, { space: closed, limit: 10_000_000 }, /limit/)
    await bad(NSID.listRecords, { space: closed, limit: 0 }, /limit/)
    await bad(NSID.getSyncStatus, { space: closed, limit: 1001 }, /limit/)
  })

  it('refuses malformed space refs and record URIs', async () => {
    await bad(NSID.listRecords, { space: 'closed' }, /space: .*at:\/\//)
    await bad(NSID.listRecords, { space: `at://${authority.did}/com.example.post/x` }, /space/)
    await bad(NSID.listRecords, { space: `${closed}/${authority.did}/${POST}/a0` }, /space/)
    await bad(NSID.listRecords, { space: `${closed}?x=1` }, /space/)
    await bad(NSID.listRecords, { space: `at://${'a'.repeat(8200)}` }, /space/)
    await bad(NSID.getRecord, { uri: closed }, /uri/)
    await bad(NSID.getRecord, { uri: `${closed}/not-a-did/${POST}/a0` }, /uri/)
    await bad(NSID.listRecords, { space: closed, author: 'not-a-did' }, /author/)
    await bad(NSID.listRecords, {}, /space/)
  })

  it('refuses tampered cursors and cursors of another listing', async () => {
    const page = await h.asUser(authority, NSID.listRecords, { space: closed, limit: 1 })
    const cursor = page.json.cursor as string
    const flipped = cursor.slice(0, 5) + (cursor[5] === 'A' ? 'B' : 'A') + cursor.slice(6)
    await bad(NSID.listRecords, { space: closed, limit: 1, cursor: flipped }, /cursor/)
    await bad(NSID.listRecords, { space: open, limit: 1, cursor }, /cursor/)
    await bad(NSID.listRecords, { space: closed, limit: 1, reverse: 'true', cursor }, /cursor/)
    const forged = Buffer.from(JSON.stringify(['x', 'y'])).toString('base64url')
    await bad(NSID.listRecords, { space: closed, cursor: forged }, /cursor/)
  })
})

describe('managed spaces (spaceview is the managing app)', () => {
  const admin = () => ({ authorization: `Bearer ${h.adminToken}` })

  it('keeps admin methods behind the admin token', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${await h.serviceAuth(authority, NSID.addMember)}` },
    ]
    for (const headers of attempts) {
      const r = await h.post(NSID.addMember, { space: managed, did: outsider.did }, headers)
      expect({ status: r.status, error: r.json.error }).toEqual({ status: 401, error: 'AuthRequired' })
    }
  })

  it('admits members at once, removes them at once, and the authority agrees through checkUserAccess', async () => {
    await expectRefused(await h.asUser(member, NSID.listRecords, { space: managed }), member)
    expect((await h.post(NSID.addMember, { space: managed, did: member.did }, admin())).status).toBe(200)
    expect((await h.asUser(member, NSID.listRecords, { space: managed })).status).toBe(200)
    const members = await h.get(NSID.listMembers, { space: managed }, admin())
    expect(members.json).toEqual({ members: [member.did] })

    // The authority's own gate asks us (real checkUserAccess over HTTP) and gets the same answer.
    await expect(
      h.devnet.obtainCredential(managed, await generateDpopKey(), { account: member }),
    ).resolves.toMatchObject({
      credential: expect.any(String),
    })
    expect((await h.post(NSID.removeMember, { space: managed, did: member.did }, admin())).status).toBe(200)
    await expectRefused(await h.asUser(member, NSID.listRecords, { space: managed }), member)
    await expect(
      h.devnet.obtainCredential(managed, await generateDpopKey(), { account: member }),
    ).rejects.toMatchObject({
      error: 'UserNotAuthorized',
    })
  })

  it('answers checkUserAccess only to the space authority', async () => {
    const params = { space: managed, user: member.did }
    const aud = h.managingAppId
    const asOutsider = await h.get(NSID.checkUserAccess, params, {
      authorization: `Bearer ${await h.serviceAuth(outsider, NSID.checkUserAccess, { aud })}`,
    })
    expect({ status: asOutsider.status, error: asOutsider.json.error }).toEqual({
      status: 401,
      error: 'BadJwtIss',
    })
    const asAuthority = await h.get(NSID.checkUserAccess, params, {
      authorization: `Bearer ${await h.serviceAuth(authority, NSID.checkUserAccess, { aud })}`,
    })
    expect(asAuthority.json).toEqual({ authorized: false })
  })

  it('explains decisions to operators (acl explain)', async () => {
    const lines: string[] = []
    const code = await aclExplainCommand(
      ['explain', managed, outsider.did, '--url', h.api.url, '--token', h.adminToken],
      (s) => lines.push(s),
    )
    expect(code).toBe(0)
    expect(lines[0]).toBe('DENY (not_member)')
    expect(lines.join('\n')).toContain('managingAppPolicy naming spaceview')
    const json: string[] = []
    await aclExplainCommand(
      ['explain', open, outsider.did, '--url', h.api.url, '--token', h.adminToken, '--json'],
      (s) => json.push(s),
    )
    expect(JSON.parse(json.join(''))).toMatchObject({
      outcome: 'allow',
      reason: 'public',
      steps: expect.any(Array),
    })
    const noToken: string[] = []
    expect(
      await aclExplainCommand(['explain', open, outsider.did, '--url', h.api.url, '--token', 'nope'], (s) =>
        noToken.push(s),
      ),
    ).toBe(1)
    expect(JSON.parse(noToken.join(''))).toMatchObject({ error: 'AuthRequired' })
  })
})

describe('server plumbing', () => {
  it('mounts extra XRPC methods on the same port', async () => {
    h.api.mount(
      {
        lexicon: 1,
        id: 'dev.spaceview.test.echo',
        defs: {
          main: {
            type: 'procedure',
            input: {
              encoding: 'application/json',
              schema: {
                type: 'object',
                required: ['space'],
                properties: { space: { type: 'string', format: 'space-ref' } },
              },
            },
            output: {
              encoding: 'application/json',
              schema: { type: 'object', properties: { space: { type: 'string' } } },
            },
          },
        },
      },
      { handler: async ({ input }) => ({ encoding: 'application/json', body: input?.body as object }) },
    )
    const r = await h.post('dev.spaceview.test.echo', { space: closed })
    expect(r.json).toEqual({ space: closed })
  })

  it('answers anything outside XRPC with a JSON 404, and unknown methods with 501', async () => {
    const stray = await fetch(`${h.api.url}/admin`)
    expect(stray.status).toBe(404)
    expect(await stray.json()).toEqual({ error: 'NotFound', message: expect.any(String) })
    const unknown = await h.get('dev.spaceview.nope', {})
    expect({ status: unknown.status, error: unknown.json.error }).toEqual({
      status: 501,
      error: 'MethodNotImplemented',
    })
    expect(stray.headers.get('x-powered-by')).toBeNull()
  })

  it('times every request by method and status', async () => {
    const metric = await h.metrics.registry.getSingleMetric('spaceview_api_request_duration_seconds')?.get()
    const counts = (metric?.values ?? []).filter((v) =>
      (v as { metricName?: string }).metricName?.endsWith('_count'),
    )
    const of = (method: string, status: string) =>
      counts.find((v) => v.labels.method === method && v.labels.status === status)?.value ?? 0
    expect(of(NSID.listRecords, '200')).toBeGreaterThan(0)
    expect(of(NSID.listRecords, '400')).toBeGreaterThan(0)
    expect(of(NSID.listRecords, '401')).toBeGreaterThan(0)
  })
})
