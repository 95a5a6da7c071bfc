// The repo-state / account-status hint cache (hint-cache.ts), the coalescing of its misses
// (commit-loader.ts), the embedded engine's exact catalog of space epochs and hidden accounts (catalog.ts)
// and the literal inlining of the embedded transport (sql-literal.ts). Cached reads must equal ClickHouse
// reads after every kind of write; a second store instance writing the same database may leave the first's
// repo-state hints stale, but no longer than their TTL, and never its catalog (shared, exact); a slow load
// racing a write never puts back the replaced state. Literals must carry any string exactly.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { MergeStore } from '../../src/merge/index.js'
import { CommitLoader } from '../../src/merge/commit-loader.js'
import { HintCache } from '../../src/merge/hint-cache.js'
import type { RepoCommit } from '../../src/merge/record-reader.js'
import { inlineParams, sqlString } from '../../src/merge/sql-literal.js'
import { commit, openStore, SPACE_A, SPACE_B, tempDir } from './helpers.js'

const ALICE = 'did:plc:alice'
const BOB = 'did:plc:bob'

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

describe('HintCache', () => {
  test('a load that started before a set is not stored over it', async () => {
    const cache = new HintCache<string, string>(60_000, 10)
    const slow = deferred<string>()
    const read = cache.get('k', () => slow.promise)
    cache.set('k', 'new')
    slow.resolve('old')
    expect(await read).toBe('old')
    expect(await cache.get('k', async () => 'loaded')).toBe('new')
  })

  test('a load that started before a drop is not stored', async () => {
    const cache = new HintCache<string, string>(60_000, 10)
    const slow = deferred<string>()
    const read = cache.get('k', () => slow.promise)
    cache.drop((k) => k === 'k')
    slow.resolve('old')
    await read
    expect(await cache.get('k', async () => 'fresh')).toBe('fresh')
  })

  test('concurrent misses share one load, but never one that started before a write', async () => {
    const cache = new HintCache<string, string>(60_000, 10)
    let loads = 0
    const slow = deferred<string>()
    const load = (): Promise<string> => (++loads === 1 ? slow.promise : Promise.resolve(`load${loads}`))
    const a = cache.get('k', load)
    const b = cache.get('k', load)
    expect(loads).toBe(1)
    cache.drop('k')
    const c = cache.get('k', load) // after the write: its own load
    expect(loads).toBe(2)
    slow.resolve('before')
    expect([await a, await b, await c]).toEqual(['before', 'before', 'load2'])
  })

  test('bounded: the least recently stored entry goes first; ttl 0 stores nothing', async () => {
    const cache = new HintCache<number, number>(60_000, 2)
    for (const k of [1, 2, 3]) cache.set(k, k)
    expect(await cache.get(1, async () => -1)).toBe(-1)
    expect(await cache.get(3, async () => -1)).toBe(3)
    const off = new HintCache<number, number>(0, 2)
    off.set(1, 1)
    expect(await off.get(1, async () => -1)).toBe(-1)
  })
})

describe('CommitLoader', () => {
  const commitOf = (author: string): RepoCommit => ({ author }) as RepoCommit

  test('misses of one space in one tick, or during its running read, share a read started after them', async () => {
    const reads: { space: string; authors: readonly string[]; done: ReturnType<typeof deferred<void>> }[] = []
    const loader = new CommitLoader(async (space, authors) => {
      const done = deferred<void>()
      reads.push({ space, authors, done })
      await done.promise
      return new Map(authors.filter((a) => a !== 'none').map((a) => [a, commitOf(a)]))
    })
    const first = [
      loader.load('s1', 'a'),
      loader.load('s1', 'b'),
      loader.load('s1', 'a'),
      loader.load('s2', 'a'),
    ]
    await new Promise((r) => setImmediate(r))
    expect(reads.map((r) => [r.space, r.authors])).toEqual([
      ['s1', ['a', 'b']],
      ['s2', ['a']],
    ])
    // Asked while s1's read runs: answered by the next read, never by the running one.
    const later = [loader.load('s1', 'a'), loader.load('s1', 'none')]
    reads[0]!.done.resolve()
    reads[1]!.done.resolve()
    expect((await Promise.all(first)).map((c) => c?.author)).toEqual(['a', 'b', 'a', 'a'])
    await new Promise((r) => setImmediate(r))
    expect(reads.map((r) => r.authors)).toEqual([['a', 'b'], ['a'], ['a', 'none']])
    reads[2]!.done.resolve()
    expect((await Promise.all(later)).map((c) => c?.author ?? null)).toEqual(['a', null])
  })

  test('a failed read fails its requests only', async () => {
    let n = 0
    const loader = new CommitLoader(async (_space, authors) => {
      if (++n === 1) throw new Error('engine down')
      return new Map(authors.map((a) => [a, commitOf(a)]))
    })
    await expect(loader.load('s', 'a')).rejects.toThrow('engine down')
    expect((await loader.load('s', 'a'))?.author).toBe('a')
  })
})

describe('state cache against ClickHouse', () => {
  const dir = tempDir()
  let store: MergeStore
  let uncached: MergeStore

  beforeAll(async () => {
    store = await openStore(dir.path, { database: 'cache', maxDelayMs: 2 })
    uncached = await openStore(dir.path, { database: 'cache', migrate: false, stateCacheMs: 0 })
  })
  afterAll(async () => {
    await uncached.close()
    await store.close()
    dir.remove()
  })

  const same = async (space: string, author: string): Promise<void> => {
    expect(await store.getRepoState(space, author)).toEqual(await uncached.getRepoState(space, author))
    expect(await store.getAccountStatus(author)).toBe(await uncached.getAccountStatus(author))
  }

  test('cached reads equal uncached reads through the whole lifecycle', async () => {
    await store.upsertSpace(SPACE_A)
    await same(SPACE_A, ALICE) // cached "nothing stored"
    await store.replaceRepo({ ...commit(SPACE_A, ALICE, 1), records: [] })
    await same(SPACE_A, ALICE)
    await store.applyRepoUpdate({
      ...commit(SPACE_A, ALICE, 2),
      since: commit(SPACE_A, ALICE, 1).rev,
      upserts: [{ collection: 'app.x', rkey: 'a', cid: 'bafya', value: { a: 1 } }],
      deletes: [],
    })
    await same(SPACE_A, ALICE)
    await store.setRepoStatus(SPACE_A, ALICE, 'recovering', 'hash\tmismatch')
    await same(SPACE_A, ALICE)
    await store.replaceRepo({ ...commit(SPACE_A, ALICE, 3), records: [] }) // recovery: new generation
    await same(SPACE_A, ALICE)
    await store.setRepoStatus(SPACE_A, BOB, 'failed', 'no repo') // status of a repo never committed
    await same(SPACE_A, BOB)

    await store.setAccountStatus(ALICE, 'takendown')
    await same(SPACE_A, ALICE)
    await store.setAccountStatus(ALICE, 'active')
    await same(SPACE_A, ALICE)

    await store.deleteSpace(SPACE_A)
    await same(SPACE_A, ALICE)
    expect(await store.getRepoState(SPACE_A, ALICE)).toBeNull()
    await store.upsertSpace(SPACE_A)
    await same(SPACE_A, ALICE)
    await store.replaceRepo({ ...commit(SPACE_A, ALICE, 4), records: [] })
    await same(SPACE_A, ALICE)
    expect((await store.getRepoState(SPACE_A, ALICE))?.epoch).toBe(2)

    await store.replaceRepo({ ...commit(SPACE_A, BOB, 5), records: [] })
    await store.setAccountStatus(BOB, 'deleted') // purges BOB everywhere
    await same(SPACE_A, BOB)
    expect(await store.getRepoState(SPACE_A, BOB)).toBeNull()
  })

  test('knownRepoHead answers from the cache only: what this store wrote, else undefined', async () => {
    const author = 'did:plc:carol'
    await store.upsertSpace(SPACE_B)
    expect(store.knownRepoHead(SPACE_B, author)).toBeUndefined() // never read nor written here
    await store.replaceRepo({ ...commit(SPACE_B, author, 20), records: [] })
    const head = commit(SPACE_B, author, 20)
    expect(store.knownRepoHead(SPACE_B, author)).toEqual({ rev: head.rev, commitHash: head.commitHash })
    expect(uncached.knownRepoHead(SPACE_B, author)).toBeUndefined() // cache off: never known
    await store.deleteSpace(SPACE_B)
    expect(store.knownRepoHead(SPACE_B, author)).not.toEqual(expect.objectContaining({ rev: head.rev }))
    await store.upsertSpace(SPACE_B)
  })

  test('states handed out are copies: mutating one does not change the cache', async () => {
    await store.upsertSpace(SPACE_B)
    await store.replaceRepo({ ...commit(SPACE_B, ALICE, 7), records: [] })
    const first = await store.getRepoState(SPACE_B, ALICE)
    first!.ltState!.fill(0)
    first!.commitHash!.fill(0)
    await same(SPACE_B, ALICE)
  })

  test('another instance writing the same database: stale at most for the TTL', async () => {
    const ttl = 300
    const reader = await openStore(dir.path, { database: 'cache', migrate: false, stateCacheMs: ttl })
    try {
      await store.upsertSpace(SPACE_B)
      await store.replaceRepo({ ...commit(SPACE_B, BOB, 10), records: [] })
      expect((await reader.getRepoState(SPACE_B, BOB))?.rev).toBe(commit(SPACE_B, BOB, 10).rev)
      await store.replaceRepo({ ...commit(SPACE_B, BOB, 11), records: [] })
      await new Promise((r) => setTimeout(r, ttl + 50))
      expect(await reader.getRepoState(SPACE_B, BOB)).toEqual(await uncached.getRepoState(SPACE_B, BOB))
      // The writer's compare-and-set reads ClickHouse, not the stale hint: writing on top of the old rev
      // from the second instance is a conflict, never a lost update.
      const stale = await reader.applyRepoUpdate({
        ...commit(SPACE_B, BOB, 12),
        since: commit(SPACE_B, BOB, 10).rev,
        upserts: [],
        deletes: [],
      })
      expect(stale.outcome).toBe('conflict')
    } finally {
      await reader.close()
    }
  })
})

describe('catalog: exact across the stores of one embedded database', () => {
  const dir = tempDir()
  let a: MergeStore
  let b: MergeStore
  let uncached: MergeStore

  beforeAll(async () => {
    a = await openStore(dir.path, { database: 'catalog', maxDelayMs: 2, viewCacheBytes: 0 })
    b = await openStore(dir.path, { database: 'catalog', migrate: false, maxDelayMs: 2, viewCacheBytes: 0 })
    uncached = await openStore(dir.path, {
      database: 'catalog',
      migrate: false,
      maxDelayMs: 2,
      stateCacheMs: 0,
      viewCacheBytes: 0,
    })
  })
  afterAll(async () => {
    await Promise.all([a.close(), b.close(), uncached.close()])
    dir.remove()
  })

  const record = { collection: 'app.x', rkey: 'r1', cid: 'bafyr1', value: { t: 1 } }
  const visible = async (store: MergeStore): Promise<string[]> =>
    (await store.listRecords({ space: SPACE_A })).records.map((r) => `${r.author} ${r.rkey}`)

  test('lifecycle and account writes of any store are seen at once by the others (no TTL wait)', async () => {
    for (const writer of [a, b, uncached]) {
      await writer.upsertSpace(SPACE_A)
      await writer.replaceRepo({ ...commit(SPACE_A, ALICE, 1), records: [record] })
      for (const s of [a, b]) expect(await visible(s)).toEqual([`${ALICE} r1`])
      await writer.setAccountStatus(ALICE, 'takendown')
      for (const s of [a, b]) {
        expect(await visible(s)).toEqual([])
        expect(await s.getAccountStatus(ALICE)).toBe('takendown')
      }
      await writer.setAccountStatus(ALICE, 'active')
      for (const s of [a, b]) expect(await visible(s)).toEqual([`${ALICE} r1`])
      await writer.deleteSpace(SPACE_A)
      for (const s of [a, b]) {
        expect(await visible(s)).toEqual([])
        expect(await s.getRecord(SPACE_A, ALICE, 'app.x', 'r1')).toBeNull()
        expect(await s.countRecords(SPACE_A)).toBe(0)
      }
      // The writer decides `space_inactive` from the catalog: a store that cached the old epoch refuses.
      const late = await b.applyRepoUpdate({
        ...commit(SPACE_A, ALICE, 2),
        since: null,
        upserts: [],
        deletes: [],
      })
      expect(late.outcome).toBe('space_inactive')
    }
  })

  test('space facts the ACL reads come from the catalog without a query; the writes of every store show at once', async () => {
    const ch = a.clickhouse
    const query = ch.query.bind(ch)
    let queries = 0
    ch.query = ((sql: string, params?: Parameters<typeof query>[1]) => {
      queries++
      return query(sql, params)
    }) as typeof ch.query
    try {
      await b.upsertSpace(SPACE_B)
      expect(await b.setAccessSnapshot(SPACE_B, { policy: { v: 1 }, appAccess: {}, members: [BOB] })).toBe(
        true,
      )
      const first = await a.getSpace(SPACE_B)
      expect(first).toMatchObject({ status: 'active' })
      expect(await a.getAccessSnapshot(SPACE_B)).toMatchObject({ policy: { v: 1 }, members: [BOB] })
      const before = queries
      for (let i = 0; i < 5; i++) {
        await a.getSpace(SPACE_B)
        await a.getAccessSnapshot(SPACE_B)
      }
      expect(queries).toBe(before)
      // A snapshot written by another store (even one reading without caches) is what the next read sees.
      await uncached.setAccessSnapshot(SPACE_B, { policy: { v: 2 }, appAccess: {}, members: null })
      expect(await a.getAccessSnapshot(SPACE_B)).toMatchObject({ policy: { v: 2 }, members: null })
      // Deleted: a tombstone and no snapshot; re-created: a new epoch, still without the old snapshot.
      await b.deleteSpace(SPACE_B)
      expect(await a.getSpace(SPACE_B)).toMatchObject({ status: 'deleted', epoch: first!.epoch })
      expect(await a.getAccessSnapshot(SPACE_B)).toBeNull()
      await uncached.upsertSpace(SPACE_B)
      expect(await a.getSpace(SPACE_B)).toMatchObject({ status: 'active', epoch: first!.epoch + 1 })
      expect(await a.getAccessSnapshot(SPACE_B)).toBeNull()
      // Handed out as copies: a caller changing one does not change what the next caller gets.
      const mine = (await a.getSpace(SPACE_B))!
      mine.status = 'deleted'
      expect(await a.getSpace(SPACE_B)).toMatchObject({ status: 'active' })
      await b.setAccessSnapshot(SPACE_B, { policy: { v: 3 }, appAccess: {}, members: [ALICE] })
      ;(await a.getAccessSnapshot(SPACE_B))!.members!.push(BOB)
      expect((await a.getAccessSnapshot(SPACE_B))!.members).toEqual([ALICE])
      // And what the catalog answers is what ClickHouse holds.
      expect(await a.getSpace(SPACE_B)).toEqual(await uncached.getSpace(SPACE_B))
    } finally {
      ch.query = query
    }
  })
})

describe('inlined literals (embedded transport)', () => {
  const dir = tempDir()
  let store: MergeStore

  beforeAll(async () => {
    store = await openStore(dir.path, { database: 'literals' })
  })
  afterAll(async () => {
    await store.close()
    dir.remove()
  })

  const nasty = [
    '',
    "it's",
    'back\\slash',
    "\\'",
    "\\\\'; DROP TABLE x; --",
    'tab\tnew\nline\rcr\0nul',
    '{space:String}',
    '✓ unicode 𝄞',
    "' OR 1=1 --",
  ]

  test('every string comes back exactly, alone and in arrays', async () => {
    for (const s of nasty) {
      const [row] = await store.clickhouse.query<{ v: string }>('SELECT {v:String} AS v', { v: s })
      expect(row?.v).toBe(s)
    }
    const [row] = await store.clickhouse.query<{ v: string[]; n: number }>(
      'SELECT {v:Array(String)} AS v, length({v:Array(String)}) AS n',
      { v: nasty },
    )
    expect(row?.v).toEqual(nasty)
    const [hit] = await store.clickhouse.query<{ yes: number }>(
      "SELECT 'it''s' IN {v:Array(String)} AS yes",
      { v: nasty },
    )
    expect(Number(hit?.yes)).toBe(1)
  })

  test('one pass, typed, and refuses what it cannot render', () => {
    expect(inlineParams('{a:String} {b:String}', { a: '{b:String}', b: 'x' })).toBe(`'{b:String}' 'x'`)
    expect(inlineParams('LIMIT {n:UInt32}', { n: 5 })).toBe('LIMIT 5')
    expect(sqlString("a'b\\c")).toBe("'a\\'b\\\\c'")
    expect(() => inlineParams('{n:UInt32}', { n: -1 })).toThrow(/non-negative integer/)
    expect(() => inlineParams('{n:UInt32}', { n: '1 OR 1' })).toThrow(/non-negative integer/)
    expect(() => inlineParams('{s:String}', { s: 5 as unknown as string })).toThrow(/string/)
    expect(() => inlineParams('{x:Float64}', { x: 1 })).toThrow(/no literal rendering/)
    expect(() => inlineParams('{missing:String}', {})).toThrow(/no value/)
  })
})
