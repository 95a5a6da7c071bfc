/**
 * `npm run bench:protocol`: throughput of the protocol core's hot paths, each next to a baseline measured
 * in the same run on the same data (bench/baseline-verifier.ts: pure-JS @noble/hashes, whole-CAR reads).
 *   - LtHash elements/s (BLAKE3-XOF 2 KiB expansion + lane add)
 *   - getRepo CAR verification records/s for 1, 1k and 100k-record repos (commit + index + every block,
 *     values decoded to JSON as the crawler stores them)
 * Target: >= 60,000 verified records/s on one core for a 100k-record CAR. Last line: one JSON object.
 * Flags: --records N (largest repo, default 100000), --runs N (best of, default 3).
 */
import { parseArgs } from 'node:util'
import { Secp256k1Keypair } from '@atproto/crypto'
import { LtHash, pathElement } from '../src/protocol/lthash.js'
import { createSignedCommit } from '../src/protocol/commit.js'
import { encodeRecordJson } from '../src/protocol/record-codec.js'
import { repoCarBytes, type CarRecord } from '../src/protocol/repo-car-write.js'
import { openRepoCar } from '../src/protocol/repo-car.js'
import { NobleLtHash, baselineVerify } from './baseline-verifier.js'

const { values } = parseArgs({ options: { records: { type: 'string' }, runs: { type: 'string' } } })
const LARGEST = Number(values.records ?? 100_000)
const RUNS = Number(values.runs ?? 3)
const SPACE = 'at://did:plc:benchauthority0000000000/space/com.example.bench/main'
const AUTHOR = 'did:plc:benchauthor000000000000'

async function best(fn: () => Promise<number> | number): Promise<number> {
  let bestRate = 0
  for (let i = 0; i < RUNS; i++) bestRate = Math.max(bestRate, await fn())
  return bestRate
}

function progress(msg: string) {
  if (process.stderr.isTTY) process.stderr.write(`\r${msg}\x1b[K`)
}

async function buildCar(n: number, signer: Secp256k1Keypair) {
  const records: CarRecord[] = []
  const lt = new LtHash()
  for (let i = 0; i < n; i++) {
    const value = { $type: 'com.example.bench.post', text: `post number ${i} in a benchmark repo`, createdAt: '2026-01-01T00:00:00.000Z', n: i }
    const { bytes, cid } = encodeRecordJson(value)
    const path = `com.example.bench.post/${(1e12 + i).toString(36)}`
    records.push({ path, cid, bytes })
    lt.add(pathElement(path, cid.toString()))
    if (i % 5000 === 0) progress(`building ${n}-record CAR: ${i}/${n}`)
  }
  const commit = await createSignedCommit({ space: SPACE, author: AUTHOR, rev: '3lenb7yw2s22b', hash: lt.digest(), signer })
  progress('')
  return repoCarBytes({ commit, records })
}

async function* chunked(bytes: Uint8Array, size = 64 * 1024) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

async function main() {
  const signer = await Secp256k1Keypair.create() // throwaway bench key
  const ctx = { space: SPACE, author: AUTHOR, didKey: signer.did() }
  const elements = Array.from({ length: 20_000 }, (_, i) => `com.example.bench.post/${i}/bafyreibilyshbhteyuuevswph6fn6usfchb7stpcm62tbvgophx2atj2za`)

  const lthashRate = await best(() => {
    const t = performance.now()
    const h = new LtHash()
    for (const e of elements) h.add(e)
    h.digest()
    return elements.length / ((performance.now() - t) / 1000)
  })
  const baselineLthashRate = await best(() => {
    const t = performance.now()
    const h = new NobleLtHash()
    for (const e of elements.slice(0, 5000)) h.add(e)
    h.digest()
    return 5000 / ((performance.now() - t) / 1000)
  })

  const rows: { size: number; ours: number; baseline: number }[] = []
  for (const size of [1, 1000, LARGEST]) {
    const car = await buildCar(size, signer)
    const ours = await best(async () => {
      const t = performance.now()
      const repo = await openRepoCar(chunked(car), { ...ctx, expectValues: true })
      let n = 0
      for await (const _ of repo.records()) n++
      return n / ((performance.now() - t) / 1000)
    })
    const baseline = await best(async () => {
      const t = performance.now()
      const n = await baselineVerify(car, ctx)
      return n / ((performance.now() - t) / 1000)
    })
    rows.push({ size, ours, baseline })
  }

  const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(12)
  console.log('measure                         spaceview     baseline   ratio')
  console.log(`LtHash elements/s            ${fmt(lthashRate)} ${fmt(baselineLthashRate)}   ${(lthashRate / baselineLthashRate).toFixed(2)}x`)
  for (const r of rows) {
    console.log(`CAR verify records/s (${String(r.size).padStart(6)}) ${fmt(r.ours)} ${fmt(r.baseline)}   ${(r.ours / r.baseline).toFixed(2)}x`)
  }
  const largest = rows[rows.length - 1]!
  console.log(`target: >= 60,000 records/s for a ${LARGEST}-record CAR: ${largest.ours >= 60_000 ? 'met' : 'NOT met'}`)
  console.log(
    JSON.stringify({
      lthash_elements_per_s: Math.round(lthashRate),
      baseline_lthash_elements_per_s: Math.round(baselineLthashRate),
      car_records_per_s: Math.round(largest.ours),
      baseline_car_records_per_s: Math.round(largest.baseline),
      car_records: largest.size,
      car_1k_records_per_s: Math.round(rows[1]!.ours),
      car_1_record_per_s: Math.round(rows[0]!.ours),
      ratio_car: Number((largest.ours / largest.baseline).toFixed(2)),
      rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
    }),
  )
}

await main()
