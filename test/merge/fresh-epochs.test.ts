// Space epochs this process started (fresh-epochs.ts): the batch writer skips the commit lookup of repos
// never written in such an epoch, and must still decide every write exactly as a lookup would — after its
// own writes, writes of a second store on the same database, a space's deletion and re-creation, and a
// failed insert (which may have landed).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { MergeStore } from '../../src/merge/index.js'
import { FreshEpochs } from '../../src/merge/fresh-epochs.js'
import { commit, openStore, tempDir } from './helpers.js'

const dir = tempDir()
let store: MergeStore
let second: MergeStore
let db: string
let n = 0

const newSpace = (): string => `at://did:plc:fresh${++n}/space/com.example.forum/main`
const recs = (tag: string) => [{ collection: 'app.x.post', rkey: tag, cid: `cid-${tag}`, value: { t: tag } }]

/** Commit lookups (the writer's FINAL read of commit rows) issued by `store` while `fn` runs. */
async function lookups(fn: () => Promise<unknown>): Promise<number> {
  const ch = store.clickhouse
  const query = ch.query.bind(ch)
  let count = 0
  ch.query = ((sql: string, params?: Parameters<typeof query>[1]) => {
    if (sql.includes("kind = 'commit' AND space IN")) count++
    return query(sql, params)
  }) as typeof ch.query
  try {
    await fn()
  } finally {
    ch.query = query
  }
  return count
}

beforeAll(async () => {
  db = `fresh_${process.pid}`
  store = await openStore(dir.path, { database: db })
  second = await openStore(dir.path, { database: db, migrate: false })
})

afterAll(async () => {
  await second.close()
  await store.close()
  dir.remove()
})

describe('writes into epochs this process started', () => {
  test('a first fetch needs no lookup; a repeat of it is refused as a lookup would', async () => {
    const space = newSpace()
    expect((await store.upsertSpace(space)).created).toBe(true)
    const first = { ...commit(space, 'did:plc:alice', 1), records: recs('a') }
    expect(await lookups(() => store.replaceRepo(first))).toBe(0)
    // Written now: the next write of the repo is checked against ClickHouse.
    let again: Awaited<ReturnType<MergeStore['replaceRepo']>> | undefined
    expect(await lookups(async () => (again = await store.replaceRepo(first)))).toBe(1)
    expect(again?.outcome).toBe('unchanged')
    const stale = await store.applyRepoUpdate({
      ...commit(space, 'did:plc:alice', 2),
      since: null,
      upserts: recs('b'),
      deletes: [],
    })
    expect(stale.outcome).toBe('conflict')
  })

  test("a second store's writes count: the first store does not take the repo for unwritten", async () => {
    const space = newSpace()
    await store.upsertSpace(space)
    expect(
      (await second.replaceRepo({ ...commit(space, 'did:plc:bob', 1), records: recs('x') })).outcome,
    ).toBe('applied')
    const late = await store.applyRepoUpdate({
      ...commit(space, 'did:plc:bob', 2),
      since: null,
      upserts: recs('y'),
      deletes: [],
    })
    expect(late.outcome).toBe('conflict')
  })

  test('a space deleted and re-created starts a new fresh epoch', async () => {
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

describe('FreshEpochs', () => {
  test('vouches only for the epoch it was told of, forgets on request, and stays bounded', () => {
    const f = new FreshEpochs(3)
    f.started('s1', 1)
    expect(f.absent('s1', 1, 'a')).toBe(true)
    expect(f.absent('s1', 2, 'a')).toBe(false)
    f.wrote('s1', 1, 'a')
    expect(f.absent('s1', 1, 'a')).toBe(false)
    f.started('s1', 1) // the same epoch again: what was written stays known
    expect(f.absent('s1', 1, 'a')).toBe(false)
    f.started('s2', 1)
    f.wrote('s2', 1, 'b') // 4 entries > 3: the oldest space goes
    expect(f.absent('s1', 1, 'z')).toBe(false)
    expect(f.absent('s2', 1, 'z')).toBe(true)
    f.forget('s2')
    expect(f.absent('s2', 1, 'z')).toBe(false)
  })
})
