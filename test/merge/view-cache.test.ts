// The exact view cache of the embedded store (view-cache.ts): a repeated read is answered without a
// ClickHouse query, and every kind of write that changes what a space shows — updates, deletes, recovery
// snapshots, hiding and unhiding an author, space deletion and re-creation, writes by a second store
// instance on the same database, a write landing while a read is in flight — is visible to the next read,
// which must equal the answer of a store that reads ClickHouse directly.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { MergeStore, ReadStats } from '../../src/merge/index.js'
import { ViewCache } from '../../src/merge/view-cache.js'
import type { RecordWrite } from '../../src/merge/types.js'
import { commit, openStore, SPACE_A, SPACE_B, tempDir } from './helpers.js'

const ALICE = 'did:plc:alice'
const BOB = 'did:plc:bob'

function recs(tag: string, n: number): RecordWrite[] {
  return Array.from({ length: n }, (_, i) => ({
    collection: 'app.example.post',
    rkey: `3k${tag}${String(i).padStart(4, '0')}`,
    cid: `bafy${tag}${i}`,
    value: { text: `${tag} ${i}` },
  }))
}

describe('ViewCache', () => {
  test('serves an entry only while its space and the global version are unchanged', async () => {
    const cache = new ViewCache(1 << 20)
    let loads = 0
    const load = async () => ++loads
    expect(await cache.read('s', 'k', load)).toEqual({ value: 1, hit: false })
    expect(await cache.read('s', 'k', load)).toEqual({ value: 1, hit: true })
    cache.spaceChanged('other')
    expect((await cache.read('s', 'k', load)).hit).toBe(true)
    cache.spaceChanged('s')
    expect(await cache.read('s', 'k', load)).toEqual({ value: 2, hit: false })
    cache.allChanged()
    expect(await cache.read('s', 'k', load)).toEqual({ value: 3, hit: false })
  })

  test('a read that a write overtook is not served after the write', async () => {
    const cache = new ViewCache(1 << 20)
    let release!: (v: string) => void
    const slow = cache.read('s', 'k', () => new Promise<string>((r) => (release = r)))
    cache.spaceChanged('s') // the write became visible while the read ran
    release('before the write')
    expect((await slow).value).toBe('before the write')
    expect(await cache.read('s', 'k', async () => 'after the write')).toEqual({
      value: 'after the write',
      hit: false,
    })
  })

  test('concurrent misses of a key share one load; a read after a write does not join an older one', async () => {
    const cache = new ViewCache(1 << 20)
    let loads = 0
    const releases: Array<(v: string) => void> = []
    const load = () => (loads++, new Promise<string>((r) => releases.push(r)))
    const first = cache.read('s', 'k', load)
    const joined = [cache.read('s', 'k', load), cache.read('s', 'k', load)]
    expect(loads).toBe(1)
    cache.spaceChanged('s') // a write became visible: later reads must not take the answer begun before it
    const after = cache.read('s', 'k', load)
    expect(loads).toBe(2)
    releases[0]!('v1')
    releases[1]!('v2')
    expect(await first).toEqual({ value: 'v1', hit: false })
    for (const r of joined) expect(await r).toEqual({ value: 'v1', hit: true })
    expect(await after).toEqual({ value: 'v2', hit: false })
    expect(await cache.read('s', 'k', load)).toEqual({ value: 'v2', hit: true })
    expect(loads).toBe(2)
  })

  test('a failed load fails the reads that joined it and leaves nothing behind', async () => {
    const cache = new ViewCache(1 << 20)
    let fail!: (e: Error) => void
    const first = cache.read('s', 'k', () => new Promise<string>((_, reject) => (fail = reject)))
    const joined = cache.read('s', 'k', async () => 'never run')
    fail(new Error('engine down'))
    await expect(first).rejects.toThrow('engine down')
    await expect(joined).rejects.toThrow('engine down')
    expect(await cache.read('s', 'k', async () => 'loaded again')).toEqual({
      value: 'loaded again',
      hit: false,
    })
  })

  test('bounded by size, least recently used first; 0 caches nothing', async () => {
    const cache = new ViewCache(8 * 1024)
    const big = 'x'.repeat(400) // ~800 bytes estimated per entry
    for (let i = 0; i < 20; i++) await cache.read('s', `k${i}`, async () => big)
    expect((await cache.read('s', 'k19', async () => 'reloaded')).hit).toBe(true)
    expect((await cache.read('s', 'k0', async () => 'reloaded')).value).toBe('reloaded')
    const off = new ViewCache(0)
    await off.read('s', 'k', async () => 1)
    expect((await off.read('s', 'k', async () => 2)).value).toBe(2)
  })
})

describe('view cache of the embedded store', () => {
  const dir = tempDir()
  let store: MergeStore
  let direct: MergeStore
  let other: MergeStore
  const reads: ReadStats[] = []
  let n = 100
  const next = (space: string, author: string) => commit(space, author, ++n)

  beforeAll(async () => {
    store = await openStore(dir.path, {
      database: 'views',
      maxDelayMs: 2,
      observer: { read: (r) => reads.push(r) },
    })
    direct = await openStore(dir.path, { database: 'views', migrate: false, viewCacheBytes: 0 })
    other = await openStore(dir.path, { database: 'views', migrate: false })
  })
  afterAll(async () => {
    await other.close()
    await direct.close()
    await store.close()
    dir.remove()
  })

  /** Reads the space's first page, its count and one record; asserts they equal ClickHouse's answers. */
  async function sameAsDirect(space: string, rkey: string): Promise<boolean[]> {
    reads.length = 0
    const q = { space, limit: 20 }
    expect(await store.listRecords(q)).toEqual(await direct.listRecords(q))
    expect(await store.countRecords(space)).toBe(await direct.countRecords(space))
    expect(await store.getRecord(space, ALICE, 'app.example.post', rkey)).toEqual(
      await direct.getRecord(space, ALICE, 'app.example.post', rkey),
    )
    return reads.map((r) => r.cached)
  }

  test('a repeated read is a hit; every write that changes the view is seen by the next read', async () => {
    const space = `${SPACE_A}-views`
    await store.upsertSpace(space)
    const first = next(space, ALICE)
    await store.replaceRepo({ ...first, records: recs('a', 30) })
    await store.replaceRepo({ ...next(space, BOB), records: recs('b', 10) })
    expect(await sameAsDirect(space, '3ka0001')).toEqual([false, false, false])
    expect(await sameAsDirect(space, '3ka0001')).toEqual([true, true, true])

    // Update and delete.
    const upd = next(space, ALICE)
    await store.applyRepoUpdate({
      ...upd,
      since: first.rev,
      upserts: [{ ...recs('a', 1)[0]!, rkey: '3ka0001', cid: 'bafychanged', value: { text: 'changed' } }],
      deletes: [{ collection: 'app.example.post', rkey: '3ka0000' }],
    })
    expect(await sameAsDirect(space, '3ka0001')).toEqual([false, false, false])
    expect((await store.getRecord(space, ALICE, 'app.example.post', '3ka0001'))?.cid).toBe('bafychanged')
    expect(await store.getRecord(space, ALICE, 'app.example.post', '3ka0000')).toBeNull()

    // A recovery snapshot swaps the author's records.
    await store.replaceRepo({ ...next(space, ALICE), records: recs('c', 5) })
    await sameAsDirect(space, '3kc0001')
    expect(await store.countRecords(space)).toBe(15)

    // Hiding and unhiding the author (an account event affects every space).
    await store.setAccountStatus(ALICE, 'deactivated')
    expect(await sameAsDirect(space, '3kc0001')).toEqual([false, false, false])
    expect(await store.countRecords(space)).toBe(10)
    await store.setAccountStatus(ALICE, 'active', new Date(Date.now() + 1000))
    await sameAsDirect(space, '3kc0001')
    expect(await store.countRecords(space)).toBe(15)

    // Deletion, then re-creation under the same URI: empty, never the old rows.
    await store.deleteSpace(space)
    await sameAsDirect(space, '3kc0001')
    expect(await store.countRecords(space)).toBe(0)
    await store.upsertSpace(space)
    await store.replaceRepo({ ...next(space, ALICE), records: recs('d', 3) })
    await sameAsDirect(space, '3kd0001')
    expect(await store.countRecords(space)).toBe(3)
  })

  test('writes of another store instance on the same database invalidate this one', async () => {
    const space = `${SPACE_B}-views`
    await store.upsertSpace(space)
    await store.replaceRepo({ ...next(space, ALICE), records: recs('e', 4) })
    expect(await store.countRecords(space)).toBe(4)
    await other.replaceRepo({ ...next(space, ALICE), records: recs('f', 7) })
    expect(await store.countRecords(space)).toBe(7)
    await sameAsDirect(space, '3kf0001')
  })

  test('a write landing while a read is in flight is seen by the following read', async () => {
    const space = `${SPACE_B}-race`
    await store.upsertSpace(space)
    await store.replaceRepo({ ...next(space, ALICE), records: recs('g', 5) })
    const inFlight = store.listRecords({ space, limit: 50 })
    const write = store.replaceRepo({ ...next(space, ALICE), records: recs('h', 6) })
    const [page] = await Promise.all([inFlight, write])
    expect([5, 6]).toContain(page.records.length)
    expect((await store.listRecords({ space, limit: 50 })).records.map((r) => r.rkey)).toEqual(
      recs('h', 6).map((r) => r.rkey),
    )
  })
})
