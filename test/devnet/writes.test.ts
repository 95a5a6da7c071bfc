/**
 * The write side (SPEC §5.1 write facts, §7.1): createRecord / putRecord / deleteRecord / applyWrites with
 * devnet sessions, one new rev per non-empty batch, the reference's errors, and that a syncer following the
 * oplog incrementally (RepoOpsApplier + verifyCommit) converges on exactly the ground truth.
 */
import { parseSignedCommit, verifyCommit } from '../../src/protocol/commit.js'
import { parseRepoOp, RepoOpsApplier } from '../../src/protocol/repo-ops.js'
import type { Account } from '../../src/devnet/accounts.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { assertValidInput, assertValidOutput, credentialFor, xrpc, type Auth } from './helpers.js'

let devnet: Devnet
let space: string
let writer: Account
let host: string
let auth: Auth

beforeAll(async () => {
  devnet = await startDevnet({
    seed: 'writes',
    spaces: 2,
    writersPerSpace: 2,
    records: 10,
    hosts: 2,
    policy: 'public',
  })
  space = devnet.spaces()[0]!.uri
  writer = devnet.accounts.require(devnet.space(space)!.writers[0]!)
  host = devnet.hostOf(writer.did).origin
  auth = await credentialFor(devnet, space)
})
afterAll(() => devnet.close())

const post = (nsid: string, body: Record<string, unknown>, who: Account = writer) => {
  assertValidInput(`com.atproto.space.${nsid}`, body)
  return xrpc(devnet.hostOf(who.did).origin, `com.atproto.space.${nsid}`, {
    body,
    auth: { bearer: who.accessToken },
  })
}
const rec = (text: string) => ({
  $type: 'com.example.devnet.post',
  text,
  createdAt: new Date().toISOString(),
})

async function headRev(): Promise<string> {
  const res = await xrpc(host, 'com.atproto.space.getLatestCommit', {
    params: { space, repo: writer.did },
    auth,
  })
  return res.body.commit.rev
}

test('createRecord, putRecord, deleteRecord: one rev each, full record URIs, lexicon-valid', async () => {
  const r0 = await headRev()
  const created = await post('createRecord', {
    space,
    repo: writer.did,
    collection: 'com.example.devnet.post',
    record: rec('a'),
  })
  expect(created.status).toBe(200)
  assertValidOutput('com.atproto.space.createRecord', created.body)
  expect(created.body.uri.startsWith(`${space}/${writer.did}/com.example.devnet.post/`)).toBe(true)
  const r1 = await headRev()
  expect(r1 > r0).toBe(true)
  const rkey = created.body.uri.split('/').at(-1)
  const put = await post('putRecord', {
    space,
    repo: writer.did,
    collection: 'com.example.devnet.post',
    rkey,
    record: rec('b'),
  })
  assertValidOutput('com.atproto.space.putRecord', put.body)
  const r2 = await headRev()
  expect(r2 > r1).toBe(true)
  const del = await post('deleteRecord', {
    space,
    repo: writer.did,
    collection: 'com.example.devnet.post',
    rkey,
  })
  expect([del.status, del.body]).toEqual([200, {}])
  assertValidOutput('com.atproto.space.deleteRecord', del.body)
  const r3 = await headRev()
  expect(r3 > r2).toBe(true)
  // Deleting an absent record succeeds without a new rev.
  const again = await post('deleteRecord', {
    space,
    repo: writer.did,
    collection: 'com.example.devnet.post',
    rkey,
  })
  expect(again.status).toBe(200)
  expect(await headRev()).toBe(r3)
  const ops = await xrpc(host, 'com.atproto.space.listRepoOps', {
    params: { space, repo: writer.did, since: r0 },
    auth,
  })
  expect(
    ops.body.ops.map((o: any) => [o.rev, o.cid === null ? 'delete' : o.prev === null ? 'create' : 'update']),
  ).toEqual([
    [r1, 'create'],
    [r2, 'update'],
    [r3, 'delete'],
  ])
})

test('applyWrites: one rev per batch, create → update → delete of one path, empty batch is a no-op', async () => {
  const r0 = await headRev()
  const body = {
    space,
    repo: writer.did,
    writes: [
      {
        $type: 'com.atproto.space.applyWrites#create',
        collection: 'com.example.devnet.post',
        rkey: 'batch1',
        value: rec('x'),
      },
      {
        $type: 'com.atproto.space.applyWrites#update',
        collection: 'com.example.devnet.post',
        rkey: 'batch1',
        value: rec('y'),
      },
      {
        $type: 'com.atproto.space.applyWrites#create',
        collection: 'com.example.devnet.comment',
        value: rec('z'),
      },
      {
        $type: 'com.atproto.space.applyWrites#delete',
        collection: 'com.example.devnet.post',
        rkey: 'batch1',
      },
    ],
  }
  const res = await post('applyWrites', body)
  expect(res.status).toBe(200)
  assertValidOutput('com.atproto.space.applyWrites', res.body)
  expect(res.body.results.map((r: any) => r.$type)).toEqual([
    'com.atproto.space.applyWrites#createResult',
    'com.atproto.space.applyWrites#updateResult',
    'com.atproto.space.applyWrites#createResult',
    'com.atproto.space.applyWrites#deleteResult',
  ])
  const ops = (
    await xrpc(host, 'com.atproto.space.listRepoOps', {
      params: { space, repo: writer.did, since: r0 },
      auth,
    })
  ).body.ops
  expect(new Set(ops.map((o: any) => o.rev)).size).toBe(1)
  expect(ops).toHaveLength(4)
  // Only the surviving comment carries a value; the create/update of batch1 are superseded.
  expect(ops.map((o: any) => o.value !== undefined)).toEqual([false, false, true, false])
  const r1 = await headRev()
  const empty = await post('applyWrites', { space, repo: writer.did, writes: [] })
  expect(empty.status).toBe(200)
  expect(await headRev()).toBe(r1)
})

test('write errors: RecordAlreadyExists, RecordNotFound, 403 for another repo, >200 writes, oversized body, $type', async () => {
  const existing = devnet.groundTruth(space).find((r) => r.author === writer.did)!
  const dup = await post('createRecord', {
    space,
    repo: writer.did,
    collection: existing.collection,
    rkey: existing.rkey,
    record: rec('dup'),
  })
  expect([dup.status, dup.body.error]).toEqual([400, 'RecordAlreadyExists'])
  const missing = await post('applyWrites', {
    space,
    repo: writer.did,
    writes: [
      {
        $type: 'com.atproto.space.applyWrites#update',
        collection: 'com.example.devnet.post',
        rkey: 'nope',
        value: rec('u'),
      },
    ],
  })
  expect([missing.status, missing.body.error]).toEqual([400, 'RecordNotFound'])
  const other = devnet.accounts.require(devnet.space(space)!.writers[1]!)
  const foreign = await xrpc(host, 'com.atproto.space.createRecord', {
    body: { space, repo: other.did, collection: 'com.example.devnet.post', record: rec('x') },
    auth: { bearer: writer.accessToken },
  })
  expect(foreign.status).toBe(403)
  const many = Array.from({ length: 201 }, (_, i) => ({
    $type: 'com.atproto.space.applyWrites#create',
    collection: 'com.example.devnet.post',
    value: rec(`m${i}`),
  }))
  const tooMany = await post('applyWrites', { space, repo: writer.did, writes: many })
  expect([tooMany.status, tooMany.body.error]).toEqual([400, 'InvalidRequest'])
  const huge = await xrpc(host, 'com.atproto.space.createRecord', {
    body: {
      space,
      repo: writer.did,
      collection: 'com.example.devnet.post',
      record: rec('x'.repeat(1_000_001)),
    },
    auth: { bearer: writer.accessToken },
  })
  expect(huge.status).toBe(413)
  const untyped = await post('createRecord', {
    space,
    repo: writer.did,
    collection: 'com.example.devnet.post',
    record: { text: 'x' },
  })
  expect([untyped.status, untyped.body.error]).toEqual([400, 'InvalidRequest'])
  const noAuth = await xrpc(host, 'com.atproto.space.createRecord', {
    body: { space, repo: writer.did, collection: 'com.example.devnet.post', record: rec('x') },
  })
  expect([noAuth.status, noAuth.body.error]).toEqual([401, 'AuthMissing'])
  devnet.setAccountStatus(writer.did, 'deactivated')
  const deactivated = await post('createRecord', {
    space,
    repo: writer.did,
    collection: 'com.example.devnet.post',
    record: rec('x'),
  })
  expect([deactivated.status, deactivated.body.error]).toEqual([401, 'AccountDeactivated'])
  devnet.setAccountStatus(writer.did, 'active')
})

test('an incremental syncer following listRepoOps converges on the ground truth', async () => {
  // Full sync first.
  const applier0 = new RepoOpsApplier(undefined, undefined)
  const page0 = (
    await xrpc(host, 'com.atproto.space.listRepoOps', {
      params: { space, repo: writer.did, limit: 1000 },
      auth,
    })
  ).body
  applier0.apply(page0.ops.map(parseRepoOp))
  const base = applier0.finish(parseSignedCommit(page0.commit))
  const local = new Map<string, string>()
  for (const c of base.changes) if (c.kind === 'upsert') local.set(`${c.collection}/${c.rkey}`, c.cid)

  for (let i = 0; i < 5; i++) {
    await post('createRecord', {
      space,
      repo: writer.did,
      collection: 'com.example.devnet.comment',
      record: rec(`c${i}`),
    })
  }
  const victim = [...local.keys()][0]!.split('/')
  await post('deleteRecord', { space, repo: writer.did, collection: victim[0]!, rkey: victim[1]! })

  const applier = new RepoOpsApplier(base.state, base.rev)
  let cursor: string | undefined
  let commitJson: unknown
  for (;;) {
    const page = (
      await xrpc(host, 'com.atproto.space.listRepoOps', {
        params: { space, repo: writer.did, since: base.rev, cursor, limit: 2 },
        auth,
      })
    ).body
    applier.apply(page.ops.map(parseRepoOp))
    if (!page.cursor) {
      commitJson = page.commit
      break
    }
    cursor = page.cursor
  }
  const commit = parseSignedCommit(commitJson)
  await verifyCommit({ commit, space, author: writer.did, didKey: await devnet.accounts.didKey(writer) })
  const result = applier.finish(commit)
  for (const c of result.changes) {
    if (c.kind === 'upsert') local.set(`${c.collection}/${c.rkey}`, c.cid)
    else local.delete(`${c.collection}/${c.rkey}`)
  }
  const truth = devnet.groundTruth(space).filter((r) => r.author === writer.did)
  expect([...local.entries()].map(([p, c]) => `${p} ${c}`).sort()).toEqual(
    truth.map((r) => `${r.collection}/${r.rkey} ${r.cid}`).sort(),
  )
})

test('a non-member can write into its own repo; the authority neither lists nor forwards it', async () => {
  const members = await startDevnet({
    seed: 'writes-members',
    spaces: 1,
    writersPerSpace: 2,
    records: 2,
    hosts: 1,
    policy: 'member-list',
  })
  try {
    const s = members.spaces()[0]!.uri
    const outsider = members.accounts.create('outsider', 0)
    const res = await xrpc(members.hosts[0]!.origin, 'com.atproto.space.createRecord', {
      body: { space: s, repo: outsider.did, collection: 'com.example.devnet.post', record: rec('sneaky') },
      auth: { bearer: outsider.accessToken },
    })
    expect(res.status).toBe(200)
    await members.settle()
    expect(members.space(s)!.writers).not.toContain(outsider.did)
    expect(members.groundTruth(s).some((r) => r.author === outsider.did)).toBe(false)
    expect(members.groundTruth(s, { includeUnlisted: true }).some((r) => r.author === outsider.did)).toBe(
      true,
    )
  } finally {
    await members.close()
  }
})
