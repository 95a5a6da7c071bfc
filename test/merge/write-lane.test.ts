// The store's write lane reads on the writer connection (clickhouse.ts queryOnWriter): a write that needs a
// lookup (a repo status change reads the stored LtHash state, a space upsert reads the space's row) finishes
// while slow reads hold every read connection, instead of queueing behind them. Embedded engine.
import { afterAll, beforeAll, expect, test } from '@jest/globals'
import type { MergeStore } from '../../src/merge/index.js'
import { commit, openStore, SPACE_A, SPACE_B, tempDir } from './helpers.js'

const ALICE = 'did:plc:alice'

let dir: ReturnType<typeof tempDir>
let store: MergeStore

beforeAll(async () => {
  dir = tempDir()
  store = await openStore(dir.path)
})

afterAll(async () => {
  await store.close()
  dir.remove()
})

test('writes that read do not wait behind slow reads on the read connections', async () => {
  await store.upsertSpace(SPACE_A)
  await store.replaceRepo({
    ...commit(SPACE_A, ALICE, 1),
    records: [{ collection: 'app.bsky.feed.post', rkey: '3kaaa', cid: 'bafya', value: { text: 'a' } }],
  })

  // One slow read per read connection (two), ~5 s each: ten blocks of one row, half a second per block.
  const slow = 'SELECT sleepEachRow(0.5) FROM numbers(10) SETTINGS max_block_size = 1, max_threads = 1'
  let readsDone = false
  const reads = Promise.all([store.clickhouse.query(slow), store.clickhouse.query(slow)]).then(() => {
    readsDone = true
  })
  await new Promise((r) => setTimeout(r, 200)) // both reads are running

  // A status change copies the stored LtHash state: it looks the commit up first.
  expect((await store.setRepoStatus(SPACE_A, ALICE, 'failed', 'bad_signature')).outcome).toBe('applied')
  // A new space: the upsert reads the space's lifecycle row first.
  expect((await store.upsertSpace(SPACE_B)).created).toBe(true)
  expect(readsDone).toBe(false)

  await reads
  expect((await store.getRepoState(SPACE_A, ALICE))?.status).toBe('failed')
}, 30_000)
