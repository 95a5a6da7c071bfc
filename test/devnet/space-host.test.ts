/**
 * The space host (SPEC §4.3, §4.8, §5.2, §7): listRepos, notify registrations and fan-out with verified
 * service auth, notifySpaceDeleted, writer-set rules, simplespace management and listSpaces.
 */
import type { Account } from '../../src/devnet/accounts.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import {
  managingAppPolicy,
  MEMBER_LIST_POLICY,
  OPEN_ACCESS,
  PUBLIC_POLICY,
} from '../../src/devnet/space-config.js'
import { assertValidOutput, credentialFor, startSyncer, xrpc, type Auth, type TestSyncer } from './helpers.js'

let devnet: Devnet
let space: string
let spaceHost: string
let auth: Auth
let syncer: TestSyncer

beforeAll(async () => {
  devnet = await startDevnet({
    seed: 'space-host',
    spaces: 2,
    writersPerSpace: 5,
    records: 3,
    hosts: 3,
    policy: 'member-list',
    allowListFraction: 0,
    registrationTtlSec: 3600,
  })
  space = devnet.spaces()[0]!.uri
  spaceHost = devnet.hostOf(devnet.space(space)!.authority).origin
  auth = await credentialFor(devnet, space)
  syncer = await startSyncer(devnet)
})
afterAll(async () => {
  await syncer.close()
  await devnet.close()
})

const write = (who: Account, s: string, text: string) =>
  xrpc(devnet.hostOf(who.did).origin, 'com.atproto.space.createRecord', {
    body: {
      space: s,
      repo: who.did,
      collection: 'com.example.devnet.post',
      record: { $type: 'com.example.devnet.post', text },
    },
    auth: { bearer: who.accessToken },
  })

test('listRepos: DID ascending, cursor on full pages only, hints equal the repo heads', async () => {
  const all: any[] = []
  let cursor: string | undefined
  let pages = 0
  for (;;) {
    const res = await xrpc(spaceHost, 'com.atproto.space.listRepos', {
      params: { space, limit: 2, cursor },
      auth,
    })
    assertValidOutput('com.atproto.space.listRepos', res.body)
    pages++
    all.push(...res.body.repos)
    if (res.body.repos.length === 2) expect(res.body.cursor).toBe(res.body.repos[1].did)
    else expect(res.body.cursor).toBeUndefined()
    if (!res.body.cursor) break
    cursor = res.body.cursor
  }
  expect(pages).toBe(3)
  const dids = all.map((r) => r.did)
  expect(dids).toEqual([...dids].sort())
  expect(dids).toEqual(devnet.space(space)!.writers)
  for (const r of all) {
    const head = devnet.repoHead(space, r.did)!
    expect(r.rev).toBe(head.rev)
    expect(Buffer.from(r.hash.$bytes, 'base64')).toEqual(Buffer.from(head.hash))
  }
  const wrong = await credentialFor(devnet, devnet.spaces()[1]!.uri)
  const refused = await xrpc(spaceHost, 'com.atproto.space.listRepos', { params: { space }, auth: wrong })
  expect([refused.status, refused.body.error]).toEqual([400, 'InvalidCredential'])
})

test('registerNotify: resolvable service ids only, TTL from config; writes fan out with verified service auth', async () => {
  const bad = await xrpc(spaceHost, 'com.atproto.space.registerNotify', {
    body: { space, service: 'did:plc:unknownsyncer2222222222222#atproto_space_syncer' },
    auth,
  })
  expect([bad.status, bad.body.error]).toEqual([400, 'ServiceNotResolvable'])
  const fragmentless = await xrpc(spaceHost, 'com.atproto.space.registerNotify', {
    body: { space, service: syncer.did },
    auth,
  })
  expect(fragmentless.body.error).toBe('ServiceNotResolvable') // a bare DID means its #atproto_pds, which it lacks
  const before = Date.now()
  const res = await xrpc(spaceHost, 'com.atproto.space.registerNotify', {
    body: { space, service: syncer.serviceId },
    auth,
  })
  expect(res.status).toBe(200)
  assertValidOutput('com.atproto.space.registerNotify', res.body)
  const expiresAt = Date.parse(res.body.expiresAt)
  expect(expiresAt - before).toBeGreaterThanOrEqual(3600_000 - 1000)
  expect(expiresAt - before).toBeLessThanOrEqual(3600_000 + 1000)

  const writer = devnet.accounts.require(devnet.space(space)!.writers[2]!)
  const w = await write(writer, space, 'hello')
  expect(w.status).toBe(200)
  await devnet.settle()
  await syncer.waitFor(1)
  const n = syncer.received.at(-1)!
  expect(n.rejected).toBeUndefined()
  expect(n.nsid).toBe('com.atproto.space.notifyWrite')
  expect(n.iss).toBe(devnet.space(space)!.authority)
  const head = devnet.repoHead(space, writer.did)!
  expect(n.body).toEqual({
    space,
    repo: writer.did,
    rev: head.rev,
    hash: { $bytes: Buffer.from(head.hash).toString('base64').replace(/=+$/, '') },
  })
  // The writer set hint advanced with it.
  expect(devnet.writerHint(space, writer.did)?.rev).toBe(head.rev)
})

test('a did:web syncer (served over http on loopback) registers and receives notifications', async () => {
  const { createServer } = await import('node:http')
  const hits: Array<{ path: string; authorization?: string }> = []
  let did = ''
  const server = createServer((req, res) => {
    hits.push({
      path: req.url ?? '',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    })
    if (req.url === '/.well-known/did.json') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          id: did,
          service: [{ id: '#atproto_space_syncer', type: 'SpaceSyncer', serviceEndpoint: origin }],
        }),
      )
      return
    }
    req.resume()
    req.on('end', () => {
      res.writeHead(200)
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as import('node:net').AddressInfo).port
  const origin = `http://127.0.0.1:${port}`
  did = `did:web:127.0.0.1%3A${port}`
  try {
    const service = `${did}#atproto_space_syncer`
    const res = await xrpc(spaceHost, 'com.atproto.space.registerNotify', { body: { space, service }, auth })
    expect(res.status).toBe(200)
    await write(devnet.accounts.require(devnet.space(space)!.writers[0]!), space, 'to did:web')
    await devnet.settle()
    const post = hits.find((h) => h.path === '/xrpc/com.atproto.space.notifyWrite')
    expect(post).toBeDefined()
    const payload = JSON.parse(Buffer.from(post!.authorization!.split('.')[1]!, 'base64url').toString())
    expect(payload).toMatchObject({
      aud: service,
      lxm: 'com.atproto.space.notifyWrite',
      iss: devnet.space(space)!.authority,
    })
    await xrpc(spaceHost, 'com.atproto.space.unregisterNotify', { body: { space, service }, auth })
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

test('a writer the policy does not admit is never recorded nor forwarded; removed members stay listed', async () => {
  const count = syncer.received.length
  const outsider = devnet.pool.find((a) => !devnet.space(space)!.members.includes(a.did))!
  expect((await write(outsider, space, 'sneaky')).status).toBe(200)
  await devnet.settle()
  expect(devnet.space(space)!.writers).not.toContain(outsider.did)
  expect(syncer.received.length).toBe(count)
  // Removing a member edits the list only; their entry in listRepos remains.
  const owner = devnet.accounts.require(devnet.space(space)!.authority)
  const member = devnet.space(space)!.writers.find((d) => d !== owner.did)!
  const rm = await xrpc(spaceHost, 'com.atproto.simplespace.removeMember', {
    body: { space, did: member },
    auth: { bearer: owner.accessToken },
  })
  expect(rm.status).toBe(200)
  expect(devnet.space(space)!.writers).toContain(member)
  // ...but their later writes are refused by the authority.
  expect((await write(devnet.accounts.require(member), space, 'after removal')).status).toBe(200)
  await devnet.settle()
  expect(syncer.received.length).toBe(count)
  await xrpc(spaceHost, 'com.atproto.simplespace.addMember', {
    body: { space, did: member },
    auth: { bearer: owner.accessToken },
  })
})

test('unregisterNotify stops delivery and is idempotent', async () => {
  const other = await startSyncer(devnet)
  try {
    await xrpc(spaceHost, 'com.atproto.space.registerNotify', {
      body: { space, service: other.serviceId },
      auth,
    })
    const writer = devnet.accounts.require(devnet.space(space)!.writers[3]!)
    await write(writer, space, 'one')
    await devnet.settle()
    await other.waitFor(1)
    for (let i = 0; i < 2; i++) {
      const res = await xrpc(spaceHost, 'com.atproto.space.unregisterNotify', {
        body: { space, service: other.serviceId },
        auth,
      })
      expect(res.status).toBe(200)
    }
    await write(writer, space, 'two')
    await devnet.settle()
    expect(other.received).toHaveLength(1)
  } finally {
    await other.close()
  }
})

test('simplespace management: create, get, update, members, errors', async () => {
  const owner = devnet.pool[0]!
  const at = devnet.hostOf(owner.did).origin
  const bearer = { bearer: owner.accessToken }
  const created = await xrpc(at, 'com.atproto.simplespace.createSpace', {
    body: { type: 'com.example.devnet.forum', policy: MEMBER_LIST_POLICY, appAccess: OPEN_ACCESS },
    auth: bearer,
  })
  const uri: string = created.body.uri
  expect(uri).toMatch(new RegExp(`^at://${owner.did}/space/com\\.example\\.devnet\\.forum/[a-z2-7]{13}$`))
  const again = await xrpc(at, 'com.atproto.simplespace.createSpace', {
    body: {
      type: 'com.example.devnet.forum',
      skey: uri.split('/').at(-1),
      policy: MEMBER_LIST_POLICY,
      appAccess: OPEN_ACCESS,
    },
    auth: bearer,
  })
  expect(again.body.error).toBe('SpaceAlreadyExists')
  const badPolicy = await xrpc(at, 'com.atproto.simplespace.createSpace', {
    body: {
      type: 'com.example.devnet.forum',
      policy: { $type: 'com.example#custom' },
      appAccess: OPEN_ACCESS,
    },
    auth: bearer,
  })
  expect(badPolicy.body.error).toBe('UnsupportedPolicy')
  const badApp = await xrpc(at, 'com.atproto.simplespace.createSpace', {
    body: { type: 'com.example.devnet.forum', policy: PUBLIC_POLICY, appAccess: { $type: 'com.example#x' } },
    auth: bearer,
  })
  expect(badApp.body.error).toBe('UnsupportedAppAccess')
  const badManager = await xrpc(at, 'com.atproto.simplespace.createSpace', {
    body: {
      type: 'com.example.devnet.forum',
      policy: managingAppPolicy('https://not-a-did'),
      appAccess: OPEN_ACCESS,
    },
    auth: bearer,
  })
  expect(badManager.body.error).toBe('UnsupportedPolicy')

  const got = await xrpc(at, 'com.atproto.simplespace.getSpace', { params: { space: uri }, auth: bearer })
  assertValidOutput('com.atproto.simplespace.getSpace', got.body)
  expect(got.body).toEqual({ uri, policy: MEMBER_LIST_POLICY, appAccess: OPEN_ACCESS })
  const notOwner = devnet.pool[1]!
  const nope = await xrpc(at, 'com.atproto.simplespace.getSpace', {
    params: { space: uri },
    auth: { bearer: notOwner.accessToken },
  })
  expect(nope.body.error).toBe('NotSpaceOwner')
  const upd = await xrpc(at, 'com.atproto.simplespace.updateSpace', {
    body: { space: uri, policy: PUBLIC_POLICY },
    auth: bearer,
  })
  expect(upd.status).toBe(200)
  expect(
    (await xrpc(at, 'com.atproto.simplespace.getSpace', { params: { space: uri }, auth: bearer })).body
      .policy,
  ).toEqual(PUBLIC_POLICY)
  const foreignUpdate = await xrpc(at, 'com.atproto.simplespace.updateSpace', {
    body: { space: uri, policy: PUBLIC_POLICY },
    auth: { bearer: notOwner.accessToken },
  })
  expect(foreignUpdate.body.error).toBe('NotSpaceOwner')

  // A credential can read getSpace too.
  const cred = await credentialFor(devnet, uri)
  const viaCred = await xrpc(at, 'com.atproto.simplespace.getSpace', { params: { space: uri }, auth: cred })
  expect(viaCred.body.uri).toBe(uri)

  for (const did of [
    'did:plc:cccccccccccccccccccccccc',
    'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa',
    'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb',
  ]) {
    await xrpc(at, 'com.atproto.simplespace.addMember', { body: { space: uri, did }, auth: bearer })
    await xrpc(at, 'com.atproto.simplespace.addMember', { body: { space: uri, did }, auth: bearer })
  }
  const p1 = await xrpc(at, 'com.atproto.simplespace.listMembers', {
    params: { space: uri, limit: 2 },
    auth: bearer,
  })
  assertValidOutput('com.atproto.simplespace.listMembers', p1.body)
  expect(p1.body.members.map((m: any) => m.did)).toEqual([
    'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa',
    'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb',
  ])
  const p2 = await xrpc(at, 'com.atproto.simplespace.listMembers', {
    params: { space: uri, limit: 2, cursor: p1.body.cursor },
    auth: bearer,
  })
  // A cursor even on the short last page, then an empty page.
  expect(p2.body).toEqual({
    members: [{ did: 'did:plc:cccccccccccccccccccccccc' }],
    cursor: 'did:plc:cccccccccccccccccccccccc',
  })
  const p3 = await xrpc(at, 'com.atproto.simplespace.listMembers', {
    params: { space: uri, cursor: p2.body.cursor },
    auth: bearer,
  })
  expect(p3.body).toEqual({ members: [] })
  const credRefused = await xrpc(at, 'com.atproto.simplespace.listMembers', {
    params: { space: uri },
    auth: cred,
  })
  expect(credRefused.status).toBe(400)
})

test('deleteSpace: notifySpaceDeleted to live registrations, tombstone, authority repo gone, member repos kept', async () => {
  const s = devnet.spaces()[1]!.uri
  const info = devnet.space(s)!
  const owner = devnet.accounts.require(info.authority)
  const host = devnet.hostOf(owner.did).origin
  const cred = await credentialFor(devnet, s)
  const receiver = await startSyncer(devnet)
  try {
    await xrpc(host, 'com.atproto.space.registerNotify', {
      body: { space: s, service: receiver.serviceId },
      auth: cred,
    })
    const member = info.writers.find((d) => d !== owner.did)!
    const del = await xrpc(host, 'com.atproto.simplespace.deleteSpace', {
      body: { space: s },
      auth: { bearer: owner.accessToken },
    })
    expect(del.status).toBe(200)
    await devnet.settle()
    await receiver.waitFor(1)
    expect(receiver.received[0]).toMatchObject({
      nsid: 'com.atproto.space.notifySpaceDeleted',
      body: { space: s },
      iss: owner.did,
    })
    expect(receiver.received[0]!.rejected).toBeUndefined()
    expect(devnet.isDeleted(s)).toBe(true)
    expect(devnet.groundTruth(s)).toEqual([])
    const repos = await xrpc(host, 'com.atproto.space.listRepos', { params: { space: s }, auth: cred })
    expect(repos.body.error).toBe('SpaceNotFound')
    const ownRepo = await xrpc(host, 'com.atproto.space.getLatestCommit', {
      params: { space: s, repo: owner.did },
      auth: cred,
    })
    expect(ownRepo.body.error).toBe('RepoNotFound')
    // Member repos are untouched and still served to an unexpired credential.
    const memberRepo = await xrpc(devnet.hostOf(member).origin, 'com.atproto.space.getLatestCommit', {
      params: { space: s, repo: member },
      auth: cred,
    })
    expect(memberRepo.status).toBe(200)
    // Idempotent; a never-created space is SpaceNotFound.
    expect(
      (
        await xrpc(host, 'com.atproto.simplespace.deleteSpace', {
          body: { space: s },
          auth: { bearer: owner.accessToken },
        })
      ).status,
    ).toBe(200)
    const never = `at://${owner.did}/space/com.example.devnet.forum/never`
    const nf = await xrpc(host, 'com.atproto.simplespace.deleteSpace', {
      body: { space: never },
      auth: { bearer: owner.accessToken },
    })
    expect(nf.body.error).toBe('SpaceNotFound')
  } finally {
    await receiver.close()
  }
})

test('listSpaces lists spaces the user wrote in or created, URI ascending, with filters', async () => {
  const owner = devnet.accounts.require(devnet.space(space)!.authority)
  const at = devnet.hostOf(owner.did).origin
  const res = await xrpc(at, 'com.atproto.space.listSpaces', {
    params: {},
    auth: { bearer: owner.accessToken },
  })
  assertValidOutput('com.atproto.space.listSpaces', res.body)
  const uris = res.body.spaces.map((s: any) => s.uri)
  expect(uris).toContain(space)
  expect(uris).toEqual([...uris].sort())
  const filtered = await xrpc(at, 'com.atproto.space.listSpaces', {
    params: { did: 'did:plc:nobody', limit: 1 },
    auth: { bearer: owner.accessToken },
  })
  expect(filtered.body).toEqual({ spaces: [] })
})
