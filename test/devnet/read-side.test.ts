/**
 * Devnet's repo-host read side: getRepo / listRepoOps / getLatestCommit / listRecords / getRecord /
 * listBlobs / getBlob behave as SPEC §4 and §5 describe, every response validates against the upstream
 * lexicons, and everything devnet serves verifies with the protocol core (openRepoCar, RepoOpsApplier,
 * verifyCommit) and equals the ground truth.
 */
import { createHash } from 'node:crypto'
import { parseCid } from '@atproto/lex-data'
import { parseSignedCommit, verifyCommit } from '../../src/protocol/commit.js'
import { openRepoCar } from '../../src/protocol/repo-car.js'
import { parseRepoOp, RepoOpsApplier } from '../../src/protocol/repo-ops.js'
import type { DpopKey } from '../../src/protocol/dpop.js'
import { credentialXrpc } from '../../src/devnet/credential-client.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { assertValidOutput, chunks, credentialFor, xrpc, type Auth } from './helpers.js'

let devnet: Devnet
let space: string
let writer: string
let host: string
let auth: Auth

beforeAll(async () => {
  devnet = await startDevnet({ seed: 'read-side', spaces: 3, writersPerSpace: 3, records: 30, hosts: 2 })
  space = devnet.spaces()[0]!.uri
  writer = devnet.space(space)!.writers[1]!
  host = devnet.hostOf(writer).origin
  auth = await credentialFor(devnet, space)
})
afterAll(() => devnet.close())

const didKeyOf = (did: string) => devnet.accounts.didKey(devnet.accounts.require(did))

async function syncFromScratch(did: string, limit: number) {
  const applier = new RepoOpsApplier(undefined, undefined)
  let cursor: string | undefined
  const pages: any[] = []
  for (;;) {
    const res = await xrpc(devnet.hostOf(did).origin, 'com.atproto.space.listRepoOps', {
      params: { space, repo: did, limit, cursor },
      auth,
    })
    expect(res.status).toBe(200)
    assertValidOutput('com.atproto.space.listRepoOps', res.body)
    pages.push(res.body)
    applier.apply(res.body.ops.map(parseRepoOp))
    if (!res.body.cursor) break
    cursor = res.body.cursor
  }
  return { applier, pages }
}

test('getRepo CAR verifies with openRepoCar and matches the ground truth', async () => {
  const res = await xrpc(host, 'com.atproto.space.getRepo', { params: { space, repo: writer }, auth })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('application/vnd.ipld.car')
  const car = await openRepoCar(chunks(res.bytes), {
    space,
    author: writer,
    didKey: await didKeyOf(writer),
    expectValues: true,
  })
  const records = []
  for await (const r of car.records()) records.push(r)
  const head = devnet.repoHead(space, writer)!
  expect(car.head.rev).toBe(head.rev)
  expect(Buffer.from(car.head.hash)).toEqual(Buffer.from(head.hash))
  const truth = devnet.groundTruth(space).filter((r) => r.author === writer)
  expect(records.map((r) => `${r.path} ${r.cid}`).sort()).toEqual(
    truth.map((r) => `${r.collection}/${r.rkey} ${r.cid}`).sort(),
  )
  // Identical contents under different paths are written once per entry, not deduplicated.
  const cids = records.map((r) => r.cid)
  expect(new Set(cids).size).toBeLessThan(cids.length)
})

test('getRepo?excludeValues=true is an authenticated index-only CAR', async () => {
  const res = await xrpc(host, 'com.atproto.space.getRepo', {
    params: { space, repo: writer, excludeValues: true },
    auth,
  })
  const car = await openRepoCar(chunks(res.bytes), {
    space,
    author: writer,
    didKey: await didKeyOf(writer),
    expectValues: false,
  })
  const n = []
  for await (const r of car.records()) n.push(r)
  expect(n).toHaveLength(0)
  expect(car.head.entries).toHaveLength(30)
})

test('listRepoOps pages by cursor, commit only on the short page, and folds to the commit hash', async () => {
  const { applier, pages } = await syncFromScratch(writer, 7)
  for (const page of pages.slice(0, -1)) {
    expect(page.ops).toHaveLength(7)
    expect(page.commit).toBeUndefined()
    expect(page.cursor).toMatch(/^[a-z2-7]{13}\/\d+$/)
  }
  const last = pages.at(-1)
  expect(last.cursor).toBeUndefined()
  expect(last.commit.$type).toBeUndefined()
  const commit = parseSignedCommit(last.commit)
  await verifyCommit({ commit, space, author: writer, didKey: await didKeyOf(writer) })
  const result = applier.finish(commit)
  expect(result.rev).toBe(devnet.repoHead(space, writer)!.rev)
  // History: 30 creates, 3 ghost creates, 3 updates, 3 ghost deletes.
  expect(applier.opCount).toBe(39)
  expect(result.needValues).toEqual([])
})

test('listRepoOps inlines a value only while the op cid is current', async () => {
  const res = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer, limit: 1000 },
    auth,
  })
  const ops = res.body.ops as any[]
  const current = new Map(
    devnet
      .groundTruth(space)
      .filter((r) => r.author === writer)
      .map((r) => [`${r.collection}/${r.rkey}`, r.cid]),
  )
  for (const op of ops) {
    const isCurrent = op.cid !== null && current.get(`${op.collection}/${op.rkey}`) === op.cid
    expect(op.value !== undefined).toBe(isCurrent)
  }
  expect(ops.filter((o) => o.cid === null)).toHaveLength(3)
  expect(ops.filter((o) => o.cid !== null && o.prev !== null)).toHaveLength(3)
  const excluded = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer, limit: 1000, excludeValues: true },
    auth,
  })
  expect(excluded.body.ops.some((o: any) => 'value' in o)).toBe(false)
})

test('listRepoOps applies since AND cursor', async () => {
  const all = (
    await xrpc(host, 'com.atproto.space.listRepoOps', { params: { space, repo: writer, limit: 1000 }, auth })
  ).body.ops
  const since = all[10].rev
  const expected = all.filter((o: any) => o.rev > since)
  const page1 = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer, since, limit: 4 },
    auth,
  })
  expect(page1.body.ops).toEqual(expected.slice(0, 4))
  const page2 = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer, since, cursor: page1.body.cursor, limit: 4 },
    auth,
  })
  expect(page2.body.ops).toEqual(expected.slice(4, 8))
  // A cursor older than `since` does not widen the window.
  const behind = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer, since, cursor: `${all[0].rev}/0`, limit: 4 },
    auth,
  })
  expect(behind.body.ops).toEqual(expected.slice(0, 4))
  const bad = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer, cursor: 'nope' },
    auth,
  })
  expect([bad.status, bad.body.error]).toEqual([400, 'MalformedCursor'])
})

test('getLatestCommit carries $type and verifies', async () => {
  const res = await xrpc(host, 'com.atproto.space.getLatestCommit', { params: { space, repo: writer }, auth })
  assertValidOutput('com.atproto.space.getLatestCommit', res.body)
  expect(res.body.commit.$type).toBe('com.atproto.space.defs#signedCommit')
  const commit = parseSignedCommit(res.body.commit)
  await verifyCommit({ commit, space, author: writer, didKey: await didKeyOf(writer) })
  expect(Buffer.from(commit.hash)).toEqual(Buffer.from(devnet.repoHead(space, writer)!.hash))
  // A fresh ikm per response: same state, different bytes.
  // The same read through the client helper (which builds its own DPoP proof with ath).
  const again = await credentialXrpc<{ commit: Record<string, unknown> }>(
    host,
    'com.atproto.space.getLatestCommit',
    { space, repo: writer },
    auth as { credential: string; dpopKey: DpopKey },
  )
  expect(again.commit['ikm']).not.toEqual(res.body.commit.ikm)
  expect(again.commit['hash']).toEqual(res.body.commit.hash)
})

test('listRecords: URI descending by default, reverse ascending, cursor = last URI on a full page', async () => {
  const truth = devnet.groundTruth(space).filter((r) => r.author === writer)
  const desc = [...truth].reverse()
  const seen: string[] = []
  let cursor: string | undefined
  for (;;) {
    const res = await xrpc(host, 'com.atproto.space.listRecords', {
      params: { space, repo: writer, limit: 8, cursor },
      auth,
    })
    assertValidOutput('com.atproto.space.listRecords', res.body)
    for (const r of res.body.records) {
      seen.push(`${r.collection}/${r.rkey}`)
      expect(r.value).toBeDefined()
    }
    if (res.body.records.length === 8) expect(res.body.cursor).toBe(`${space}/${writer}/${seen.at(-1)}`)
    if (!res.body.cursor) break
    cursor = res.body.cursor
  }
  expect(seen).toEqual(desc.map((r) => `${r.collection}/${r.rkey}`))
  const asc = await xrpc(host, 'com.atproto.space.listRecords', {
    params: { space, repo: writer, limit: 100, reverse: true, excludeValues: true },
    auth,
  })
  expect(asc.body.records.map((r: any) => `${r.collection}/${r.rkey}`)).toEqual(
    truth.map((r) => `${r.collection}/${r.rkey}`),
  )
  expect(asc.body.records.some((r: any) => 'value' in r)).toBe(false)
  expect(asc.body.cursor).toBeUndefined()
  const comments = await xrpc(host, 'com.atproto.space.listRecords', {
    params: { space, repo: writer, collection: 'com.example.devnet.comment' },
    auth,
  })
  expect(comments.body.records.length).toBe(
    truth.filter((r) => r.collection === 'com.example.devnet.comment').length,
  )
})

test('getRecord returns the full record URI, cid and value; absent records are RecordNotFound', async () => {
  const rec = devnet.groundTruth(space).find((r) => r.author === writer)!
  const res = await xrpc(host, 'com.atproto.space.getRecord', {
    params: { space, repo: writer, collection: rec.collection, rkey: rec.rkey },
    auth,
  })
  assertValidOutput('com.atproto.space.getRecord', res.body)
  expect(res.body).toEqual({ uri: rec.uri, cid: rec.cid, value: rec.value })
  const missing = await xrpc(host, 'com.atproto.space.getRecord', {
    params: { space, repo: writer, collection: rec.collection, rkey: '2222222222222' },
    auth,
  })
  expect([missing.status, missing.body.error]).toEqual([400, 'RecordNotFound'])
})

test('listBlobs lists referenced blob CIDs ascending; getBlob serves bytes that hash to the CID', async () => {
  const res = await xrpc(host, 'com.atproto.space.listBlobs', { params: { space, repo: writer }, auth })
  assertValidOutput('com.atproto.space.listBlobs', res.body)
  const cids: string[] = res.body.cids
  expect(cids.length).toBeGreaterThan(0)
  expect([...cids].sort()).toEqual(cids)
  const paged = await xrpc(host, 'com.atproto.space.listBlobs', {
    params: { space, repo: writer, limit: 1 },
    auth,
  })
  expect(paged.body).toEqual({ cids: [cids[0]], cursor: cids[0] })
  const blob = await xrpc(host, 'com.atproto.space.getBlob', {
    params: { space, repo: writer, cid: cids[0] },
    auth,
  })
  expect(blob.status).toBe(200)
  expect(blob.headers.get('x-content-type-options')).toBe('nosniff')
  expect(blob.headers.get('content-disposition')).toBe('attachment')
  const digest = createHash('sha256').update(blob.bytes).digest()
  expect(Buffer.from(parseCid(cids[0]!).multihash.digest)).toEqual(digest)
  const none = await xrpc(host, 'com.atproto.space.getBlob', {
    params: { space, repo: writer, cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' },
    auth,
  })
  expect([none.status, none.body.error]).toEqual([400, 'BlobNotFound'])
})

test('never-written repo of a hosted account: empty ops, RepoNotFound for commit and CAR', async () => {
  const other = devnet.spaces()[1]!.uri
  const outsider = devnet.pool.find(
    (a) => !devnet.space(space)!.writers.includes(a.did) && a.host === devnet.accounts.require(writer).host,
  )
  expect(outsider).toBeDefined()
  const at = devnet.hosts[outsider!.host]!.origin
  const ops = await xrpc(at, 'com.atproto.space.listRepoOps', {
    params: { space, repo: outsider!.did },
    auth,
  })
  expect([ops.status, ops.body]).toEqual([200, { ops: [] }])
  const recs = await xrpc(at, 'com.atproto.space.listRecords', {
    params: { space, repo: outsider!.did },
    auth,
  })
  expect(recs.body).toEqual({ records: [] })
  for (const nsid of ['com.atproto.space.getLatestCommit', 'com.atproto.space.getRepo']) {
    const r = await xrpc(at, nsid, { params: { space, repo: outsider!.did }, auth })
    expect([r.status, r.body.error]).toEqual([400, 'RepoNotFound'])
  }
  const unknown = await xrpc(at, 'com.atproto.space.listRepoOps', {
    params: { space, repo: 'did:plc:nobodyhere2222222222222' },
    auth,
  })
  expect([unknown.status, unknown.body.error]).toEqual([400, 'RepoNotFound'])
  // An account that lives on another host is unknown here.
  const elsewhere = devnet.pool.find((a) => a.host !== devnet.accounts.require(writer).host)!
  const wrongHost = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: elsewhere.did },
    auth,
  })
  expect(wrongHost.body.error).toBe('RepoNotFound')
  expect(other).not.toBe(space)
})

test('the owner reads its own repo with its session; any other repo is RepoNotFound', async () => {
  const account = devnet.accounts.require(writer)
  const own = await xrpc(host, 'com.atproto.space.getLatestCommit', {
    params: { space, repo: writer },
    auth: { bearer: account.accessToken },
  })
  expect(own.status).toBe(200)
  const otherWriter = devnet
    .space(space)!
    .writers.find((d) => d !== writer && devnet.accounts.require(d).host === account.host)
  if (otherWriter) {
    const other = await xrpc(host, 'com.atproto.space.getLatestCommit', {
      params: { space, repo: otherWriter },
      auth: { bearer: account.accessToken },
    })
    expect([other.status, other.body.error]).toEqual([400, 'RepoNotFound'])
  }
})

test('deactivated and taken-down authors answer RepoDeactivated / RepoTakendown until reactivated', async () => {
  devnet.setAccountStatus(writer, 'deactivated')
  const d = await xrpc(host, 'com.atproto.space.listRecords', { params: { space, repo: writer }, auth })
  expect([d.status, d.body.error]).toEqual([400, 'RepoDeactivated'])
  devnet.setAccountStatus(writer, 'takendown')
  const t = await xrpc(host, 'com.atproto.space.getRepo', { params: { space, repo: writer }, auth })
  expect([t.status, t.body.error]).toEqual([400, 'RepoTakendown'])
  devnet.setAccountStatus(writer, 'deleted')
  const gone = await xrpc(host, 'com.atproto.space.getRepo', { params: { space, repo: writer }, auth })
  expect(gone.body.error).toBe('RepoNotFound')
  devnet.setAccountStatus(writer, 'active')
  const ok = await xrpc(host, 'com.atproto.space.getLatestCommit', { params: { space, repo: writer }, auth })
  expect(ok.status).toBe(200)
})

test('schema failures are 400 InvalidRequest', async () => {
  const recordUri = `${space}/${writer}/com.example.devnet.post/2222222222222`
  const bad = await xrpc(host, 'com.atproto.space.getRepo', {
    params: { space: recordUri, repo: writer },
    auth,
  })
  expect([bad.status, bad.body.error]).toEqual([400, 'InvalidRequest'])
  const limit = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer, limit: 1001 },
    auth,
  })
  expect([limit.status, limit.body.error]).toEqual([400, 'InvalidRequest'])
  const since = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer, since: 'notatid' },
    auth,
  })
  expect(since.body.error).toBe('InvalidRequest')
  const unknown = await xrpc(host, 'com.atproto.space.noSuchMethod', { auth })
  expect([unknown.status, unknown.body.error]).toEqual([501, 'MethodNotImplemented'])
})
