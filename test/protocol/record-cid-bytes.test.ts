import fc from 'fast-check'
import { base32 } from 'multiformats/bases/base32'
import {
  cidBytesToString,
  cidForBlock,
  isRecordCidBytes,
  recordCidMatches,
} from '../../src/protocol/record-codec.js'

describe('record CIDs in byte form', () => {
  it('cidBytesToString is multibase base32, for any bytes and any window', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(10), fc.nat(10), (bytes, pre, post) => {
        const padded = Uint8Array.from([
          ...new Uint8Array(pre).fill(0xaa),
          ...bytes,
          ...new Uint8Array(post).fill(0x55),
        ])
        expect(cidBytesToString(padded, pre, bytes.length)).toBe(base32.encode(bytes))
      }),
      { numRuns: 300 },
    )
    const cid = cidForBlock(new Uint8Array([1, 2, 3]))
    expect(cidBytesToString(cid.bytes)).toBe(cid.toString())
  })

  it('recordCidMatches checks the CID form and the digest, at an offset', () => {
    const block = new Uint8Array([0xa1, 0x61, 0x61, 0x01])
    const cid = cidForBlock(block).bytes
    const inside = Uint8Array.from([9, 9, ...cid, 9])
    expect(isRecordCidBytes(cid)).toBe(true)
    expect(recordCidMatches(cid, block)).toBe(true)
    expect(recordCidMatches(inside, block, 2)).toBe(true)
    expect(recordCidMatches(inside, block, 1)).toBe(false)
    expect(recordCidMatches(cid, block.subarray(1))).toBe(false)
    for (let i = 0; i < cid.length; i++) {
      const flipped = Uint8Array.from(cid)
      flipped[i]! ^= 1
      expect(recordCidMatches(flipped, block)).toBe(false)
    }
    expect(recordCidMatches(cid.subarray(0, 35), block)).toBe(false)
  })
})
