import {
  crawlAllSpaces,
  converged,
  mergedView,
  startHarness,
  truth,
  waitFor,
  type Harness,
} from '../helpers/crawler-harness.js'

describe('crawler against devnet (real Redis, real chdb)', () => {
  let h: Harness
  let spaces: string[]

  beforeAll(async () => {
    h = await startHarness({ redisDb: 3, devnet: { spaces: 4, writersPerSpace: 3, records: 15, hosts: 2 } })
    spaces = await crawlAllSpaces(h)
  }, 60_000)
  afterAll(async () => h?.close())

  it('backfills every space to exactly the ground truth', async () => {
    await waitFor('backfill', () => converged(h, spaces))
    for (const space of spaces) {
      const view = await mergedView(h.store, space)
      expect(view.length).toBe(truth(h.devnet, space).length)
      expect(view.length).toBeGreaterThan(0)
    }
  }, 90_000)
})
