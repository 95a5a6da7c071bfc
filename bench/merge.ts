/**
 * Merge-store benchmark on the embedded engine (chdb): insert throughput through the real write path
 * (validate, encode, batch, compare-and-set, one atomic insert per batch) and listRecords latency on the
 * resulting table, with the baselines measured in the same run:
 * - insert: the same repo writes flushed one by one (a batch per write) instead of grouped;
 * - reads: the default FINAL strategy against the LIMIT 1 BY alternative, on the same queries.
 *
 * Data: spaces of 50 authors × 200 records (3 collections, ~300-byte post-like values), written as each
 * repo's first full fetch (replaceRepo), then an incremental round that updates and deletes ~10% of the
 * records, so reads have superseded versions and tombstones spread over several parts, as in production.
 * The incremental round syncs like the crawler (getRepoState, then a write on top of it, many repos at
 * once), so it also shows how long a state read waits while batches are being inserted.
 *
 * Usage: npx tsx bench/merge.ts [--records N] [--samples N] [--batch-rows N] [--dir PATH] [--keep]
 *        (or `npm run build && node dist/bench/merge.js …`). Default 1,000,000 records.
 * Prints progress lines while loading, a summary, and as the LAST line one JSON object with the figures.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_BATCH, MergeStore, type BatchStats, type ReadStrategy } from '../src/merge/index.js'
import { encodeCursor } from '../src/merge/cursor.js'
import type { ListRecordsQuery, RecordWrite, WriteResult } from '../src/merge/types.js'
import { benchArgs } from './bench-args.js'

const USAGE = `
npm run bench:merge -- [flags]    merge-store insert rate and listRecords latency on the embedded engine

  --records <n>      records to load (default 1000000, at least 10000)
  --samples <n>      listRecords queries per strategy (default 1000)
  --batch-rows <n>   rows per insert batch (default the store's own)
  --dir <path>       data directory (default a temporary one)
  --keep             keep the data directory afterwards
  --help             this text

Targets: >= 200,000 records/s insert; listRecords p99 < 10 ms at 1M records. The last line printed is one
JSON object.
`
const args = benchArgs(USAGE, {
  records: { type: 'string', default: '1000000' },
  samples: { type: 'string', default: '1000' },
  'batch-rows': { type: 'string', default: String(DEFAULT_BATCH.maxRows) },
  dir: { type: 'string' },
  keep: { type: 'boolean', default: false },
})
const TOTAL = Number(args.records)
const SAMPLES = Number(args.samples)
const BATCH = { ...DEFAULT_BATCH, maxRows: Number(args['batch-rows']) }
if (!Number.isInteger(TOTAL) || TOTAL < 10_000) throw new Error('--records must be an integer >= 10000')
if (!Number.isInteger(SAMPLES) || SAMPLES < 10) throw new Error('--samples must be an integer >= 10')

const AUTHORS_PER_SPACE = 50
const RECORDS_PER_REPO = 200
const SPACES = Math.ceil(TOTAL / (AUTHORS_PER_SPACE * RECORDS_PER_REPO))
/** Repos synced concurrently in the incremental round (the crawler runs many repo jobs at once). */
const SYNC_IN_FLIGHT = 128
const COLLECTIONS = ['app.bsky.feed.post', 'app.bsky.feed.like', 'com.example.forum.thread']

const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'spaceview-bench-merge-'))
const mb = (n: number): number => Math.round(n / 1048576)
let peakRss = 0
const sampleRss = (): number => {
  const rss = process.memoryUsage().rss
  peakRss = Math.max(peakRss, rss)
  return rss
}
const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

// Deterministic PRNG (mulberry32) so runs are comparable.
let seed = 42
function rnd(): number {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (n: number): number => Math.floor(rnd() * n)

const spaceUri = (s: number): string =>
  `at://did:plc:${s.toString(36).padStart(24, 'a')}/space/com.example.forum/${s.toString(36)}`
const authorDid = (s: number, a: number): string =>
  `did:plc:${(s * AUTHORS_PER_SPACE + a).toString(36).padStart(24, 'b')}`
const rkeyOf = (i: number): string => `3l${i.toString(32).padStart(11, '0')}`
const collectionOf = (i: number): string => COLLECTIONS[i % COLLECTIONS.length]!

const WORDS =
  'the space members wrote about permissioned data sync merge view records crawl verify commit hash'.split(
    ' ',
  )
const VALUES = Array.from({ length: 997 }, (_, i) => {
  const text = Array.from({ length: 12 + (i % 25) }, () => WORDS[int(WORDS.length)]).join(' ')
  return {
    $type: 'app.bsky.feed.post',
    text,
    createdAt: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString(),
    langs: ['en'],
    ...(i % 3 === 0
      ? {
          reply: {
            root: {
              uri: `at://did:plc:x/app.bsky.feed.post/3l${i}`,
              cid: 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a',
            },
            parent: {
              uri: `at://did:plc:y/app.bsky.feed.post/3l${i}`,
              cid: 'bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a',
            },
          },
        }
      : {}),
  }
})
const LT = new Uint8Array(2048).map((_, i) => i & 0xff)
const HASH = new Uint8Array(32).map((_, i) => (i * 7) & 0xff)
const commitOf = (space: string, author: string, rev: string) => ({
  space,
  author,
  rev,
  ltState: LT,
  commitHash: HASH,
})

function repoRecords(s: number, a: number, count: number, v: number): RecordWrite[] {
  return Array.from({ length: count }, (_, i) => ({
    collection: collectionOf(i),
    rkey: rkeyOf(i),
    cid: `bafyreib${s}x${a}x${i}v${v}`,
    value: VALUES[(s * 31 + a * 7 + i + v) % VALUES.length],
  }))
}

const percentile = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}
const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d

async function main(): Promise<void> {
  const loadStart = loadavg()
  const batches: BatchStats[] = []
  const config = (readStrategy: ReadStrategy, batch = BATCH) => ({
    clickhouse: { transport: 'embedded' as const, path: dir, database: 'bench' },
    batch,
    readStrategy,
    // Reads are measured against the engine: the exact view cache (view-cache.ts) would answer the
    // repeated queries of this bench from memory.
    viewCacheBytes: 0,
  })
  const store = await MergeStore.open(config('final'), { observer: { batch: (b) => batches.push(b) } })
  log(
    `merge bench: ${TOTAL} records = ${SPACES} spaces × ${AUTHORS_PER_SPACE} authors × ${RECORDS_PER_REPO} records; data in ${dir}`,
  )

  // ---- load: every repo's first full fetch, issued in waves of one batch; two waves in flight so the
  // JSON encoding of the next batch overlaps the insert of the current one.
  const repos: Array<{ s: number; a: number }> = []
  for (let s = 0; s < SPACES; s++) for (let a = 0; a < AUTHORS_PER_SPACE; a++) repos.push({ s, a })
  const repoCount = Math.ceil(TOTAL / RECORDS_PER_REPO)
  const perWave = Math.max(1, Math.floor(BATCH.maxRows / (RECORDS_PER_REPO + 1)))
  await Promise.all(Array.from({ length: SPACES }, (_, s) => store.upsertSpace(spaceUri(s))))
  const cpu0 = process.cpuUsage()
  const js0 = process.threadCpuUsage()
  const t0 = performance.now()
  let lastLog = t0
  let loaded = 0
  const waves: Promise<WriteResult[]>[] = []
  for (let i = 0; i < repoCount; i += perWave) {
    if (waves.length >= 2) await waves.shift()
    const wave = repos.slice(i, Math.min(i + perWave, repoCount)).map(({ s, a }) =>
      store.replaceRepo({
        ...commitOf(spaceUri(s), authorDid(s, a), rkeyOf(1)),
        records: repoRecords(s, a, RECORDS_PER_REPO, 1),
      }),
    )
    const p = Promise.all(wave)
    void p.then(() => (loaded += wave.length * RECORDS_PER_REPO))
    waves.push(p)
    const now = performance.now()
    if (now - lastLog > 2000) {
      lastLog = now
      log(
        `  loading: ${loaded}/${repoCount * RECORDS_PER_REPO} records, ${Math.round(loaded / ((now - t0) / 1000))} rec/s, RSS ${mb(sampleRss())} MB`,
      )
    }
  }
  await Promise.all(waves)
  const loadSec = (performance.now() - t0) / 1000
  // CPU of the whole process (JS and the engine's threads, background merges included): a figure that does
  // not depend on how busy the rest of the machine is.
  const loadCpu = process.cpuUsage(cpu0)
  const loadCpuSec = (loadCpu.user + loadCpu.system) / 1e6
  // Of it, the JS thread's (validation, encoding, batching); the rest is the engine's threads.
  const loadJs = process.threadCpuUsage(js0)
  const loadJsSec = (loadJs.user + loadJs.system) / 1e6
  const loadedRecords = repoCount * RECORDS_PER_REPO
  const insertRate = loadedRecords / loadSec
  const loadBatches = batches.length
  log(
    `  loaded ${loadedRecords} records in ${round(loadSec)} s: ${Math.round(insertRate)} rec/s in ${loadBatches} batches, RSS ${mb(sampleRss())} MB`,
  )

  // ---- incremental round, the way the crawler syncs a repo: read its stored state, then write on top of
  // it (15 upserts + 5 deletes, ~10% of the records), SYNC_IN_FLIGHT repos at a time. getRepoState latency
  // here includes any wait behind the batch inserts that run at the same time.
  batches.length = 0
  const t1 = performance.now()
  const cpu1 = process.cpuUsage()
  const stateLat: number[] = []
  let nextRepo = 0
  const syncRepos = async (): Promise<void> => {
    while (nextRepo < repoCount) {
      const { s, a } = repos[nextRepo++]!
      const t = performance.now()
      const state = await store.getRepoState(spaceUri(s), authorDid(s, a))
      stateLat.push(performance.now() - t)
      const upserts = repoRecords(s, a, 15, 2).map((w, k) => ({ ...w, rkey: rkeyOf(k * 13) }))
      const deletes = Array.from({ length: 5 }, (_, k) => ({
        collection: collectionOf(k * 13 + 1),
        rkey: rkeyOf(k * 13 + 1),
      }))
      const result = await store.applyRepoUpdate({
        ...commitOf(spaceUri(s), authorDid(s, a), rkeyOf(2)),
        since: state?.rev ?? null,
        upserts,
        deletes,
      })
      if (result.outcome !== 'applied') throw new Error(`incremental round: update ${result.outcome}`)
    }
  }
  await Promise.all(Array.from({ length: SYNC_IN_FLIGHT }, syncRepos))
  const updateSec = (performance.now() - t1) / 1000
  const updateCpu = process.cpuUsage(cpu1)
  const updateRows = batches.reduce((n, b) => n + b.rows, 0)
  log(
    `  incremental round: ${repoCount} read-then-write syncs, ${updateRows} rows in ${round(updateSec)} s ` +
      `(${Math.round(updateRows / updateSec)} rows/s); getRepoState p50 ${round(percentile(stateLat, 0.5))} ms ` +
      `p99 ${round(percentile(stateLat, 0.99))} ms`,
  )

  // ---- insert baseline: the same kind of writes with batching off (one insert per repo write).
  const single = await MergeStore.open(config('final', { maxRows: 1, maxDelayMs: 1, minPeriodMs: 0 }), {
    migrate: false,
  })
  const baseSpace = spaceUri(SPACES + 1)
  await single.upsertSpace(baseSpace)
  const t2 = performance.now()
  let baseRecords = 0
  for (let a = 0; a < 100 && performance.now() - t2 < 15_000; a++) {
    await single.replaceRepo({
      ...commitOf(baseSpace, authorDid(SPACES + 1, a), rkeyOf(1)),
      records: repoRecords(SPACES + 1, a, 20, 1),
    })
    baseRecords += 20
  }
  const baselineRate = baseRecords / ((performance.now() - t2) / 1000)
  await single.close()
  log(`  baseline (one insert per repo write of 20 records): ${Math.round(baselineRate)} rec/s`)

  // ---- reads, once background merges have settled (bounded wait), as a steady-state server would see.
  const settleStart = performance.now()
  while (performance.now() - settleStart < 120_000) {
    const [m] = await store.clickhouse.query<{ n: number | string }>('SELECT count() AS n FROM system.merges')
    if (Number(m?.n) === 0) break
    await new Promise((r) => setTimeout(r, 1000))
  }
  const settledSec = (performance.now() - settleStart) / 1000
  const [parts] = await store.clickhouse.query<{ n: number | string }>(
    "SELECT count() AS n FROM system.parts WHERE active AND database = 'bench' AND table = 'records'",
  )
  log(`  merges settled after ${round(settledSec, 1)} s; ${Number(parts?.n)} active parts`)
  // The same random listRecords queries under both strategies, interleaved.
  const alt = await MergeStore.open(config('limit-by'), { migrate: false })
  const queries: ListRecordsQuery[] = Array.from({ length: SAMPLES }, () => {
    const s = int(SPACES)
    const mode = int(4)
    const q: ListRecordsQuery = { space: spaceUri(s), limit: 50 }
    const author = authorDid(s, int(AUTHORS_PER_SPACE))
    const collection = COLLECTIONS[int(COLLECTIONS.length)]!
    if (mode === 1 || mode === 3) q.collection = collection
    if (mode === 2 || mode === 3) q.author = author
    if (rnd() < 0.5) q.cursor = encodeCursor({ collection, author, rkey: rkeyOf(int(RECORDS_PER_REPO)) })
    if (rnd() < 0.2) q.reverse = true
    return q
  })
  const lat: Record<ReadStrategy, number[]> = { final: [], 'limit-by': [] }
  const readers: Record<ReadStrategy, MergeStore> = { final: store, 'limit-by': alt }
  let rows = 0
  for (const q of queries.slice(0, 50)) {
    await store.listRecords(q)
    await alt.listRecords(q)
  }
  const readCpu0 = process.cpuUsage()
  for (let i = 0; i < queries.length; i++) {
    const order: ReadStrategy[] = i % 2 === 0 ? ['final', 'limit-by'] : ['limit-by', 'final']
    for (const strategy of order) {
      const t = performance.now()
      const page = await readers[strategy].listRecords(queries[i]!)
      lat[strategy].push(performance.now() - t)
      if (strategy === 'final') rows += page.records.length
    }
  }
  const readCpu = process.cpuUsage(readCpu0)
  const readCpuMsPerQuery = (readCpu.user + readCpu.system) / 1000 / (2 * queries.length)
  await alt.close()
  // The engine's per-query floor on this machine, for reading the figures above.
  const floorLat: number[] = []
  for (let i = 0; i < 200; i++) {
    const t = performance.now()
    await store.clickhouse.query('SELECT 1')
    floorLat.push(performance.now() - t)
  }
  const getLat: number[] = []
  for (let i = 0; i < Math.min(SAMPLES, 500); i++) {
    const s = int(SPACES)
    const k = int(RECORDS_PER_REPO)
    const t = performance.now()
    await store.getRecord(spaceUri(s), authorDid(s, int(AUTHORS_PER_SPACE)), collectionOf(k), rkeyOf(k))
    getLat.push(performance.now() - t)
  }
  const countLat: number[] = []
  for (let i = 0; i < 50; i++) {
    const t = performance.now()
    await store.countRecords(spaceUri(int(SPACES)))
    countLat.push(performance.now() - t)
  }
  const rssEnd = sampleRss()
  await store.close()

  const reads = {
    final: { p50: round(percentile(lat.final, 0.5)), p99: round(percentile(lat.final, 0.99)) },
    limitBy: { p50: round(percentile(lat['limit-by'], 0.5)), p99: round(percentile(lat['limit-by'], 0.99)) },
  }
  const result = {
    bench: 'merge',
    engine: 'embedded (chdb)',
    records: loadedRecords,
    spaces: SPACES,
    repos: repoCount,
    insert: {
      recordsPerSec: Math.round(insertRate),
      seconds: round(loadSec),
      batches: loadBatches,
      baselineOneInsertPerWriteRecordsPerSec: Math.round(baselineRate),
      ratioVsBaseline: round(insertRate / baselineRate, 1),
      cpuSeconds: round(loadCpuSec, 1),
      jsThreadSeconds: round(loadJsSec, 1),
      recordsPerCpuSecond: Math.round(loadedRecords / loadCpuSec),
    },
    incremental: {
      syncs: repoCount,
      inFlight: SYNC_IN_FLIGHT,
      rows: updateRows,
      rowsPerSec: Math.round(updateRows / updateSec),
      batches: batches.length,
      cpuSeconds: round((updateCpu.user + updateCpu.system) / 1e6, 1),
      getRepoStateMs: { p50: round(percentile(stateLat, 0.5)), p99: round(percentile(stateLat, 0.99)) },
    },
    listRecords: {
      samples: SAMPLES,
      activeParts: Number(parts?.n),
      cpuMsPerQuery: round(readCpuMsPerQuery),
      avgRows: round(rows / SAMPLES, 1),
      finalMs: reads.final,
      limitByMs: reads.limitBy,
      p50RatioLimitByOverFinal: round(reads.limitBy.p50 / reads.final.p50),
      p99RatioLimitByOverFinal: round(reads.limitBy.p99 / reads.final.p99),
    },
    getRecordMs: { p50: round(percentile(getLat, 0.5)), p99: round(percentile(getLat, 0.99)) },
    select1FloorMs: { p50: round(percentile(floorLat, 0.5)), p99: round(percentile(floorLat, 0.99)) },
    countRecordsMs: {
      p50: round(percentile(countLat, 0.5)),
      recordsPerSpace: AUTHORS_PER_SPACE * RECORDS_PER_REPO,
    },
    rssMb: { peak: mb(peakRss), end: mb(rssEnd) },
    loadAvg1m: { start: round(loadStart[0]!), end: round(loadavg()[0]!) },
    targets: { insertRecordsPerSec: 200_000, listRecordsP99Ms: 10 },
  }
  log(
    `insert ${result.insert.recordsPerSec} rec/s (${result.insert.ratioVsBaseline}× one-insert-per-write); ` +
      `listRecords FINAL p50 ${reads.final.p50} ms p99 ${reads.final.p99} ms vs LIMIT 1 BY p50 ${reads.limitBy.p50} ms ` +
      `p99 ${reads.limitBy.p99} ms; peak RSS ${result.rssMb.peak} MB`,
  )
  if (!args.keep && args.dir === undefined) rmSync(dir, { recursive: true, force: true })
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

await main()
