// RowBinary rows of the records table on the real embedded engine: arbitrary strings (tabs, newlines,
// backslashes, NUL, non-ASCII, emoji, every LEB128 length size) round-trip byte for byte through the store's
// write path (small inserts rewritten as TSV and large ones alike), a snapshot larger than one insert chunk
// and one engine read block lands as one part, and the Enum8 codes the encoder sends are the schema's.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { BatchStats, MergeStore } from '../../src/merge/index.js'
import { KIND_CODE, STATUS_CODE } from '../../src/merge/repo-rows.js'
import type { RecordWrite } from '../../src/merge/types.js'
import { commit, openStore, SPACE_A, tempDir } from './helpers.js'

const AUTHOR = 'did:plc:rowbinary'

/** Strings that break text formats, and lengths around each LEB128 size boundary (127/128, 16383/16384). */
const NASTY = [
  'tab\there',
  'new\nline',
  'carriage\rreturn',
  'back\\slash',
  'nul\0byte',
  'héllo wörld',
  'emoji 🦋🚀',
  'quote " and \' apostrophe',
  '\\N',
  'x'.repeat(42),
  'x'.repeat(43),
  'y'.repeat(127),
  'y'.repeat(128),
  'é'.repeat(64),
  '🦋'.repeat(40),
  'z'.repeat(16383),
  'z'.repeat(16384),
]

function nastyRecords(): RecordWrite[] {
  return NASTY.map((s, i) => ({
    collection: `app.test.c${i % 3}${s.slice(0, 20)}`,
    rkey: `k${String(i).padStart(3, '0')}${s.slice(0, 30)}`,
    cid: `bafy${i}${s.slice(0, 10)}`,
    value: { text: s, i, nested: { list: [s, i, null, true] } },
  }))
}

describe('RowBinary records', () => {
  const dir = tempDir()
  let store: MergeStore
  let db: string
  const batches: BatchStats[] = []

  beforeAll(async () => {
    store = await openStore(dir.path, {
      database: 'rowbinary',
      stateCacheMs: 0,
      viewCacheBytes: 0,
      observer: { batch: (b) => batches.push(b) },
    })
    db = store.clickhouse.target.database
  })
  afterAll(async () => {
    await store.close()
    dir.remove()
  })

  /** The stored record rows of `space`, as the engine holds them. */
  const storedRows = (space: string) =>
    store.clickhouse.query<{ collection: string; rkey: string; cid: string; value: string; rev: string }>(
      `SELECT collection, rkey, cid, value, rev FROM ${db}.records FINAL
       WHERE space = {space:String} AND kind = 'record' AND is_deleted = 0 ORDER BY rkey`,
      { space },
    )

  // Embedded inserts up to 256 KiB are rewritten as TSV for chdb's raw insert, larger ones go as RowBinary
  // through a file (clickhouse.ts): the snapshot takes one path or the other, the later writes the first.
  test.each([
    ['small', false],
    ['large', true],
  ])('arbitrary strings round-trip exactly through the write path (%s snapshot)', async (size, large) => {
    const space = `${SPACE_A}-nasty-${size}`
    await store.upsertSpace(space)
    const filler = {
      collection: 'app.test.filler',
      rkey: 'filler',
      cid: 'bafyfill',
      value: 'f'.repeat(300_000),
    }
    const records = [...nastyRecords(), ...(large ? [filler] : [])]
    const c = commit(space, AUTHOR, 1)
    batches.length = 0
    expect((await store.replaceRepo({ ...c, records })).outcome).toBe('applied')
    expect(batches.map((b) => b.bytes > 256 * 1024)).toEqual([large])

    const want = records
      .map((r) => ({ collection: r.collection, rkey: r.rkey, cid: r.cid, value: JSON.stringify(r.value) }))
      .sort((a, b) => Buffer.compare(Buffer.from(a.rkey), Buffer.from(b.rkey)))
    const got = (await storedRows(space)).map(({ collection, rkey, cid, value }) => ({
      collection,
      rkey,
      cid,
      value,
    }))
    expect(got).toEqual(want)

    for (const r of records) {
      const read = await store.getRecord(space, AUTHOR, r.collection, r.rkey)
      expect(read).toMatchObject({
        author: AUTHOR,
        collection: r.collection,
        rkey: r.rkey,
        cid: r.cid,
        rev: c.rev,
      })
      expect(read?.value).toEqual(r.value)
    }

    // Deletes (tombstones) and an update on top, with the same kind of keys.
    const gone = records.slice(0, 5)
    const changed = { ...records[5]!, cid: 'bafychanged', value: { text: `${NASTY[4]}${NASTY[6]}` } }
    const u = commit(space, AUTHOR, 2)
    const applied = await store.applyRepoUpdate({
      ...u,
      since: c.rev,
      upserts: [changed],
      deletes: gone.map(({ collection, rkey }) => ({ collection, rkey })),
    })
    expect(applied.outcome).toBe('applied')
    for (const r of gone) expect(await store.getRecord(space, AUTHOR, r.collection, r.rkey)).toBeNull()
    expect(await store.getRecord(space, AUTHOR, changed.collection, changed.rkey)).toMatchObject({
      cid: 'bafychanged',
      value: changed.value,
      rev: u.rev,
    })
    expect(await store.countRecords(space)).toBe(records.length - gone.length)

    // Commit rows: a status reason with every awkward character, and the LtHash state and hash intact.
    const reason = `host said:\t"${NASTY.slice(0, 9).join('|')}"`
    expect((await store.setRepoStatus(space, AUTHOR, 'failed', reason)).outcome).toBe('applied')
    const state = await store.getRepoState(space, AUTHOR)
    expect(state).toMatchObject({ status: 'failed', reason, rev: u.rev, version: 3 })
    expect(Buffer.from(state!.ltState!)).toEqual(Buffer.from(u.ltState))
    expect(Buffer.from(state!.commitHash!)).toEqual(Buffer.from(u.commitHash))
  })

  test('a value whose JSON holds \\\\ and \\n escapes is stored as that JSON text', async () => {
    const space = `${SPACE_A}-escapes`
    await store.upsertSpace(space)
    const value = { text: 'C:\\path\\to\nnext line \\n not a newline', quote: '"\\"', tab: '\t' }
    const json = JSON.stringify(value)
    expect(json).toContain('\\\\')
    expect(json).toContain('\\n')
    const record = { collection: 'app.test.post', rkey: 'escapes', cid: 'bafyesc', value }
    await store.replaceRepo({ ...commit(space, AUTHOR, 1), records: [record] })
    expect((await storedRows(space)).map((r) => r.value)).toEqual([json])
    expect((await store.getRecord(space, AUTHOR, 'app.test.post', 'escapes'))?.value).toEqual(value)
  })

  test('a write refused half-way through its encoding leaves nothing behind for the next one', async () => {
    const space = `${SPACE_A}-refused`
    await store.upsertSpace(space)
    const ok = { collection: 'app.test.post', rkey: 'ok', cid: 'bafyok', value: { text: 'ok' } }
    const bad = { collection: 'app.test.post', rkey: 'bad', cid: 'bafybad', value: { n: 1n } }
    await expect(
      store.replaceRepo({ ...commit(space, AUTHOR, 1), records: [ok, { ...ok, rkey: 'ok2' }, bad] }),
    ).rejects.toMatchObject({ reason: 'invalid_input' })
    const next = { collection: 'app.test.post', rkey: 'next', cid: 'bafynext', value: { text: 'next' } }
    expect((await store.replaceRepo({ ...commit(space, AUTHOR, 1), records: [next] })).outcome).toBe(
      'applied',
    )
    expect(await storedRows(space)).toEqual([
      {
        collection: next.collection,
        rkey: 'next',
        cid: 'bafynext',
        value: '{"text":"next"}',
        rev: commit(space, AUTHOR, 1).rev,
      },
    ])
  })

  test('a snapshot larger than one insert chunk (8 MB) and one read block (65,409 rows) is one part', async () => {
    const space = `${SPACE_A}-big`
    await store.upsertSpace(space)
    const big = 'b'.repeat(300_000)
    const records = Array.from({ length: 70_040 }, (_, i) => ({
      collection: 'app.test.blob',
      rkey: `r${String(i).padStart(6, '0')}`,
      cid: `bafybig${i}`,
      value: i < 40 ? { i, big } : { i },
    }))
    await store.clickhouse.command(`SYSTEM STOP MERGES ${db}.records`)
    try {
      await store.replaceRepo({ ...commit(space, AUTHOR, 1), records })
      const [r] = await store.clickhouse.query<{ parts: number | string; n: number | string }>(
        `SELECT uniqExact(_part) AS parts, count() AS n FROM ${db}.records WHERE space = {space:String}`,
        { space },
      )
      expect({ parts: Number(r?.parts), n: Number(r?.n) }).toEqual({ parts: 1, n: records.length + 1 })
    } finally {
      await store.clickhouse.command(`SYSTEM START MERGES ${db}.records`)
    }
    const rows = await storedRows(space)
    expect(rows.map((r) => r.rkey)).toEqual(records.map((r) => r.rkey))
    expect(rows.every((r, i) => r.value === JSON.stringify(records[i]!.value))).toBe(true)
  })

  test('the Enum8 codes sent are the schema values', async () => {
    const cols = await store.clickhouse.query<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns WHERE database = {db:String} AND table = 'records'
         AND name IN ('kind', 'status')`,
      { db },
    )
    const types = new Map(cols.map((c) => [c.name, c.type]))
    const enumOf = (codes: Record<string, number>): string =>
      `Enum8(${Object.entries(codes)
        .map(([name, code]) => `'${name}' = ${code}`)
        .join(', ')})`
    expect(types.get('kind')).toBe(enumOf(KIND_CODE))
    expect(types.get('status')).toBe(enumOf(STATUS_CODE))
  })
})
