import fc from 'fast-check'
import { Secp256k1Keypair } from '@atproto/crypto'
import { openRepoCar, type RepoCarOptions, type VerifiedRecord } from '../../src/protocol/repo-car.js'
import { repoCarBytes, type CarRecord } from '../../src/protocol/repo-car-write.js'
import { createSignedCommit } from '../../src/protocol/commit.js'
import { LtHash, pathElement } from '../../src/protocol/lthash.js'
import { fromHex, toHex } from '../../src/protocol/bytes.js'
import { encodeRecordJson } from '../../src/protocol/record-codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { loadVector } from '../vectors.js'

const v = loadVector('repo-car')

async function* chunks(bytes: Uint8Array, size = 97): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

async function verifyAll(bytes: Uint8Array, opts: RepoCarOptions) {
  const car = await openRepoCar(chunks(bytes), opts)
  const records: VerifiedRecord[] = []
  for await (const r of car.records()) records.push(r)
  return { head: car.head, records }
}

async function failure(
  bytes: Uint8Array,
  opts: RepoCarOptions,
): Promise<{ stage: string; reason: string; yielded: number }> {
  let stage = 'header'
  let yielded = 0
  try {
    const car = await openRepoCar(chunks(bytes), opts)
    stage = 'records'
    for await (const _ of car.records()) yielded++
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err
    return { stage, reason: err.reason, yielded }
  }
  return { stage: 'none', reason: 'ok', yielded }
}

/** Maps our reasons onto the vectors' stage names (where a streaming verifier rejects). */
const STAGE_OF: Record<string, string> = {
  bad_car_header: 'header',
  malformed_car: 'header',
  car_truncated: 'records',
  commit_not_first: 'commit',
  malformed_commit: 'commit',
  unsupported_commit_version: 'commit',
  bad_mac: 'commit',
  bad_signature: 'commit',
  index_not_second: 'index',
  malformed_index: 'index',
  index_hash_mismatch: 'index',
  block_cid_mismatch: 'records',
  unexpected_block: 'records',
  missing_records: 'records',
}

describe('getRepo CAR known answers (shared/spec/vectors/repo-car.json)', () => {
  it.each(v.positive.map((p: { name: string }) => [p.name, p]) as [string, any][])(
    'positive %s verifies',
    async (_n, p) => {
      const { head, records } = await verifyAll(fromHex(p.carHex), p.params)
      expect(head.rev).toBe(p.expected.rev)
      expect(toHex(head.hash)).toBe(p.expected.hash)
      expect(Object.fromEntries(head.entries.map((e) => [e.path, e.cid]))).toEqual(p.expected.index)
      if (p.expected.indexOrder) expect(head.entries.map((e) => e.path)).toEqual(p.expected.indexOrder)
      if (p.expected.commitCid) expect(head.commitCid).toBe(p.expected.commitCid)
      expect(records.map((r) => ({ path: r.path, cid: r.cid, record: r.value }))).toEqual(
        p.expected.records.map((r: { path: string; cid: string; record: unknown }) => ({
          path: r.path,
          cid: r.cid,
          record: r.record,
        })),
      )
      expect(records.map((r) => toHex(r.bytes))).toEqual(
        p.expected.records.map((r: { dagCborHex: string }) => r.dagCborHex),
      )
    },
  )

  it.each(v.negative.map((n: { name: string }) => [n.name, n]) as [string, any][])(
    'negative %s is rejected at its stage',
    async (_n, n) => {
      const f = await failure(fromHex(n.carHex), n.params)
      expect(f.reason).not.toBe('ok')
      expect(STAGE_OF[f.reason]).toBe(n.expected.stage)
      expect(f.yielded).toBe(n.expected.recordsYieldedBeforeError)
    },
  )
})

describe('CAR verification properties', () => {
  const full = v.positive.find((p: { name: string }) => p.name === 'full-3-records')
  const bytes = fromHex(full.carHex)

  it('any single flipped bit is rejected', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: bytes.length * 8 - 1 }), async (bit) => {
        const copy = new Uint8Array(bytes)
        copy[bit >> 3]! ^= 1 << (bit & 7)
        const f = await failure(copy, full.params)
        expect(f.reason).not.toBe('ok')
      }),
      { numRuns: 300 },
    )
  })

  it('every truncation is rejected', async () => {
    for (let len = 0; len < bytes.length; len += 7) {
      const f = await failure(bytes.subarray(0, len), full.params)
      expect(f.reason).not.toBe('ok')
    }
  })

  it('enforces the byte cap while streaming', async () => {
    const f = await failure(bytes, { ...full.params, maxBytes: 600 })
    expect(f.reason).toBe('car_too_large')
  })

  it('an appended extra block is rejected', async () => {
    const extra = fromHex(full.carHex + full.carHex.slice(-200))
    const f = await failure(extra, full.params)
    expect(['unexpected_block', 'car_truncated', 'malformed_car']).toContain(f.reason)
  })
})

describe('writeRepoCar round trip', () => {
  const key = fromHex(loadVector('commit').keys.secp256k1.privateKeyHex) // test key from the vectors
  const space = 'at://did:plc:spaceauthorityvectors234/space/com.example.group/main'
  const author = 'did:plc:alicevectorstestauthor23'

  it('writes CARs that verify, including duplicate record bodies', async () => {
    const signer = await Secp256k1Keypair.import(key)
    const records: CarRecord[] = []
    const lt = new LtHash()
    for (let i = 0; i < 50; i++) {
      const { bytes, cid } = encodeRecordJson({ $type: 'com.example.note', text: `note ${i % 10}` })
      const path = `com.example.note${i % 3 === 0 ? 'x' : ''}/r${i}`
      records.push({ path, cid, bytes })
      lt.add(pathElement(path, cid.toString()))
    }
    const commit = await createSignedCommit({
      space,
      author,
      rev: '3lenb7yw2s22b',
      hash: lt.digest(),
      signer,
    })
    const car = await repoCarBytes({ commit, records })
    const out = await verifyAll(car, { space, author, didKey: signer.did(), expectValues: true })
    expect(out.records).toHaveLength(50)
    expect(toHex(out.head.state)).toBe(toHex(lt.state()))
    const indexOnly = await repoCarBytes({ commit, records, excludeValues: true })
    expect(
      (await verifyAll(indexOnly, { space, author, didKey: signer.did(), expectValues: false })).records,
    ).toHaveLength(0)
  })
})
