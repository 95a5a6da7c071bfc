import fc from 'fast-check'
import { CarBufferReader } from '@ipld/car'
import { encode as dagCborEncode } from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { CarFrameReader } from '../../src/protocol/car-frames.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import { sha256Bytes } from '../../src/protocol/record-codec.js'
import { toHex } from '../../src/protocol/bytes.js'

const MB = 1 << 20

function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  return [...out, n]
}

const cat = (...parts: (Uint8Array | number[])[]) => Uint8Array.from(parts.flatMap((p) => [...p]))

function cidOf(bytes: Uint8Array, version: 0 | 1 = 1): CID {
  const digest = Digest.create(0x12, sha256Bytes(bytes))
  return version === 0 ? CID.createV0(digest) : CID.createV1(0x71, digest)
}

function header(roots: CID[], version = 1): Uint8Array {
  const h = dagCborEncode({ version, roots })
  return cat(varint(h.length), h)
}

function section(cid: Uint8Array, block: Uint8Array): Uint8Array {
  return cat(varint(cid.length + block.length), cid, block)
}

const blocks = [
  new Uint8Array([1, 2, 3]),
  new Uint8Array(300).fill(7),
  new Uint8Array(0),
  new Uint8Array([9]),
]
const cids = blocks.map((b, i) => cidOf(b, i === 1 ? 0 : 1))
const car = cat(header(cids.slice(0, 2)), ...blocks.map((b, i) => section(cids[i]!.bytes, b)))

async function* chunks(bytes: Uint8Array, sizes: number[] = [bytes.length || 1]): AsyncGenerator<Uint8Array> {
  let at = 0
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!)
    yield bytes.subarray(at, at + size)
    at += size
  }
}

async function readAll(source: AsyncIterable<Uint8Array>, maxBytes = 100 * MB, maxBlock = MB) {
  const r = new CarFrameReader(source, maxBytes)
  const { roots } = await r.header(MB)
  const out: { cid: string; block: Uint8Array }[] = []
  while (await r.next(maxBlock)) out.push({ cid: toHex(r.cid()), block: r.block() })
  return { roots: roots.map((c) => toHex(c.bytes)), sections: out }
}

async function reason(
  source: AsyncIterable<Uint8Array>,
  maxBytes = 100 * MB,
  maxBlock = MB,
): Promise<string> {
  try {
    await readAll(source, maxBytes, maxBlock)
    return 'ok'
  } catch (err) {
    if (err instanceof ProtocolError) return err.reason
    throw err
  }
}

describe('CarFrameReader', () => {
  it('reads what @ipld/car reads, for any chunking (CIDv0 and v1, empty block)', async () => {
    const expected = [...CarBufferReader.fromBytes(car).blocks()].map((b) => ({
      cid: toHex(b.cid.bytes),
      block: toHex(b.bytes),
    }))
    expect(expected).toHaveLength(4)
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 8 }),
        async (sizes) => {
          const got = await readAll(chunks(car, sizes))
          expect(got.roots).toEqual(cids.slice(0, 2).map((c) => toHex(c.bytes)))
          expect(got.sections.map((s) => ({ cid: s.cid, block: toHex(s.block) }))).toEqual(expected)
        },
      ),
      { numRuns: 100 },
    )
  })

  it('accepts empty chunks, and hands out views that later reads never overwrite', async () => {
    async function* withEmpties() {
      for await (const c of chunks(car, [5])) {
        yield new Uint8Array(0)
        yield c
      }
    }
    const got = await readAll(withEmpties())
    expect(got.sections.map((s) => toHex(s.block))).toEqual(blocks.map(toHex))
  })

  it('compares the current CID in place', async () => {
    const r = new CarFrameReader(chunks(car), MB)
    await r.header(MB)
    expect(await r.next(MB)).toBe(true)
    const padded = cat([0xee, 0xee], cids[0]!.bytes, [0xee])
    expect(r.cidEquals(padded, 2, cids[0]!.bytes.length)).toBe(true)
    expect(r.cidEquals(padded, 1, cids[0]!.bytes.length)).toBe(false)
    expect(r.cidEquals(cids[0]!.bytes)).toBe(true)
    expect(r.cidEquals(cids[2]!.bytes)).toBe(false)
  })

  it('rejects bad headers', async () => {
    expect(await reason(chunks(new Uint8Array(0)))).toBe('car_truncated')
    expect(await reason(chunks(header(cids, 2)))).toBe('bad_car_header')
    const notCbor = cat(varint(3), [0xff, 0xff, 0xff])
    expect(await reason(chunks(notCbor))).toBe('bad_car_header')
    expect(await reason(chunks(header(cids).subarray(0, 10)))).toBe('car_truncated')
    const short = dagCborEncode({ version: 1, roots: cids.slice(0, 1) })
    const nonMinimal = cat([short.length | 0x80, 0x00], short)
    expect(await reason(chunks(nonMinimal))).toBe('bad_car_header')
    const r = new CarFrameReader(chunks(header(cids)), MB)
    await expect(r.header(8)).rejects.toMatchObject({ reason: 'car_too_large' })
  })

  it('rejects malformed sections', async () => {
    const h = header(cids.slice(0, 1))
    const cid = cids[0]!.bytes
    const cases: [string, Uint8Array][] = [
      ['zero-length section', cat(h, [0x00])],
      ['non-minimal length', cat(h, [0x84, 0x00], cid.subarray(0, 4))],
      ['over-long varint', cat(h, Array(10).fill(0xff), [0x01])],
      ['section shorter than its CID', cat(h, varint(10), cid)],
      ['CID version 2', cat(h, varint(40), [0x02, 0x71, 0x12, 0x20], new Uint8Array(36))],
      [
        'CID with a non-minimal field',
        cat(h, varint(41), [0x01, 0xf1, 0x00, 0x12, 0x20], new Uint8Array(36)),
      ],
    ]
    for (const [name, bytes] of cases)
      expect([name, await reason(chunks(bytes, [3]))]).toEqual([name, 'malformed_car'])
  })

  it('rejects truncation anywhere, as car_truncated', async () => {
    const headerLength = header(cids.slice(0, 2)).length
    for (let len = headerLength + 1; len < car.length; len++) {
      const cut = car.subarray(0, len)
      const got = await reason(chunks(cut, [7]))
      // Cutting exactly between sections is a clean (shorter) CAR.
      const between = [...Array(blocks.length).keys()].some(
        (i) =>
          headerLength +
            blocks.slice(0, i + 1).reduce((n, b, j) => n + section(cids[j]!.bytes, b).length, 0) ===
          len,
      )
      expect([len, got]).toEqual([len, between ? 'ok' : 'car_truncated'])
    }
  })

  it('rejects a block over the cap from its length prefix, before buffering it', async () => {
    const big = cat(header(cids.slice(0, 1)), varint(36 + 10 * MB), cids[0]!.bytes, new Uint8Array(100))
    async function* thenFail() {
      yield big
      throw new Error('read past the length prefix')
    }
    expect(await reason(thenFail(), 100 * MB, MB)).toBe('car_too_large')
  })

  it('enforces the total byte cap as chunks arrive', async () => {
    expect(await reason(chunks(car, [16]), car.length - 1)).toBe('car_too_large')
    expect(await reason(chunks(car, [16]), car.length)).toBe('ok')
  })

  it('passes errors from the source through untouched', async () => {
    const boom = new Error('connection reset')
    async function* failing() {
      yield car.subarray(0, 50)
      throw boom
    }
    await expect(readAll(failing())).rejects.toBe(boom)
  })
})
