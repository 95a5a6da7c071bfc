/**
 * Every fault switch: transport faults around XRPC handlers, content faults that the protocol core must
 * catch, notification and token faults, scoping (host, space, did, methods, count, probability) and the
 * admin HTTP endpoint that switches them at run time.
 */
import { parseSignedCommit, verifyCommit } from '../../src/protocol/commit.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { openRepoCar } from '../../src/protocol/repo-car.js'
import { parseRepoOp, RepoOpsApplier } from '../../src/protocol/repo-ops.js'
import { generateDpopKey } from '../../src/protocol/dpop.js'
import { encodeRecordJson } from '../../src/protocol/record-codec.js'
import { exchangeForCredential, fetchDelegationToken } from '../../src/devnet/credential-client.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import type { FaultSpec } from '../../src/devnet/faults.js'
import { chunks, credentialFor, startSyncer, xrpc, type Auth } from './helpers.js'

let devnet: Devnet
let space: string
let otherSpace: string
let writer: string
let host: string
let hostIndex: number
let auth: Auth

beforeAll(async () => {
  devnet = await startDevnet({
    seed: 'faults',
    spaces: 2,
    writersPerSpace: 2,
    records: 12,
    hosts: 2,
    policy: 'public',
    outboundTimeoutMs: 1000,
  })
  ;[space, otherSpace] = devnet.spaces().map((s) => s.uri) as [string, string]
  writer = devnet.space(space)!.writers[0]!
  host = devnet.hostOf(writer).origin
  hostIndex = devnet.accounts.require(writer).host
  auth = await credentialFor(devnet, space)
})
afterEach(() => devnet.faults.clear())
afterAll(() => devnet.close())

const only = (spec: FaultSpec) => devnet.faults.add({ host: hostIndex, space, did: writer, ...spec })
const didKey = () => devnet.accounts.didKey(devnet.accounts.require(writer))
const read = (nsid: string, params: Record<string, string | number | boolean> = {}) =>
  xrpc(host, `com.atproto.space.${nsid}`, { params: { space, repo: writer, ...params }, auth })

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    if (err instanceof ProtocolError) return err.reason
    throw err
  }
}

async function verifyCar(bytes: Uint8Array, opts: { maxBytes?: number } = {}): Promise<string> {
  return reason(
    (async () => {
      const car = await openRepoCar(chunks(bytes), {
        space,
        author: writer,
        didKey: await didKey(),
        expectValues: true,
        ...opts,
      })
      for await (const _ of car.records()) void _
    })(),
  )
}

async function syncOps(params: Record<string, string | number> = {}, state?: Uint8Array, since?: string) {
  const applier = new RepoOpsApplier(state, since)
  const page = (await read('listRepoOps', { limit: 1000, ...params })).body
  applier.apply(page.ops.map(parseRepoOp))
  return { applier, page }
}

describe('transport faults', () => {
  test('latency delays the response', async () => {
    only({ kind: 'latency', ms: 300 })
    const t = performance.now()
    expect((await read('getLatestCommit')).status).toBe(200)
    expect(performance.now() - t).toBeGreaterThanOrEqual(290)
  })

  test('rateLimit answers 429 with Retry-After', async () => {
    only({ kind: 'rateLimit', retryAfterSec: 7 })
    const res = await read('listRecords')
    expect([res.status, res.body.error, res.headers.get('retry-after')]).toEqual([
      429,
      'RateLimitExceeded',
      '7',
    ])
  })

  test('serverError answers the configured 5xx', async () => {
    only({ kind: 'serverError', status: 503 })
    const res = await read('listRecords')
    expect(res.status).toBe(503)
  })

  test('connectionReset before the response, or after N body bytes', async () => {
    only({ kind: 'connectionReset', count: 1 })
    await expect(read('listRecords')).rejects.toThrow()
    only({ kind: 'connectionReset', afterBytes: 100, count: 1 })
    await expect(read('getRepo')).rejects.toThrow()
    expect((await read('getRepo')).status).toBe(200)
  })

  test('slowBody trickles an intact body', async () => {
    only({ kind: 'slowBody', chunkBytes: 200, intervalMs: 30 })
    const t = performance.now()
    const res = await read('listRecords', { limit: 5 })
    expect(res.body.records).toHaveLength(5)
    expect(performance.now() - t).toBeGreaterThanOrEqual(60)
  })

  test('oversizedBody: padded JSON stays valid; a CAR gains a giant block a capped reader rejects', async () => {
    only({ kind: 'oversizedBody', bytes: 300_000 })
    const json = await read('getLatestCommit')
    expect(json.bytes.length).toBeGreaterThan(300_000)
    expect(json.body.commit).toBeDefined()
    const car = await read('getRepo')
    expect(await verifyCar(car.bytes, { maxBytes: 200_000 })).toBe('car_too_large')
  })
})

describe('content faults', () => {
  test('truncatedCar', async () => {
    only({ kind: 'truncatedCar' })
    const res = await read('getRepo')
    expect(res.status).toBe(200)
    expect(['car_truncated', 'missing_records', 'malformed_car']).toContain(await verifyCar(res.bytes))
  })

  test('forgedSignature and wrongMac break commit verification everywhere a commit is served', async () => {
    only({ kind: 'forgedSignature' })
    const c1 = parseSignedCommit((await read('getLatestCommit')).body.commit)
    expect(await reason(verifyCommit({ commit: c1, space, author: writer, didKey: await didKey() }))).toBe(
      'bad_signature',
    )
    expect(await verifyCar((await read('getRepo')).bytes)).toBe('bad_signature')
    devnet.faults.clear()
    only({ kind: 'wrongMac' })
    const c2 = parseSignedCommit((await read('listRepoOps')).body.commit)
    expect(await reason(verifyCommit({ commit: c2, space, author: writer, didKey: await didKey() }))).toBe(
      'bad_mac',
    )
    expect(await verifyCar((await read('getRepo')).bytes)).toBe('bad_mac')
  })

  test('indexHashMismatch', async () => {
    only({ kind: 'indexHashMismatch' })
    expect(await verifyCar((await read('getRepo')).bytes)).toBe('index_hash_mismatch')
  })

  test('recordCidMismatch: CAR blocks, inline op values and getRecord values stop matching their CIDs', async () => {
    only({ kind: 'recordCidMismatch' })
    expect(await verifyCar((await read('getRepo')).bytes)).toBe('block_cid_mismatch')
    const { applier, page } = await syncOps()
    const result = applier.finish(parseSignedCommit(page.commit))
    expect(result.needValues).toHaveLength(1)
    const truth = devnet.groundTruth(space).find((r) => r.author === writer)!
    const got = (await read('getRecord', { collection: truth.collection, rkey: truth.rkey })).body
    expect(encodeRecordJson(got.value).cid.toString()).not.toBe(got.cid)
  })

  test('oplogGap makes the ops fold to the wrong hash', async () => {
    only({ kind: 'oplogGap' })
    const { applier, page } = await syncOps()
    expect(await reason(Promise.resolve().then(() => applier.finish(parseSignedCommit(page.commit))))).toBe(
      'ops_hash_mismatch',
    )
  })

  test('sinceAheadOfHead: the host claims a head older than the caller position', async () => {
    const head = devnet.repoHead(space, writer)!
    only({ kind: 'sinceAheadOfHead' })
    const page = (await read('listRepoOps', { since: head.rev })).body
    expect(page.ops).toEqual([])
    const commit = parseSignedCommit(page.commit)
    await verifyCommit({ commit, space, author: writer, didKey: await didKey() })
    const applier = new RepoOpsApplier(undefined, head.rev)
    expect(await reason(Promise.resolve().then(() => applier.finish(commit)))).toBe('since_ahead_of_head')
  })

  test('endlessCursor: listRepoOps, listRecords and listRepos never reach the end', async () => {
    only({ kind: 'endlessCursor' })
    let cursor: string | undefined
    for (let i = 0; i < 5; i++) {
      const page = (await read('listRepoOps', { limit: 3, ...(cursor ? { cursor } : {}) })).body
      expect(page.cursor).toBeDefined()
      expect(page.commit).toBeUndefined()
      cursor = page.cursor
    }
    const recs = (await read('listRecords', { limit: 100 })).body
    expect(recs.cursor).toBeDefined()
    devnet.faults.clear()
    const authorityHost = devnet.hostOf(devnet.space(space)!.authority)
    devnet.faults.add({
      kind: 'endlessCursor',
      host: authorityHost.index,
      space,
      methods: ['com.atproto.space.listRepos'],
    })
    const repos = await xrpc(authorityHost.origin, 'com.atproto.space.listRepos', {
      params: { space, limit: 100 },
      auth,
    })
    expect(repos.body.cursor).toBeDefined()
  })
})

describe('notification and token faults', () => {
  test('dropNotifications, fakeNotifications and injected fakes', async () => {
    const syncer = await startSyncer(devnet)
    const authority = devnet.accounts.require(devnet.space(space)!.authority)
    const authorityHost = devnet.hostOf(authority.did)
    try {
      await xrpc(authorityHost.origin, 'com.atproto.space.registerNotify', {
        body: { space, service: syncer.serviceId },
        auth,
      })
      // A writer on another host than the authority, so the two notification legs have different senders.
      const w = devnet.accounts.create('notify-writer', (authorityHost.index + 1) % devnet.hosts.length)
      const create = () =>
        xrpc(devnet.hosts[w.host]!.origin, 'com.atproto.space.createRecord', {
          body: {
            space,
            repo: w.did,
            collection: 'com.example.devnet.post',
            record: { $type: 'com.example.devnet.post', text: 'n' },
          },
          auth: { bearer: w.accessToken },
        })
      devnet.faults.add({ kind: 'dropNotifications', host: authorityHost.index, space, count: 1 })
      const dropped = devnet.notifications.dropped
      await create()
      await devnet.settle()
      expect(devnet.notifications.dropped).toBe(dropped + 1)
      expect(syncer.received).toHaveLength(0)
      devnet.faults.add({ kind: 'fakeNotifications', space, count: 1 })
      await create()
      await devnet.settle()
      await syncer.waitFor(2)
      const heads = syncer.received.map((n) => n.body.rev === devnet.repoHead(space, n.body.repo)?.rev)
      expect(heads.sort()).toEqual([false, true])
      const fake = devnet.injectFakeNotification(space)
      await devnet.settle()
      await syncer.waitFor(3)
      expect(syncer.received[2]!.body).toMatchObject({ space, repo: fake.repo, rev: fake.rev })
      expect(syncer.received.every((n) => n.rejected === undefined)).toBe(true)

      // Corrupted service auth on the way to the syncer: it must reject.
      devnet.faults.add({
        kind: 'expiredTokens',
        host: authorityHost.index,
        methods: ['com.atproto.space.notifyWrite'],
        count: 1,
      })
      await create()
      await devnet.settle()
      await syncer.waitFor(4)
      expect(syncer.received[3]!.rejected).toMatch(/expired/)
      devnet.faults.add({
        kind: 'wrongAudienceTokens',
        host: authorityHost.index,
        methods: ['com.atproto.space.notifyWrite'],
        count: 1,
      })
      await create()
      await devnet.settle()
      await syncer.waitFor(5)
      expect(syncer.received[4]!.rejected).toMatch(/another service/)
      // Wrong audience on the member PDS → authority leg: the authority refuses, nothing is forwarded.
      devnet.faults.add({
        kind: 'wrongAudienceTokens',
        host: w.host,
        did: w.did,
        methods: ['com.atproto.space.notifyWrite'],
        count: 1,
      })
      const before = devnet.writerHint(space, w.did)!.rev
      await create()
      await devnet.settle()
      expect(syncer.received).toHaveLength(5)
      expect(devnet.writerHint(space, w.did)!.rev).toBe(before)
    } finally {
      await syncer.close()
    }
  })

  test('expired and wrong-audience delegation tokens and credentials', async () => {
    const indexer = devnet.indexer
    const pds = devnet.hosts[indexer.host]!.origin
    const spaceHost = devnet.hostOf(devnet.space(space)!.authority).origin
    const exchange = async () =>
      exchangeForCredential({
        spaceHost,
        space,
        delegationToken: await fetchDelegationToken(pds, indexer.accessToken, space),
        dpopKey: await generateDpopKey(),
      }).then(
        () => 'ok',
        (err) => err.error as string,
      )
    devnet.faults.add({ kind: 'expiredTokens', methods: ['com.atproto.space.getDelegationToken'], count: 1 })
    expect(await exchange()).toBe('JwtExpired')
    devnet.faults.add({
      kind: 'wrongAudienceTokens',
      methods: ['com.atproto.space.getDelegationToken'],
      count: 1,
    })
    expect(await exchange()).toBe('BadJwtAudience')
    expect(await exchange()).toBe('ok')
    devnet.faults.add({
      kind: 'expiredTokens',
      space,
      methods: ['com.atproto.space.getSpaceCredential'],
      count: 1,
    })
    const expired = await credentialFor(devnet, space)
    const res = await xrpc(host, 'com.atproto.space.getLatestCommit', {
      params: { space, repo: writer },
      auth: expired,
    })
    expect([res.status, res.body.error]).toEqual([401, 'JwtExpired'])
  })
})

describe('scoping and switching', () => {
  test('faults apply only within their scope; count and probability bound them', async () => {
    devnet.faults.add({ kind: 'serverError', space: otherSpace })
    expect((await read('listRecords')).status).toBe(200)
    devnet.faults.clear()
    devnet.faults.add({ kind: 'serverError', host: hostIndex, methods: ['com.atproto.space.getRecord'] })
    expect((await read('listRecords')).status).toBe(200)
    devnet.faults.clear()
    devnet.faults.add({ kind: 'serverError', host: hostIndex, count: 2 })
    expect((await read('listRecords')).status).toBe(500)
    expect((await read('listRecords')).status).toBe(500)
    expect((await read('listRecords')).status).toBe(200)
    expect(devnet.faults.list()).toEqual([])
    devnet.faults.add({ kind: 'serverError', host: hostIndex, probability: 0.5 })
    const statuses = []
    for (let i = 0; i < 20; i++) statuses.push((await read('getLatestCommit')).status)
    expect(statuses).toContain(500)
    expect(statuses).toContain(200)
    expect(() => devnet.faults.add({ kind: 'nope' } as unknown as FaultSpec)).toThrow(/unknown fault kind/)
  })

  test('the admin endpoint switches faults at run time and needs the admin token', async () => {
    const admin = async (method: string, path: string, body?: unknown, token = devnet.adminToken) => {
      const res = await fetch(`${devnet.adminUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      })
      return { status: res.status, body: (await res.json()) as any }
    }
    expect((await admin('GET', '/faults', undefined, 'wrong')).status).toBe(401)
    const added = await admin('POST', '/faults', { kind: 'serverError', host: hostIndex, status: 502 })
    expect(added.status).toBe(200)
    expect((await read('listRecords')).status).toBe(502)
    expect((await admin('GET', '/faults')).body.faults).toHaveLength(1)
    expect((await admin('DELETE', `/faults/${added.body.id}`)).body).toEqual({ removed: true })
    expect((await read('listRecords')).status).toBe(200)
    expect((await admin('POST', '/faults', { kind: 'bogus' })).status).toBe(400)
    const truth = await admin('GET', `/ground-truth?space=${encodeURIComponent(space)}`)
    expect(truth.body.records).toEqual(JSON.parse(JSON.stringify(devnet.groundTruth(space))))
    const status = await admin('POST', `/accounts/${encodeURIComponent(writer)}/status`, {
      status: 'deactivated',
    })
    expect(status.status).toBe(200)
    expect((await read('listRecords')).body.error).toBe('RepoDeactivated')
    await admin('POST', `/accounts/${encodeURIComponent(writer)}/status`, { status: 'active' })
    expect((await admin('GET', '/spaces')).body.spaces.map((s: any) => s.uri)).toEqual(
      [space, otherSpace].sort(),
    )
  })
})
