// Space upserts and access snapshots are grouped like repo writes (a bootstrap of many spaces shares a few
// inserts): each group is one insert, hence one part, and every caller still gets its own answer — epochs
// per URI, idempotence, a deleted space re-created in a fresh epoch, snapshots refused for inactive spaces,
// the newest snapshot of a space winning within a group.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import type { MergeStore } from '../../src/merge/index.js'
import { openStore, tempDir } from './helpers.js'

const dir = tempDir()
let store: MergeStore
let db: string

const space = (i: number): string => `at://did:plc:authority${i}/space/com.example.forum/main`

/** Active parts of `table`: one per insert until background merges combine them. */
async function parts(table: string): Promise<number> {
  const [row] = await store.clickhouse.query<{ n: number | string }>(
    `SELECT count() AS n FROM system.parts WHERE active AND database = '${db}' AND table = '${table}'`,
  )
  return Number(row?.n)
}

beforeAll(async () => {
  db = `groups_${process.pid}`
  // Space groups do not wait on an idle store: the calls a test makes in one tick form one group.
  store = await openStore(dir.path, { database: db, maxRows: 1000 })
  await store.clickhouse.command(`SYSTEM STOP MERGES ${db}.spaces`)
  await store.clickhouse.command(`SYSTEM STOP MERGES ${db}.space_acl`)
})

afterAll(async () => {
  await store.close()
  dir.remove()
})

describe('grouped space writes', () => {
  test('concurrent upserts share one insert; each caller gets its space, duplicates the same epoch', async () => {
    const before = await parts('spaces')
    const calls = [...Array.from({ length: 200 }, (_, i) => space(i)), space(7)]
    const pending = calls.map((s) => store.upsertSpace(s))
    await store.flush()
    const infos = await Promise.all(pending)
    expect(infos.map((i) => i.space)).toEqual(calls)
    expect(infos.every((i) => i.epoch === 1 && i.status === 'active')).toBe(true)
    expect(await parts('spaces')).toBe(before + 1)
    // Idempotent: a second round changes nothing and inserts nothing.
    const again = calls.map((s) => store.upsertSpace(s))
    await store.flush()
    expect((await Promise.all(again)).map((i) => i.epoch)).toEqual(calls.map(() => 1))
    expect(await parts('spaces')).toBe(before + 1)
    expect((await store.listSpaces({ limit: 1000 })).spaces).toHaveLength(200)
  })

  test('a deleted space comes back in a new epoch, next to spaces that are unchanged', async () => {
    await store.deleteSpace(space(3))
    const pending = [store.upsertSpace(space(3)), store.upsertSpace(space(4)), store.upsertSpace(space(3))]
    await store.flush()
    const [reborn, kept, twice] = await Promise.all(pending)
    expect(reborn).toMatchObject({ space: space(3), epoch: 2, status: 'active' })
    expect(twice).toEqual(reborn)
    expect(kept).toMatchObject({ space: space(4), epoch: 1 })
    expect(await store.getSpace(space(3))).toMatchObject({ epoch: 2, status: 'active' })
  })

  test('snapshots of many spaces share one insert; an inactive space is refused alone', async () => {
    await store.deleteSpace(space(5))
    const before = await parts('space_acl')
    const snap = (i: number) => ({
      policy: { mode: 'members', i },
      appAccess: { all: true },
      members: [`did:plc:m${i}`],
    })
    const targets = [space(0), space(1), space(5), space(2), 'at://did:plc:unknown/space/com.example.forum/x']
    const pending = targets.map((s, i) => store.setAccessSnapshot(s, snap(i)))
    await store.flush()
    expect(await Promise.all(pending)).toEqual([true, true, false, true, false])
    expect(await parts('space_acl')).toBe(before + 1)
    expect(await store.getAccessSnapshot(space(1))).toMatchObject({ policy: { mode: 'members', i: 1 } })
    expect(await store.isMember(space(2), 'did:plc:m3')).toBe(true)
    expect(await store.getAccessSnapshot(space(5))).toBeNull()
  })

  test('of two snapshots of one space in a group the newest wins, the later call on a tie', async () => {
    const t = new Date('2026-01-01T00:00:00Z')
    const earlier = new Date(t.getTime() - 1000)
    const pending = [
      store.setAccessSnapshot(space(10), { policy: 'new', appAccess: null, members: null }, t),
      store.setAccessSnapshot(space(10), { policy: 'old', appAccess: null, members: null }, earlier),
      store.setAccessSnapshot(space(11), { policy: 'first', appAccess: null, members: null }, t),
      store.setAccessSnapshot(space(11), { policy: 'second', appAccess: null, members: null }, t),
    ]
    await store.flush()
    expect(await Promise.all(pending)).toEqual([true, true, true, true])
    expect((await store.getAccessSnapshot(space(10)))?.policy).toBe('new')
    expect((await store.getAccessSnapshot(space(11)))?.policy).toBe('second')
  })

  test('a bad snapshot is refused to its caller before it joins a group', async () => {
    const good = store.setAccessSnapshot(space(12), { policy: 1, appAccess: 2, members: null })
    await expect(
      store.setAccessSnapshot(space(13), { policy: 1, appAccess: 2, members: [42 as unknown as string] }),
    ).rejects.toMatchObject({ reason: 'invalid_input' })
    await store.flush()
    expect(await good).toBe(true)
  })
})
