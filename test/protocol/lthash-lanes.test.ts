import fc from 'fast-check'
import { LtHash, expandElement } from '../../src/protocol/lthash.js'
import { toHex } from '../../src/protocol/bytes.js'

/** Lane-by-lane reference for the word-wise (SWAR) arithmetic in LtHash. */
function reference(ops: { add: boolean; element: string }[]): Uint8Array {
  const lanes = new Uint16Array(1024)
  for (const o of ops) {
    const e = new Uint16Array(expandElement(o.element).buffer)
    for (let i = 0; i < 1024; i++) lanes[i] = o.add ? lanes[i]! + e[i]! : lanes[i]! - e[i]!
  }
  return new Uint8Array(lanes.buffer)
}

describe('LtHash lane arithmetic', () => {
  it('add and remove match per-lane arithmetic mod 2^16, including carries and borrows at every lane', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ add: fc.boolean(), element: fc.string({ maxLength: 30 }) }), { maxLength: 12 }),
        (ops) => {
          const h = new LtHash()
          for (const o of ops) h[o.add ? 'add' : 'remove'](o.element)
          expect(toHex(h.state())).toBe(toHex(reference(ops)))
        },
      ),
      { numRuns: 150 },
    )
  })

  it('wraps from a state of all 0xffff and all 0x0000 lanes', () => {
    for (const fill of [0xff, 0x00, 0x80, 0x7f]) {
      const start = new Uint8Array(2048).fill(fill)
      const e = new Uint16Array(expandElement('x').buffer)
      const added = new Uint16Array(start.slice().buffer).map((v, i) => v + e[i]!)
      const removed = new Uint16Array(start.slice().buffer).map((v, i) => v - e[i]!)
      expect(toHex(new LtHash(start).add('x').state())).toBe(toHex(new Uint8Array(added.buffer)))
      expect(toHex(new LtHash(start).remove('x').state())).toBe(toHex(new Uint8Array(removed.buffer)))
    }
  })
})
