/**
 * The seeded generator: same seed → same network (DIDs, keys, records, CIDs, hashes), a different seed →
 * a different one; history layout; policy mix; the indexer is admitted to every space through the real
 * HTTP credential flow; generated repos verify with the protocol core.
 */
import { generateDpopKey } from '../../src/protocol/dpop.js'
import { openRepoCar } from '../../src/protocol/repo-car.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { encodeRecordJson } from '../../src/protocol/record-codec.js'
import { encodeFast, encodeIfPlain } from '../../src/devnet/fast-cbor.js'
import { GeneratedHistory } from '../../src/devnet/record-generator.js'
import { chunks, xrpc } from './helpers.js'

const SHAPE = { spaces: 8, writersPerSpace: 3, records: 15, hosts: 3 }

let devnet: Devnet
beforeAll(async () => {
  devnet = await startDevnet({ seed: 'gen-a', ...SHAPE })
})
afterAll(() => devnet.close())

function fingerprint(d: Devnet): string[] {
  return d.spaces().flatMap((s) => [
    s.uri,
    JSON.stringify(s.policy),
    JSON.stringify(s.appAccess).replace(/127\.0\.0\.1:\d+/g, 'ORIGIN'), // client ids carry the (ephemeral) port
    ...s.writers.map(
      (w) => `${w} ${d.repoHead(s.uri, w)!.rev} ${Buffer.from(d.repoHead(s.uri, w)!.hash).toString('hex')}`,
    ),
    ...d.groundTruth(s.uri).map((r) => `${r.uri} ${r.cid}`),
  ])
}

test('same seed, same network; different seed, different network', async () => {
  const same = await startDevnet({ seed: 'gen-a', ...SHAPE })
  const other = await startDevnet({ seed: 'gen-b', ...SHAPE })
  try {
    expect(fingerprint(same)).toEqual(fingerprint(devnet))
    expect(await same.accounts.didKey(same.indexer)).toBe(await devnet.accounts.didKey(devnet.indexer))
    expect(same.clients.indexer.publicJwk).toEqual(devnet.clients.indexer.publicJwk)
    // Nothing identifying is shared (policy objects are, by nature).
    const a = fingerprint(devnet)
    const b = fingerprint(other).filter((x) => !x.startsWith('{'))
    expect(b.filter((x) => a.includes(x))).toEqual([])
  } finally {
    await Promise.all([same.close(), other.close()])
  }
})

test('shape: N spaces × W distinct writers × R current records; authority writes in its own space', () => {
  const spaces = devnet.spaces()
  expect(spaces).toHaveLength(8)
  for (const s of spaces) {
    expect(new Set(s.writers).size).toBe(3)
    expect(s.writers).toContain(s.authority)
    expect(s.members).toContain(devnet.indexer.did)
    for (const w of s.writers) expect(devnet.repo(s.uri, w)!.paths()).toHaveLength(15)
    expect(devnet.groundTruth(s.uri)).toHaveLength(45)
  }
  const policies = new Set(spaces.map((s) => s.policy.$type))
  expect(policies.size).toBeGreaterThan(1)
  expect(new Set(devnet.pool.map((a) => a.host))).toEqual(new Set([0, 1, 2]))
})

test('history layout: creates, ghost creates, updates, ghost deletes; revs ascending in batches', () => {
  const h = new GeneratedHistory(
    'x',
    0,
    0,
    { records: 20, historyEvery: 10, batchSize: 4, blobEvery: 20, duplicateEvery: 25 },
    1_735_689_600_000_000,
  )
  expect(h.opCount).toBe(20 + 2 + 2 + 2)
  const ops = Array.from({ length: h.opCount }, (_, k) => h.op(k))
  expect(ops.map((o) => (o.cid === null ? 'd' : o.prev === null ? 'c' : 'u')).join('')).toBe(
    'c'.repeat(22) + 'uu' + 'dd',
  )
  for (let k = 1; k < ops.length; k++) {
    const [a, b] = [ops[k - 1]!, ops[k]!]
    expect(a.rev < b.rev || (a.rev === b.rev && a.idx < b.idx)).toBe(true)
  }
  expect(ops[3]!.rev).toBe(ops[0]!.rev)
  expect(ops[4]!.rev > ops[3]!.rev).toBe(true)
  expect(h.lastRev).toBe(ops.at(-1)!.rev)
  expect(h.record(9).cid).toBe(ops[22]!.cid) // record 9 is updated, its current cid is the update's
})

test('the indexer obtains a credential for every space over HTTP (attesting where app-gated)', async () => {
  const gated = devnet.spaces().filter((s) => s.appAccess.$type.endsWith('#allowList'))
  expect(gated.length).toBeGreaterThan(0)
  for (const s of devnet.spaces()) {
    const dpopKey = await generateDpopKey()
    const { credential } = await devnet.obtainCredential(s.uri, dpopKey)
    const w = s.writers[0]!
    const res = await xrpc(devnet.hostOf(w).origin, 'com.atproto.space.getRepo', {
      params: { space: s.uri, repo: w },
      auth: { credential, dpopKey },
    })
    const car = await openRepoCar(chunks(res.bytes), {
      space: s.uri,
      author: w,
      didKey: await devnet.accounts.didKey(devnet.accounts.require(w)),
      expectValues: true,
    })
    let n = 0
    for await (const _ of car.records()) n++
    expect(n).toBe(15)
  }
})

test('materialize computes every set hash up front', async () => {
  const result = await devnet.materialize()
  expect(result.repos).toBe(24)
  for (const s of devnet.spaces())
    for (const w of s.writers) expect(devnet.repo(s.uri, w)!.isMaterialized).toBe(true)
})

test('bad shapes are refused with a message naming the flag', async () => {
  await expect(startDevnet({ writersPerSpace: 5, accounts: 3 })).rejects.toThrow(/--accounts/)
  await expect(startDevnet({ records: 0 })).rejects.toThrow(/--records/)
})

test('the fast record encoder agrees with the data-model encoder on generated records', () => {
  const h = new GeneratedHistory(
    'enc',
    3,
    7,
    { records: 120, historyEvery: 10, batchSize: 10, blobEvery: 20, duplicateEvery: 25 },
    1_735_689_600_000_000,
  )
  for (let i = 0; i < h.recordCount; i++) {
    const r = h.record(i)
    const ref = encodeRecordJson(r.value)
    expect([i, Buffer.from(r.bytes).toString('hex'), r.cid]).toEqual([
      i,
      Buffer.from(ref.bytes).toString('hex'),
      ref.cid.toString(),
    ])
  }
  expect(() => encodeFast({ n: -1 })).toThrow(/non-negative/)
  const nonAscii = { $type: 'com.example.devnet.post', text: 'grüße ✓', nested: { b: 1, aa: 'x' } }
  expect(Buffer.from(encodeFast(nonAscii))).toEqual(Buffer.from(encodeRecordJson(nonAscii).bytes))
})

test('the write path encodes plain records fast, identically, and leaves every other shape to the data model', () => {
  const plain = [
    { $type: 'com.example.devnet.post', text: 'driver write 7', createdAt: '2026-11-26T17:00:00.000Z' },
    { $type: 'com.example.devnet.post', n: 3, nested: { aa: 'x', b: 4294967295 } },
    {
      $type: 'com.example.devnet.post',
      ref: { $link: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
    },
  ]
  for (const value of plain) {
    const fast = encodeIfPlain(value)
    const ref = encodeRecordJson(value)
    expect(fast).toEqual({ bytes: ref.bytes, cid: ref.cid.toString() })
  }
  const other: unknown[] = [
    { $type: 'x.y.z', text: 'grüße' }, // non-ASCII: the data model handles it
    { $type: 'x.y.z', flag: true },
    { $type: 'x.y.z', list: ['a'] },
    { $type: 'x.y.z', n: -1 },
    { $type: 'x.y.z', n: 1.5 },
    { $type: 'x.y.z', n: 2 ** 32 },
    { $type: 'x.y.z', none: null },
    { $type: 'x.y.z', data: { $bytes: 'AAAA' } },
    { $type: 'x.y.z', link: { $link: 'not-a-cid' } },
    { $type: 'x.y.z', link: { $link: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm', x: 1 } },
    Object.assign(Object.create({ inherited: 1 }), { $type: 'x.y.z' }),
  ]
  for (const value of other) expect(encodeIfPlain(value)).toBeUndefined()
})
