/**
 * Backfill at the crawler issue's size: 100 spaces × 10 writers × 100 records (100 000 records) through the
 * production composition (API role owning the embedded store, workers in process), against devnet and real
 * Redis. The merged view must equal devnet's ground truth exactly: same URIs, CIDs and values, no extra and
 * no missing record, in every space.
 *
 * SPACEVIEW_SCALE_SPACES / _WRITERS / _RECORDS override the shape (e.g. for a larger soak run).
 */
import { isDeepStrictEqual } from 'node:util'
import { mergedView, truth, waitFor } from '../helpers/crawler-harness.js'
import { crawlSpaces, startServiceHarness, type ServiceHarness } from '../helpers/service-harness.js'

const size = (name: string, dflt: number) => Number(process.env[`SPACEVIEW_SCALE_${name}`] ?? dflt)
const SPACES = size('SPACES', 100)
const WRITERS = size('WRITERS', 10)
const RECORDS = size('RECORDS', 100)
const TIMEOUT_MS = Number(process.env.SPACEVIEW_SCALE_TIMEOUT_MS ?? 170_000)

describe(`backfill of ${SPACES} spaces × ${WRITERS} writers × ${RECORDS} records`, () => {
  let h: ServiceHarness
  let spaces: string[]

  beforeAll(async () => {
    h = await startServiceHarness({
      redisDb: 4,
      devnet: { spaces: SPACES, writersPerSpace: WRITERS, records: RECORDS, hosts: 4 },
    })
  }, 60_000)
  afterAll(async () => h?.close(), 60_000)

  it(
    'merges exactly the ground truth',
    async () => {
      const started = Date.now()
      spaces = await crawlSpaces(h)
      expect(spaces).toHaveLength(SPACES)
      const expected = spaces.reduce((n, s) => n + h.devnet.groundTruth(s).length, 0)
      expect(expected).toBe(SPACES * WRITERS * RECORDS)
      const count = async () => {
        let n = 0
        for (const s of spaces) n += await h.store.countRecords(s)
        return n
      }
      // Counted every 3 s (one query per space, kept out of the crawler's way); the full comparison runs
      // once the count says the backfill is done.
      await waitFor('every record merged', async () => (await count()) >= expected, TIMEOUT_MS, 3000)
      const backfillSec = (Date.now() - started) / 1000
      // Each space's view once: exactly the ground truth (URIs, CIDs, values), every record once.
      let merged = 0
      for (const space of spaces) {
        const view = await mergedView(h.store, space)
        expect(new Set(view.map((r) => r.uri)).size).toBe(view.length)
        expect(isDeepStrictEqual(view, truth(h.devnet, space))).toBe(true)
        merged += view.length
      }
      expect(merged).toBe(expected)
      console.log(`backfill: ${expected} records in ${backfillSec.toFixed(1)} s`)
    },
    TIMEOUT_MS + 60_000,
  )
})
