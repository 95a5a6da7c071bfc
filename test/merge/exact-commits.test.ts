// Commits known exactly without a lookup (exact-commits.ts): the batch writer skips the commit lookup of
// repos never written in an epoch this process started, and of repos it wrote or looked up since, and must
// still decide every write exactly as a lookup would — after its own writes, writes of a second store on
// the same database, a space's deletion and re-creation, an account purge, and a failed insert (which may
// have landed).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { MergeStore } from '../../src/merge/index.js'
import { ExactCommits, type KnownCommit } from '../../src/merge/exact-commits.js'
import { commit, openStore, tempDir } from './helpers.js'

const dir = tempDir()
let store: MergeStore
let second: MergeStore
let db: string
let n = 0

const newSpace = (): string => `at://did:plc:exact${++n}/space/com.example.forum/main`
const recs = (tag: string) => [{ collection: 'app.x.post', rkey: tag, cid: `cid-${tag}`, value: { t: tag } }]

/** Commit lookups (the writer's FINAL read of commit rows, on the writer connection) by `on` while `fn` runs. */
async function lookups(fn: () => Promise<unknown>, on: MergeStore = store): Promise<number> {
  const ch = on.clickhouse
  const query = ch.queryOnWriter.bind(ch)
  let count = 0
  ch.queryOnWriter = ((sql: string, params?: Parameters<typeof query>[1]) => {
    if (sql.includes("kind = 'commit' AND space IN")) count++
    return query(sql, params)
  }) as typeof ch.queryOnWriter
  try {
    await fn()
  } finally {
    ch.queryOnWriter = query
  }
  return count
}

const update = (space: string, author: string, from: number | null, to: number, tag: string) => ({
  ...commit(space, author, to),
  since: from === null ? null : commit(space, author, from).rev,
  upserts: recs(tag),
  deletes: [],
})

beforeAll(async () => {
  db = `exact_${process.pid}`
  store = await openStore(dir.path, { database: db })
  second = await openStore(dir.path, { database: db, migrate: false })
})

afterAll(async () => {
  await second.close()
  await store.close()
  dir.remove()
})

describe('compare-and-set without lookups', () => {
  test('a first fetch and the syncs after it need no lookup, and are decided as a lookup would', async () => {
    const space = newSpace()
    expect((await store.upsertSpace(space)).created).toBe(true)
    const first = { ...commit(space, 'did:plc:alice', 1), records: recs('a') }
    expect(await lookups(() => store.replaceRepo(first))).toBe(0)
    let again: Awaited<ReturnType<MergeStore['replaceRepo']>> | undefined
    let next: Awaited<ReturnType<MergeStore['applyRepoUpdate']>> | undefined
    let stale: Awaited<ReturnType<MergeStore['applyRepoUpdate']>> | undefined
    expect(
      await lookups(async () => {
        again = await store.replaceRepo(first) // a replay
        next = await store.applyRepoUpdate(update(space, 'did:plc:alice', 1, 2, 'b'))
        stale = await store.applyRepoUpdate(update(space, 'did:plc:alice', null, 3, 'c'))
      }),
    ).toBe(0)
    expect([again?.outcome, next?.outcome, stale?.outcome]).toEqual(['unchanged', 'applied', 'conflict'])
    expect((await store.listRecords({ space })).records.map((r) => r.rkey)).toEqual(['a', 'b'])
  })

  test("a second store's writes count: the first store does not decide on what it knew before", async () => {
    const space = newSpace()
    await store.upsertSpace(space)
    await store.replaceRepo({ ...commit(space, 'did:plc:bob', 1), records: recs('x') })
    expect((await second.applyRepoUpdate(update(space, 'did:plc:bob', 1, 2, 'y'))).outcome).toBe('applied')
    expect((await store.applyRepoUpdate(update(space, 'did:plc:bob', 1, 3, 'z'))).outcome).toBe('conflict')
    expect((await store.applyRepoUpdate(update(space, 'did:plc:bob', 2, 3, 'z'))).outcome).toBe('applied')
  })

  test('after a restart (knowledge dropped with the last store), a repo is looked up once', async () => {
    const restartDb = `${db}_restart`
    const space = newSpace()
    const before = await openStore(dir.path, { database: restartDb })
    await before.upsertSpace(space)
    await before.replaceRepo({ ...commit(space, 'did:plc:erin', 1), records: recs('e') })
    await before.close() // the database's last store: what it knew is gone, as after a restart
    const after = await openStore(dir.path, { database: restartDb, migrate: false })
    try {
      const outcome = async (from: number, to: number) =>
        (await after.applyRepoUpdate(update(space, 'did:plc:erin', from, to, `v${to}`))).outcome
      expect(await lookups(async () => expect(await outcome(1, 2)).toBe('applied'), after)).toBe(1)
      expect(await lookups(async () => expect(await outcome(2, 3)).toBe('applied'), after)).toBe(0)
    } finally {
      await after.close()
    }
  })

  test('a space deleted and re-created starts a new epoch known to be empty', async () => {
    const space = newSpace()
    await store.upsertSpace(space)
    await store.replaceRepo({ ...commit(space, 'did:plc:carol', 1), records: recs('old') })
    await store.deleteSpace(space)
    expect(await store.upsertSpace(space)).toMatchObject({ epoch: 2, created: true })
    const reborn = { ...commit(space, 'did:plc:carol', 1), records: recs('new') }
    expect(await lookups(async () => expect((await store.replaceRepo(reborn)).outcome).toBe('applied'))).toBe(
      0,
    )
    expect((await store.listRecords({ space })).records.map((r) => r.rkey)).toEqual(['new'])
  })

  test('an account purge: the author starts over everywhere', async () => {
    const space = newSpace()
    await store.upsertSpace(space)
    await store.replaceRepo({ ...commit(space, 'did:plc:frank', 1), records: recs('p') })
    await store.setAccountStatus('did:plc:frank', 'deleted')
    await store.setAccountStatus('did:plc:frank', 'active', new Date(Date.now() + 1000))
    expect((await store.applyRepoUpdate(update(space, 'did:plc:frank', 1, 2, 'q'))).outcome).toBe('conflict')
    expect(
      (await store.replaceRepo({ ...commit(space, 'did:plc:frank', 3), records: recs('r') })).outcome,
    ).toBe('applied')
  })

  test('a failed insert makes the space looked up again (the insert may have landed)', async () => {
    const space = newSpace()
    await store.upsertSpace(space)
    const ch = store.clickhouse
    const insert = ch.insertRowBinary.bind(ch)
    ch.insertRowBinary = async (...args) => {
      await insert(...args) // lands, then reports an error
      throw new Error('connection reset')
    }
    try {
      await expect(
        store.replaceRepo({ ...commit(space, 'did:plc:dave', 1), records: recs('d') }),
      ).rejects.toThrow('connection reset')
    } finally {
      ch.insertRowBinary = insert
    }
    let retry: Awaited<ReturnType<MergeStore['replaceRepo']>> | undefined
    const retried = { ...commit(space, 'did:plc:dave', 1), records: recs('d') }
    expect(await lookups(async () => (retry = await store.replaceRepo(retried)))).toBe(1)
    expect(retry?.outcome).toBe('unchanged')
  })
})

describe('knownRepoHeads (sweeps compare host hints with these, without a read)', () => {
  test('exact for an epoch this process started and the repos it wrote; unknown after a deletion', async () => {
    const space = newSpace()
    await store.upsertSpace(space)
    await store.replaceRepo({ ...commit(space, 'did:plc:h1', 3), records: recs('h') })
    const heads = store.knownRepoHeads(space, ['did:plc:h1', 'did:plc:h2'])
    const state = await store.getRepoState(space, 'did:plc:h1')
    expect(heads).toEqual(
      new Map([
        ['did:plc:h1', { rev: state?.rev, commitHash: state?.commitHash }],
        ['did:plc:h2', { rev: null, commitHash: null }],
      ]),
    )
    // A second store's write is seen by the first (one process, one database).
    await second.replaceRepo({ ...commit(space, 'did:plc:h2', 5), records: recs('i') })
    expect(store.knownRepoHeads(space, ['did:plc:h2'])?.get('did:plc:h2')?.rev).toBe(
      commit(space, 'x', 5).rev,
    )
    await store.deleteSpace(space)
    expect(store.knownRepoHeads(space, ['did:plc:h1'])).toBeUndefined()
    expect(store.knownRepoHeads(newSpace(), ['did:plc:h1'])).toBeUndefined()
  })
})

describe('ExactCommits', () => {
  const c = (rev: string, version: number): KnownCommit => ({
    rev,
    version,
    commitHashHex: 'ab',
    generation: 1,
    status: 'active',
    reason: '',
  })

  test('vouches only for the epoch it was told of, forgets on request, and stays bounded', () => {
    const e = new ExactCommits(4)
    e.started('s1', 1)
    expect(e.commitOf('s1', 1, 'a')).toBeNull()
    expect(e.commitOf('s1', 2, 'a')).toBeUndefined()
    e.wrote('s1', 1, 'a', c('r1', 1))
    expect(e.commitOf('s1', 1, 'a')).toEqual(c('r1', 1))
    e.started('s1', 1) // the same epoch again: what was written stays known
    expect(e.commitOf('s1', 1, 'a')).toEqual(c('r1', 1))
    e.wrote('s2', 1, 'b', c('r2', 1)) // a space it did not start: only the written repo is known
    expect(e.commitOf('s2', 1, 'b')).toEqual(c('r2', 1))
    expect(e.commitOf('s2', 1, 'z')).toBeUndefined()
    e.wrote('s2', 1, 'c', c('r3', 1)) // 5 entries > 4: the least recently touched space (s1) goes
    expect(e.commitOf('s1', 1, 'a')).toBeUndefined()
    expect(e.commitOf('s2', 1, 'c')).toEqual(c('r3', 1))
    e.forget('s2')
    expect(e.commitOf('s2', 1, 'b')).toBeUndefined()
  })

  test('a lookup overtaken by a write or a forget is not kept', () => {
    const e = new ExactCommits()
    const before = e.since()
    e.wrote('s', 1, 'a', c('r2', 2))
    e.read('s', 1, 'a', c('r1', 1), before) // read before the write landed: stale
    expect(e.commitOf('s', 1, 'a')).toEqual(c('r2', 2))
    const mark = e.since()
    e.forgetAuthor('x')
    e.read('s', 1, 'b', null, mark)
    expect(e.commitOf('s', 1, 'b')).toBeUndefined()
    e.read('s', 1, 'b', null, e.since())
    expect(e.commitOf('s', 1, 'b')).toBeNull()
  })

  test('an author purge makes its repos unknown, or absent in an epoch this process started', () => {
    const e = new ExactCommits()
    e.started('s1', 1)
    e.wrote('s1', 1, 'a', c('r1', 1))
    e.wrote('s2', 3, 'a', c('r1', 1))
    e.forgetAuthor('a')
    expect(e.commitOf('s1', 1, 'a')).toBeNull()
    expect(e.commitOf('s2', 3, 'a')).toBeUndefined()
  })
})
