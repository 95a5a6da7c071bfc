// Lifecycle and contract tests of the merge store on the real embedded engine: space deletion and
// re-creation (epochs), account hiding, idempotent replay, batching, atomic parts, cursors, repo status,
// migrations and input validation.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import { MergeError, type BatchStats, type MergeStore } from '../../src/merge/index.js'
import {
  BatchRows,
  encodeCommit,
  encodeHead,
  encodeTails,
  RECORD_COLUMNS,
} from '../../src/merge/repo-rows.js'
import type { RecordWrite, RepoUpdate, WriteResult } from '../../src/merge/types.js'
import { commit, openStore, rev, SPACE_A, SPACE_B, SPACE_C, tempDir } from './helpers.js'

const ALICE = 'did:plc:alice'
const BOB = 'did:plc:bob'

function recs(tag: string, n: number, collection = 'app.bsky.feed.post'): RecordWrite[] {
  return Array.from({ length: n }, (_, i) => ({
    collection,
    rkey: `3k${tag}${String(i).padStart(4, '0')}`,
    cid: `bafy${tag}${i}`,
    value: { text: `${tag} ${i}` },
  }))
}

async function keys(
  store: MergeStore,
  space: string,
  filter: { author?: string; collection?: string } = {},
): Promise<string[]> {
  const out: string[] = []
  let cursor: string | undefined
  do {
    const page = await store.listRecords({ space, ...filter, limit: 100, cursor })
    out.push(...page.records.map((r) => `${r.author}/${r.collection}/${r.rkey}@${r.cid}`))
    cursor = page.cursor
  } while (cursor !== undefined)
  return out
}

describe('merge store lifecycle', () => {
  const dir = tempDir()
  let store: MergeStore
  let db: string
  const batches: BatchStats[] = []
  let revCounter = 100
  const next = (space: string, author: string) => commit(space, author, ++revCounter)

  /** Raw row count (all versions, hidden or not) of a space or author, straight from the table. */
  const rawRows = async (where: string, params: Record<string, string>): Promise<number> => {
    const [r] = await store.clickhouse.query<{ n: number | string }>(
      `SELECT count() AS n FROM ${db}.records WHERE ${where}`,
      params,
    )
    return Number(r?.n)
  }

  beforeAll(async () => {
    store = await openStore(dir.path, {
      database: 'lifecycle',
      maxDelayMs: 20,
      observer: { batch: (s) => batches.push(s) },
    })
    db = store.clickhouse.target.database
  })
  afterAll(async () => {
    await store.close()
    dir.remove()
  })

  test('a deleted and re-created space starts empty and never resurrects old rows', async () => {
    const space = `${SPACE_A}-epochs`
    expect((await store.upsertSpace(space)).epoch).toBe(1)
    await store.replaceRepo({ ...next(space, ALICE), records: recs('a', 30) })
    await store.replaceRepo({ ...next(space, BOB), records: recs('b', 20) })
    expect(
      await store.setAccessSnapshot(space, {
        policy: { $type: 'p' },
        appAccess: { $type: 'open' },
        members: [ALICE],
      }),
    ).toBe(true)
    expect(await store.countRecords(space)).toBe(50)

    const tomb = await store.deleteSpace(space)
    expect(tomb).toMatchObject({ space, epoch: 1, status: 'deleted' })
    expect(await store.getSpace(space)).toMatchObject({ epoch: 1, status: 'deleted' })
    expect(await keys(store, space)).toEqual([])
    expect(await store.countRecords(space)).toBe(0)
    expect(await store.getRecord(space, ALICE, 'app.bsky.feed.post', '3ka0000')).toBeNull()
    expect(await store.getRepoState(space, ALICE)).toBeNull()
    expect(await store.getAccessSnapshot(space)).toBeNull()
    expect(await rawRows('space = {space:String}', { space })).toBe(0) // purged, not just hidden

    // Writes for a deleted space are refused; deleting again is harmless.
    const late = await store.applyRepoUpdate({
      ...next(space, ALICE),
      since: null,
      upserts: recs('late', 1),
      deletes: [],
    })
    expect(late.outcome).toBe('space_inactive')
    expect(await store.deleteSpace(space)).toMatchObject({ epoch: 1, status: 'deleted' })

    // A stale writer that slipped rows of the old epoch in after the purge: they stay invisible.
    const stale = encodeHead(space, 1, ALICE, 99, rev(999), new Date())
    const ghost = new BatchRows()
    ghost.push(stale, encodeTails([], recs('ghost', 1)))
    ghost.push(
      stale,
      encodeCommit({ ltStateHex: '', commitHashHex: '', generation: 1, status: 'active', reason: '' }),
    )
    await store.clickhouse.insertRowBinary(`${db}.records`, RECORD_COLUMNS, ghost.chunks(), ghost.rows)

    const reborn = await store.upsertSpace(space)
    expect(reborn).toMatchObject({ epoch: 2, status: 'active' })
    expect(await store.upsertSpace(space)).toMatchObject({ epoch: 2 }) // idempotent
    expect(await keys(store, space)).toEqual([])
    expect(await store.getRepoState(space, ALICE)).toBeNull()
    expect(await store.getAccessSnapshot(space)).toBeNull()
    // The re-created space fills from scratch; only new data shows.
    await store.replaceRepo({ ...next(space, ALICE), records: recs('new', 3) })
    expect(await keys(store, space)).toEqual(
      recs('new', 3).map((r) => `${ALICE}/${r.collection}/${r.rkey}@${r.cid}`),
    )
    expect((await store.getRepoState(space, ALICE))?.epoch).toBe(2)
  })

  test('deactivation and takedown hide an author in every space; reactivation shows them again', async () => {
    const [s1, s2] = [`${SPACE_B}-hide`, `${SPACE_C}-hide`]
    const carol = 'did:plc:carol'
    const dave = 'did:plc:dave'
    for (const s of [s1, s2]) await store.upsertSpace(s)
    await Promise.all([
      store.replaceRepo({ ...next(s1, carol), records: recs('c1', 12) }),
      store.replaceRepo({ ...next(s2, carol), records: recs('c2', 7) }),
      store.replaceRepo({ ...next(s1, dave), records: recs('d1', 5) }),
    ])
    const full1 = await keys(store, s1)
    const full2 = await keys(store, s2)
    expect(full1).toHaveLength(17)

    let t = Date.UTC(2030, 0, 1)
    for (const status of ['deactivated', 'takendown', 'suspended'] as const) {
      t += 1000
      await store.setAccountStatus(carol, status, new Date(t + 10))
      expect(await keys(store, s1)).toEqual(full1.filter((k) => k.startsWith(dave)))
      expect(await keys(store, s2)).toEqual([])
      expect(await keys(store, s1, { author: carol })).toEqual([])
      expect(await store.countRecords(s1)).toBe(5)
      expect(await store.getRecord(s1, carol, 'app.bsky.feed.post', '3kc10000')).toBeNull()
      expect(await store.getRepoState(s1, carol)).toMatchObject({ hidden: true, accountStatus: status })
      expect((await store.listRepoStates(s1, { author: carol, limit: 1 })).repos).toMatchObject([
        { hidden: true, accountStatus: status },
      ])
      expect(await rawRows('author = {a:String}', { a: carol })).toBe(21) // 19 records + 2 commits, kept

      // A late event older than the hide does not undo it.
      await store.setAccountStatus(carol, 'active', new Date(t))
      expect(await store.countRecords(s2)).toBe(0)

      await store.setAccountStatus(carol, 'active', new Date(t + 20))
      expect(await keys(store, s1)).toEqual(full1)
      expect(await keys(store, s2)).toEqual(full2)
      expect(await store.getRepoState(s1, carol)).toMatchObject({ hidden: false, accountStatus: 'active' })
      expect((await store.listRepoStates(s1, { author: carol, limit: 1 })).repos).toMatchObject([
        { hidden: false, accountStatus: 'active' },
      ])
    }
  })

  test('a deleted account is purged everywhere; a replayed old deletion cannot purge a live account', async () => {
    const s1 = `${SPACE_A}-gone`
    const erin = 'did:plc:erin'
    const frank = 'did:plc:frank'
    await store.upsertSpace(s1)
    await store.replaceRepo({ ...next(s1, erin), records: recs('e', 4) })
    await store.replaceRepo({ ...next(s1, frank), records: recs('f', 4) })
    const t = Date.UTC(2031, 0, 1)

    await store.setAccountStatus(frank, 'active', new Date(t + 50))
    await store.setAccountStatus(frank, 'deleted', new Date(t)) // older than the active event
    expect(await store.countRecords(s1, { author: frank })).toBe(4)

    await store.setAccountStatus(erin, 'deleted', new Date(t))
    expect(await rawRows('author = {a:String}', { a: erin })).toBe(0)
    expect(await store.getRepoState(s1, erin)).toBeNull()
    await store.setAccountStatus(erin, 'active', new Date(t + 1))
    expect(await store.countRecords(s1)).toBe(4)
  })

  test('replaying a batch, or any older write, changes nothing', async () => {
    const space = `${SPACE_B}-replay`
    await store.upsertSpace(space)
    const first = next(space, ALICE)
    const u1: RepoUpdate = { ...first, since: null, upserts: recs('r', 10), deletes: [] }
    const u2: RepoUpdate = {
      ...next(space, ALICE),
      since: first.rev,
      upserts: recs('s', 3),
      deletes: [{ collection: 'app.bsky.feed.post', rkey: '3kr0001' }],
    }
    const snap = { ...next(space, BOB), records: recs('t', 6) }
    const ops = (): Promise<WriteResult>[] => [
      store.applyRepoUpdate(u1),
      store.applyRepoUpdate(u2),
      store.replaceRepo(snap),
      store.setRepoStatus(space, BOB, 'failed', 'host timed out'),
    ]
    const applied = await Promise.all(ops())
    expect(applied.map((r) => r.outcome)).toEqual(['applied', 'applied', 'applied', 'applied'])
    const view = await keys(store, space)
    const states = await Promise.all([store.getRepoState(space, ALICE), store.getRepoState(space, BOB)])
    const rows = await rawRows('space = {space:String}', { space })

    const replayed = await Promise.all(ops())
    expect(replayed.map((r) => r.outcome)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged'])
    expect(replayed.map((r) => r.version)).toEqual([2, 2, 2, 2])
    // And an older write alone, after newer ones: still nothing.
    expect((await store.applyRepoUpdate(u1)).outcome).toBe('unchanged')
    expect(await keys(store, space)).toEqual(view)
    expect(await Promise.all([store.getRepoState(space, ALICE), store.getRepoState(space, BOB)])).toEqual(
      states,
    )
    expect(await rawRows('space = {space:String}', { space })).toBe(rows) // not even duplicate rows
  })

  test('a batch is inserted as one part (atomic for concurrent readers)', async () => {
    const space = `${SPACE_C}-parts`
    await store.upsertSpace(space)
    await store.clickhouse.command(`SYSTEM STOP MERGES ${db}.records`)
    try {
      // 9009 rows (under the batch limit of 10000) and ~14 MB: more than one 8 MB insert chunk and than the
      // engine's default insert block, so a split would show.
      const authors = Array.from({ length: 9 }, (_, i) => `did:plc:part${i}`)
      const big = 'y'.repeat(1500)
      const results = await Promise.all(
        authors.map((a) =>
          store.replaceRepo({
            ...next(space, a),
            records: recs(a.slice(-5), 1000).map((r) => ({ ...r, value: { big } })),
          }),
        ),
      )
      expect(new Set(results.map((r) => r.outcome))).toEqual(new Set(['applied']))
      const [r] = await store.clickhouse.query<{ parts: number | string; n: number | string }>(
        `SELECT uniqExact(_part) AS parts, count() AS n FROM ${db}.records WHERE space = {space:String}`,
        { space },
      )
      expect({ parts: Number(r?.parts), n: Number(r?.n) }).toEqual({ parts: 1, n: 9 * 1001 })
    } finally {
      await store.clickhouse.command(`SYSTEM START MERGES ${db}.records`)
    }
  })

  test('writes are batched by size and by time', async () => {
    const space = `${SPACE_A}-batching`
    await store.upsertSpace(space)
    batches.length = 0
    const authors = Array.from({ length: 40 }, (_, i) => `did:plc:batch${i}`)
    const t0 = performance.now()
    const results = await Promise.all(
      authors.map((a) =>
        store.applyRepoUpdate({ ...next(space, a), since: null, upserts: recs('x', 2), deletes: [] }),
      ),
    )
    expect(results.every((r) => r.outcome === 'applied')).toBe(true)
    // 40 writes issued together share one insert, written after the batch delay.
    expect(batches.map((b) => b.ops)).toEqual([40])
    expect(batches[0]).toMatchObject({ rows: 40 * 3, outcomes: { applied: 40 } })
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15)

    // Size: with room for 10 rows per batch, a batch of 3-row writes holds 3 of them and is written at
    // once; the remainder waits for the (long) delay unless flushed.
    const small = await openStore(dir.path, {
      database: 'lifecycle',
      maxRows: 10,
      maxDelayMs: 10_000,
      migrate: false,
      observer: { batch: (s) => batches.push(s) },
    })
    try {
      batches.length = 0
      const t1 = performance.now()
      const pending = authors.slice(0, 9).map((a, i) =>
        small.applyRepoUpdate({
          ...next(space, a),
          since: results[i]!.rev,
          upserts: recs('y', 2),
          deletes: [],
        }),
      )
      await Promise.all(pending.slice(0, 6))
      expect(performance.now() - t1).toBeLessThan(5000)
      expect(batches.map((b) => b.ops)).toEqual([3, 3])
      await small.flush()
      expect((await Promise.all(pending)).every((r) => r.outcome === 'applied')).toBe(true)
      expect(batches.map((b) => b.ops)).toEqual([3, 3, 3])
    } finally {
      await small.close()
    }
  })

  test('a batch of more repos than one lookup holds sees every stored commit', async () => {
    const space = `${SPACE_B}-wide`
    await store.upsertSpace(space)
    const authors = Array.from({ length: 2100 }, (_, i) => `did:plc:wide${i}`)
    const first = await Promise.all(
      authors.map((a) =>
        store.applyRepoUpdate({ ...next(space, a), since: null, upserts: recs('w', 1), deletes: [] }),
      ),
    )
    // Every chained update must find its repo's commit, whichever lookup chunk it fell into.
    const second = await Promise.all(
      authors.map((a, i) =>
        store.applyRepoUpdate({
          ...next(space, a),
          since: first[i]!.rev,
          upserts: [],
          deletes: recs('w', 1),
        }),
      ),
    )
    expect(new Set(second.map((r) => `${r.outcome}/${r.version}`))).toEqual(new Set(['applied/2']))
    expect(await store.countRecords(space)).toBe(0)
  })

  test('a write that cannot be encoded fails alone, not its batch', async () => {
    const space = `${SPACE_C}-badvalue`
    await store.upsertSpace(space)
    const good = store.applyRepoUpdate({
      ...next(space, ALICE),
      since: null,
      upserts: recs('g', 2),
      deletes: [],
    })
    const bad = store.applyRepoUpdate({
      ...next(space, BOB),
      since: null,
      upserts: [{ collection: 'a.b.c', rkey: 'x', cid: 'bafy', value: { n: 1n } }],
      deletes: [],
    })
    await expect(bad).rejects.toMatchObject({ reason: 'invalid_input' })
    expect((await good).outcome).toBe('applied')
    expect(await store.getRepoState(space, BOB)).toBeNull()
    expect(await store.countRecords(space)).toBe(2)
  })

  test('cursors are stable while records change; reverse; limits', async () => {
    const space = `${SPACE_B}-cursor`
    await store.upsertSpace(space)
    const first = next(space, ALICE)
    await store.applyRepoUpdate({ ...first, since: null, upserts: recs('m', 30), deletes: [] })
    const page1 = await store.listRecords({ space, limit: 10 })
    expect(page1.records.map((r) => r.rkey)).toEqual(recs('m', 10).map((r) => r.rkey))
    expect(page1.cursor).toBeDefined()

    // Between pages: a record sorting before the cursor, one after it, and a deletion after it.
    await store.applyRepoUpdate({
      ...next(space, ALICE),
      since: first.rev,
      upserts: [
        { collection: 'app.bsky.feed.post', rkey: '3km0003a', cid: 'bafyearly', value: {} },
        { collection: 'app.bsky.feed.post', rkey: '3km0020a', cid: 'bafylate', value: {} },
      ],
      deletes: [{ collection: 'app.bsky.feed.post', rkey: '3km0025' }],
    })
    const rest: string[] = []
    let cursor = page1.cursor
    while (cursor !== undefined) {
      const page = await store.listRecords({ space, limit: 10, cursor })
      rest.push(...page.records.map((r) => r.rkey))
      cursor = page.cursor
    }
    const expected = recs('m', 30)
      .slice(10)
      .map((r) => r.rkey)
      .filter((k) => k !== '3km0025')
    expected.splice(expected.indexOf('3km0020') + 1, 0, '3km0020a')
    expect(rest).toEqual(expected) // nothing repeated, nothing skipped, the early insert not revisited

    const forward = await keys(store, space)
    const backward: string[] = []
    cursor = undefined
    do {
      const page = await store.listRecords({ space, limit: 7, reverse: true, cursor })
      backward.push(...page.records.map((r) => `${r.author}/${r.collection}/${r.rkey}@${r.cid}`))
      cursor = page.cursor
    } while (cursor !== undefined)
    expect(backward).toEqual([...forward].reverse())

    await expect(store.listRecords({ space, limit: 0 })).rejects.toMatchObject({ reason: 'invalid_input' })
    await expect(store.listRecords({ space, limit: 1001 })).rejects.toMatchObject({ reason: 'invalid_input' })
    await expect(store.listRecords({ space, cursor: 'not-a-cursor' })).rejects.toMatchObject({
      reason: 'bad_cursor',
    })
    expect((await store.listRecords({ space: 'at://did:plc:nobody/space/x.y.z/none' })).records).toEqual([])
  })

  test('record values round-trip in the JSON data model', async () => {
    const space = `${SPACE_C}-values`
    await store.upsertSpace(space)
    const value = {
      $type: 'com.example.thing',
      text: 'tab\there, newline\nthere, backslash \\ quote " unicode ✓ 🦋 \u0000 nul',
      blob: {
        $type: 'blob',
        ref: { $link: 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy' },
        mimeType: 'image/png',
        size: 1234,
      },
      bytes: { $bytes: 'AAECAwQ' },
      nested: [1, -2, 3.5, true, null, { deep: ['x'] }],
    }
    await store.applyRepoUpdate({
      ...next(space, ALICE),
      since: null,
      upserts: [{ collection: 'com.example.thing', rkey: 'self', cid: 'bafyvalue', value }],
      deletes: [],
    })
    const got = await store.getRecord(space, ALICE, 'com.example.thing', 'self')
    expect(got).toMatchObject({ uri: `${space}/${ALICE}/com.example.thing/self`, cid: 'bafyvalue', value })
  })

  test('repo status and conflicting updates', async () => {
    const space = `${SPACE_A}-status`
    await store.upsertSpace(space)
    const base = next(space, ALICE)
    await store.replaceRepo({ ...base, records: recs('z', 3) })
    const failed = await store.setRepoStatus(space, ALICE, 'failed', 'commit signature invalid')
    expect(failed.outcome).toBe('applied')
    expect(await store.getRepoState(space, ALICE)).toMatchObject({
      status: 'failed',
      reason: 'commit signature invalid',
      rev: base.rev,
    })
    expect(await store.countRecords(space)).toBe(3) // the last verified records stay readable

    const conflict = await store.applyRepoUpdate({
      ...next(space, ALICE),
      since: rev(1),
      upserts: recs('q', 1),
      deletes: [],
    })
    expect(conflict).toMatchObject({ outcome: 'conflict', rev: base.rev })
    const ok = await store.applyRepoUpdate({
      ...next(space, ALICE),
      since: base.rev,
      upserts: recs('q', 1),
      deletes: [],
    })
    expect(ok.outcome).toBe('applied')
    const state = await store.getRepoState(space, ALICE)
    expect(state).toMatchObject({ status: 'active', reason: '', rev: ok.rev, generation: 1 })
    expect(state?.ltState).toEqual(commit(space, ALICE, revCounter).ltState)
    expect(state?.commitHash).toEqual(commit(space, ALICE, revCounter).commitHash)

    // A status for a repo never written is kept (the crawler's failure to fetch it).
    expect((await store.setRepoStatus(space, BOB, 'failed', 'RepoNotFound')).outcome).toBe('applied')
    expect(await store.getRepoState(space, BOB)).toMatchObject({ rev: null, ltState: null, status: 'failed' })
  })

  test('access snapshots per space epoch', async () => {
    const space = `${SPACE_B}-acl`
    expect(await store.setAccessSnapshot(space, { policy: {}, appAccess: {}, members: null })).toBe(false)
    await store.upsertSpace(space)
    const policy = { $type: 'com.atproto.simplespace.defs#memberListPolicy' }
    const appAccess = { $type: 'com.atproto.simplespace.defs#open' }
    expect(await store.setAccessSnapshot(space, { policy, appAccess, members: null }, new Date(1000))).toBe(
      true,
    )
    expect(await store.isMember(space, ALICE)).toBeNull()
    await store.setAccessSnapshot(
      space,
      { policy, appAccess, members: [ALICE, "did:web:o'neil.example"] },
      new Date(2000),
    )
    expect(await store.getAccessSnapshot(space)).toEqual({
      policy,
      appAccess,
      members: [ALICE, "did:web:o'neil.example"],
      fetchedAt: new Date(2000).toISOString(),
    })
    expect(await store.isMember(space, "did:web:o'neil.example")).toBe(true)
    expect(await store.isMember(space, BOB)).toBe(false)
    // An older snapshot arriving late does not replace the newer one.
    await store.setAccessSnapshot(space, { policy, appAccess, members: [] }, new Date(1500))
    expect(await store.isMember(space, ALICE)).toBe(true)
  })

  test('spaces and repo states are listed in pages', async () => {
    const base = `${SPACE_C}-list`
    const names = ['a', 'b', 'c', 'd'].map((x) => `${base}-${x}`)
    for (const n of names) await store.upsertSpace(n)
    await store.deleteSpace(names[2]!)
    const seen: string[] = []
    let cursor: string | undefined = `${base}-`
    do {
      const page = await store.listSpaces({ cursor, limit: 2 })
      if (page.spaces.length === 2) expect(page.cursor).toBe(page.spaces[1]!.space)
      seen.push(...page.spaces.map((s) => s.space))
      cursor = page.cursor
    } while (cursor !== undefined)
    expect(seen.filter((s) => s.startsWith(base))).toEqual([names[0], names[1], names[3]])

    const space = names[0]!
    const authors = ['did:plc:l1', 'did:plc:l2', 'did:plc:l3', 'did:plc:l4', 'did:plc:l5']
    await Promise.all(authors.map((a) => store.replaceRepo({ ...next(space, a), records: recs('l', 2) })))
    await store.setAccountStatus('did:plc:l4', 'takendown', new Date(Date.UTC(2032, 0, 1)))
    const states = []
    let rc: string | undefined
    do {
      const page = await store.listRepoStates(space, { limit: 2, cursor: rc })
      states.push(...page.repos)
      rc = page.cursor
    } while (rc !== undefined)
    expect(states.map((s) => [s.author, s.hidden, s.generation])).toEqual(
      authors.map((a) => [a, a === 'did:plc:l4', 1]),
    )
    expect(
      (await store.listRepoStates(space, { author: 'did:plc:l2', limit: 10 })).repos.map((s) => s.author),
    ).toEqual(['did:plc:l2'])
    await expect(store.listRepoStates(space, { limit: 2, cursor: 'garbage' })).rejects.toMatchObject({
      reason: 'bad_cursor',
    })
  })

  test('migrations are recorded once; bad input and closed stores are refused', async () => {
    expect(await store.migrate()).toEqual([])
    const rows = await store.clickhouse.query<{ version: number | string }>(
      `SELECT version FROM ${db}.schema_migrations FINAL ORDER BY version`,
    )
    expect(rows.map((r) => Number(r.version))).toEqual([1, 2])
    // Migration 2 changed a setting of the existing records table: its parts stay compact at any size.
    const [records] = await store.clickhouse.query<{ engine_full: string }>(
      `SELECT engine_full FROM system.tables WHERE database = '${db}' AND name = 'records'`,
    )
    expect(records?.engine_full).toContain('min_bytes_for_wide_part = 1099511627776')

    const c = commit(`${SPACE_A}-status`, ALICE, 1)
    const bad = (patch: Partial<RepoUpdate>): Promise<WriteResult> =>
      store.applyRepoUpdate({ ...c, since: null, upserts: [], deletes: [], ...patch })
    await expect(bad({ ltState: new Uint8Array(10) })).rejects.toThrow(/2048-byte/)
    await expect(bad({ commitHash: new Uint8Array(31) })).rejects.toThrow(/32-byte/)
    await expect(bad({ space: 'did:plc:x' })).rejects.toThrow(MergeError)
    await expect(
      bad({ upserts: recs('d', 1), deletes: [{ collection: 'app.bsky.feed.post', rkey: '3kd0000' }] }),
    ).rejects.toThrow(/appears twice/)
    await expect(
      store.applyRepoUpdate({
        ...next(`${SPACE_A}-status`, 'did:plc:fresh'),
        since: null,
        upserts: [{ collection: 'a.b.c', rkey: 'x', cid: 'bafy', value: undefined }],
        deletes: [],
      }),
    ).rejects.toThrow(/no JSON value/)

    const other = await openStore(dir.path, { database: 'lifecycle', migrate: false })
    await other.close()
    await expect(other.listRecords({ space: SPACE_A })).rejects.toMatchObject({ reason: 'closed' })
    await expect(
      other.applyRepoUpdate({ ...c, since: null, upserts: [], deletes: [] }),
    ).rejects.toMatchObject({ reason: 'closed' })
  })
})
