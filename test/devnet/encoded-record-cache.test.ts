/**
 * The encoded-record cache: it holds exactly what encoding the history gives, stays within its byte budget
 * (LRU by repo, whole repos evicted, budget 0 = nothing kept), and devnet serves the same getRepo content
 * with it as without it, before and after writes change a cached repo (the overlay wins).
 */
import { CarBlockIterator } from '@ipld/car'
import type { Account } from '../../src/devnet/accounts.js'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import {
  DEFAULT_ENCODED_RECORD_CACHE_BYTES,
  EncodedRecordCache,
  estimateRecordBytes,
} from '../../src/devnet/encoded-record-cache.js'
import { DEFAULT_SHAPE, GeneratedHistory } from '../../src/devnet/record-generator.js'
import { openRepoCar } from '../../src/protocol/repo-car.js'
import { chunks, credentialFor, xrpc, type Auth } from './helpers.js'

const history = (n: number, records = 20) =>
  new GeneratedHistory('cache', n, 1, { ...DEFAULT_SHAPE, records }, 1_700_000_000_000_000 + n * 1000)

/** What one history costs in the cache. */
function cost(h: GeneratedHistory): number {
  let bytes = 0
  for (let i = 0; i < h.recordCount; i++) bytes += estimateRecordBytes(h.record(i).bytes.length)
  return bytes
}

test('cached records are the encoded history: bytes, CIDs, values, revs, in index and CAR order', () => {
  const h = history(0, 60)
  const { byIndex, byPath } = new EncodedRecordCache().records(h)
  expect(byIndex).toHaveLength(60)
  byIndex.forEach((r, i) => {
    const fresh = h.record(i)
    expect(r.path).toBe(`${fresh.collection}/${fresh.rkey}`)
    expect(Buffer.from(r.bytes).equals(Buffer.from(fresh.bytes))).toBe(true)
    expect(r.cid).toBe(fresh.cid)
    expect(r.cidObject.toString()).toBe(fresh.cid)
    expect(r.value).toEqual(fresh.value)
    expect(r.rev).toBe(h.lastWriteRev(i))
  })
  const carOrder = [...byIndex].sort((a, b) => {
    const [x, y] = [Buffer.from(a.path), Buffer.from(b.path)]
    return x.length - y.length || Buffer.compare(x, y)
  })
  expect(byPath.map((r) => r.path)).toEqual(carOrder.map((r) => r.path))
})

test('stays within its byte budget: least recently used repos are evicted whole', () => {
  const repos = Array.from({ length: 40 }, (_, n) => history(n))
  const budget = Math.floor(cost(repos[0]!) * 3.5)
  const cache = new EncodedRecordCache(budget)
  for (const h of repos) {
    cache.records(h)
    expect(cache.bytes).toBeLessThanOrEqual(budget)
    expect(cache.size).toBeLessThanOrEqual(3)
  }
  // The last three remain; touching the oldest of them keeps it when the next repo comes in.
  expect(cache.size).toBe(3)
  expect(cache.peek(repos[36]!)).toBeUndefined()
  expect(cache.peek(repos[37]!)).toBeDefined()
  cache.records(history(100))
  expect(cache.peek(repos[37]!)).toBeDefined()
  expect(cache.peek(repos[38]!)).toBeUndefined()
  expect(cache.bytes).toBeLessThanOrEqual(budget)
})

test('a repo larger than the budget, or any repo under budget 0, is served but not kept', () => {
  const big = history(1, 200)
  const small = new EncodedRecordCache(cost(big) - 1)
  expect(small.records(big).byIndex).toHaveLength(200)
  expect(small.size).toBe(0)
  const off = new EncodedRecordCache(0)
  expect(off.records(history(2)).byIndex).toHaveLength(20)
  expect([off.size, off.bytes]).toEqual([0, 0])
  expect(() => new EncodedRecordCache(-1)).toThrow(RangeError)
})

test('a 10,000-space x 10-writer x 10-record network stays within the default budget', () => {
  // One million records; encoding them all is slow, so each repo's cost is taken from a stand-in of the
  // same shape (costs differ by a few bytes between repos) and the budget scaled down with the count.
  const perRepo = cost(history(0, 10))
  const repos = 100_000
  expect(perRepo * repos).toBeGreaterThan(DEFAULT_ENCODED_RECORD_CACHE_BYTES)
  const scaled = Math.floor(DEFAULT_ENCODED_RECORD_CACHE_BYTES / 100)
  const cache = new EncodedRecordCache(scaled)
  for (let n = 0; n < repos / 100; n++) {
    cache.records(history(n, 10))
    expect(cache.bytes).toBeLessThanOrEqual(scaled)
  }
  expect(cache.size).toBeLessThan(repos / 100)
})

describe('getRepo with and without the cache', () => {
  const seed = 'record-cache'
  const shape = { seed, spaces: 2, writersPerSpace: 2, records: 40, hosts: 2, policy: 'public' as const }
  let cached: Devnet
  let uncached: Devnet
  let space: string
  let writer: Account
  const auths = new Map<Devnet, Auth>()

  beforeAll(async () => {
    cached = await startDevnet(shape)
    uncached = await startDevnet({ ...shape, encodedRecordCacheBytes: 0 })
    await cached.materialize()
    space = cached.spaces()[0]!.uri
    writer = cached.accounts.require(cached.space(space)!.writers[1]!)
    for (const d of [cached, uncached]) auths.set(d, await credentialFor(d, space))
  })
  afterAll(async () => {
    await cached.close()
    await uncached.close()
  })

  /** Every CAR block after the commit (index, then records), as hex, and the index root. */
  async function content(devnet: Devnet): Promise<{ index: string; blocks: string[] }> {
    const res = await xrpc(devnet.hostOf(writer.did).origin, 'com.atproto.space.getRepo', {
      params: { space, repo: writer.did },
      auth: auths.get(devnet),
    })
    expect(res.status).toBe(200)
    const car = await openRepoCar(chunks(res.bytes), {
      space,
      author: writer.did,
      didKey: await devnet.accounts.didKey(writer),
      expectValues: true,
    })
    for await (const _ of car.records()) void _
    expect(Buffer.from(car.head.hash)).toEqual(Buffer.from(devnet.repoHead(space, writer.did)!.hash))
    const iterator = await CarBlockIterator.fromBytes(res.bytes)
    const [, index] = await iterator.getRoots()
    const blocks: string[] = []
    for await (const b of iterator) blocks.push(`${b.cid} ${Buffer.from(b.bytes).toString('hex')}`)
    return { index: String(index), blocks: blocks.slice(1) }
  }

  const write = (devnet: Devnet, nsid: string, body: Record<string, unknown>) =>
    xrpc(devnet.hostOf(writer.did).origin, `com.atproto.space.${nsid}`, {
      body: { space, repo: writer.did, ...body },
      auth: { bearer: writer.accessToken },
    })

  test('identical index and record blocks, before and after writes to a cached repo', async () => {
    expect(cached.encodedRecords.size).toBeGreaterThan(0)
    expect(uncached.encodedRecords.size).toBe(0)
    const before = await content(cached)
    expect(before.blocks).toHaveLength(41)
    expect(await content(uncached)).toEqual(before)

    const [updated, deleted] = cached.groundTruth(space).filter((r) => r.author === writer.did)
    for (const d of [cached, uncached]) {
      const record = { $type: updated!.collection, text: 'rewritten', createdAt: '2025-02-02T00:00:00.000Z' }
      expect(
        (await write(d, 'putRecord', { collection: updated!.collection, rkey: updated!.rkey, record }))
          .status,
      ).toBe(200)
      expect(
        (await write(d, 'deleteRecord', { collection: deleted!.collection, rkey: deleted!.rkey })).status,
      ).toBe(200)
    }
    const after = await content(cached)
    expect(after.index).not.toBe(before.index)
    expect(after.blocks).toHaveLength(40)
    expect(await content(uncached)).toEqual(after)
    const truth = cached.groundTruth(space).filter((r) => r.author === writer.did)
    expect(truth.find((r) => r.rkey === updated!.rkey)?.value['text']).toBe('rewritten')
    expect(truth.some((r) => r.rkey === deleted!.rkey)).toBe(false)
    expect(truth).toEqual(uncached.groundTruth(space).filter((r) => r.author === writer.did))
  })
})
