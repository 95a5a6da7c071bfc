// Recovery swaps a repo to a new generation in one step. Readers run continuously while the swap is in
// flight; every read must show exactly the old generation or exactly the new one — never a missing or a
// doubled record. The embedded engine runs one statement at a time, so these reads interleave with the
// writer's statements (state read, key read, insert) but cannot land inside the insert itself; what makes
// the insert atomic for concurrent readers on a server — all its rows form a single part — is checked
// directly, with background merges stopped so that a split insert could not be hidden by a merge.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { MergeStore } from '../../src/merge/index.js'
import type { RecordWrite } from '../../src/merge/types.js'
import { commit, openStore, SPACE_A, tempDir } from './helpers.js'

const X = 'did:plc:recovering'
const Y = 'did:plc:bystander'
const LISTED = 'app.bsky.feed.post'
// Bulk rows in another collection make the insert slow enough for many reads to overlap it.
const BULK = 'com.example.bulk'

function generation(tag: string, ids: number[], bulk: number): RecordWrite[] {
  const listed = ids.map((i) => ({
    collection: LISTED,
    rkey: `3k${String(i).padStart(6, '0')}`,
    cid: `bafy${tag}${i}`,
    value: { tag, i },
  }))
  const extra = Array.from({ length: bulk }, (_, i) => ({
    collection: BULK,
    rkey: `b${i}`,
    cid: `bafybulk${tag}${i}`,
    value: { tag, i, pad: 'x'.repeat(100) },
  }))
  // Interleaved, so that an insert split into several parts would expose a mix of both generations.
  const out: RecordWrite[] = []
  const step = Math.max(1, Math.ceil(extra.length / Math.max(1, listed.length)))
  for (let i = 0; i < Math.max(listed.length, Math.ceil(extra.length / step)); i++) {
    const l = listed[i]
    if (l !== undefined) out.push(l)
    out.push(...extra.slice(i * step, (i + 1) * step))
  }
  return out
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

describe('generation swap', () => {
  const dir = tempDir()
  let store: MergeStore

  beforeAll(async () => {
    // Without the view cache: the readers must race the swap in ClickHouse itself (and cached answers,
    // which never wait for I/O, would starve the insert the loop waits for).
    store = await openStore(dir.path, { maxDelayMs: 2, maxRows: 1_000_000, viewCacheBytes: 0 })
    await store.clickhouse.command(`SYSTEM STOP MERGES ${store.clickhouse.target.database}.records`)
    await store.upsertSpace(SPACE_A)
    await store.replaceRepo({ ...commit(SPACE_A, Y, 1), records: generation('y', range(0, 50), 0) })
  })
  afterAll(async () => {
    await store.close()
    dir.remove()
  })

  const listed = async (): Promise<string[]> => {
    const page = await store.listRecords({ space: SPACE_A, author: X, collection: LISTED, limit: 1000 })
    return page.records.map((r) => `${r.rkey}@${r.cid}`)
  }
  const expected = (gen: RecordWrite[]): string[] =>
    gen
      .filter((w) => w.collection === LISTED)
      .map((w) => `${w.rkey}@${w.cid}`)
      .sort()

  test('readers see the old or the new generation, nothing in between', async () => {
    const generations = [
      generation('a', range(0, 900), 6000),
      generation('b', range(450, 1000), 9000), // half kept (new CIDs), half dropped, new ones added
      generation('c', range(0, 60), 0), // shrinks to a few
      generation('d', [], 0), // empty repo
      generation('e', range(100, 1000), 12000),
    ]
    let prev: RecordWrite[] = []
    let rev = 10
    let overlapping = 0
    for (const next of generations) {
      const before = expected(prev)
      const after = expected(next)
      let done = false
      const write = store
        .replaceRepo({ ...commit(SPACE_A, X, ++rev), records: next })
        .finally(() => (done = true))
      while (!done) {
        const [seen, count, other] = await Promise.all([
          listed(),
          store.countRecords(SPACE_A, { author: X }),
          store.countRecords(SPACE_A, { author: Y }),
        ])
        const isBefore = JSON.stringify(seen) === JSON.stringify(before)
        const isAfter = JSON.stringify(seen) === JSON.stringify(after)
        expect({ rev, isBeforeOrAfter: isBefore || isAfter }).toEqual({ rev, isBeforeOrAfter: true })
        expect([prev.length, next.length]).toContain(count)
        expect(other).toBe(50)
        if (!done) overlapping++
      }
      const result = await write
      expect(result.outcome).toBe('applied')
      expect(await listed()).toEqual(after)
      expect(await store.countRecords(SPACE_A, { author: X })).toBe(next.length)
      expect((await store.getRepoState(SPACE_A, X))?.generation).toBe(result.generation)
      const [written] = await store.clickhouse.query<{ parts: number | string; rows: number | string }>(
        `SELECT uniqExact(_part) AS parts, count() AS rows FROM ${store.clickhouse.target.database}.records
         WHERE space = {space:String} AND author = {author:String} AND version = {version:UInt64}`,
        { space: SPACE_A, author: X, version: result.version },
      )
      const dropped = new Set(prev.map((w) => `${w.collection}/${w.rkey}`))
      for (const w of next) dropped.delete(`${w.collection}/${w.rkey}`)
      // New records + tombstones of dropped keys + the commit row, all in one part.
      expect(written).toEqual({ parts: 1, rows: next.length + dropped.size + 1 })
      prev = next
    }
    // The reads above really overlapped the swaps.
    expect(overlapping).toBeGreaterThan(generations.length)
  }, 90_000)
})
