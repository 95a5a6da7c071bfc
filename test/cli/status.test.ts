import { collectStatus, formatStatus } from '../../src/cli/status.js'
import { crawlAllSpaces, converged, startHarness, waitFor, type Harness } from '../helpers/crawler-harness.js'

describe('spaceview status', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ redisDb: 14, devnet: { spaces: 2, writersPerSpace: 2, records: 5, hosts: 1 } })
  }, 60_000)
  afterAll(async () => h?.close())

  it('reports every space with its writers synced after backfill, and a fresh install as empty', async () => {
    expect(formatStatus(await collectStatus(h.redis, h.store))).toMatch(/no spaces yet/)
    const spaces = await crawlAllSpaces(h)
    await waitFor('backfill', () => converged(h, spaces))
    const rows = await collectStatus(h.redis, h.store)
    expect(rows.map((r) => r.space).sort()).toEqual([...spaces].sort())
    for (const r of rows) {
      expect(r).toMatchObject({ status: 'active', writers: 2, synced: 2, behind: 0, failed: 0, lagSec: 0 })
    }
    expect(formatStatus(rows)).toContain(spaces[0])
  }, 60_000)
})
