import fc from 'fast-check'
import { LtHash, expandElement } from '../../src/protocol/lthash.js'
import { toHex } from '../../src/protocol/bytes.js'
import { loadVector } from '../vectors.js'

const v = loadVector('lthash')

function run(ops: { op: 'add' | 'remove'; element: string }[]): LtHash {
  const h = new LtHash()
  for (const o of ops) h[o.op](o.element)
  return h
}

describe('LtHash known answers (shared/spec/vectors/lthash.json)', () => {
  it('matches the required upstream answers', () => {
    expect(toHex(new LtHash().digest())).toBe(v.requiredKnownAnswers.empty)
    expect(toHex(new LtHash().add('one').add('two').digest())).toBe(v.requiredKnownAnswers['one-two'])
  })

  it.each(v.cases.map((c: { name: string }) => [c.name, c]) as [string, any][])('case %s', (_name, c) => {
    const h = run(c.ops)
    expect(toHex(h.digest())).toBe(c.digest)
    if (c.stateFirst64Hex) expect(toHex(h.state().subarray(0, 64))).toBe(c.stateFirst64Hex)
    if (c.stateHex) expect(toHex(h.state())).toBe(c.stateHex)
    if (c.stateFirst8LanesUint16) {
      const dv = new DataView(h.state().buffer)
      expect([...Array(8).keys()].map((i) => dv.getUint16(i * 2, true))).toEqual(c.stateFirst8LanesUint16)
    }
  })

  it.each(v.expand.map((e: { element: string }) => [e.element, e]) as [string, any][])(
    'BLAKE3 XOF expansion of %j',
    (_el, e) => {
      const out = expandElement(e.element)
      expect(out.length).toBe(2048)
      expect(toHex(out.subarray(0, 32))).toBe(e.blake3Xof2048First32Hex)
      expect(toHex(out.subarray(2016))).toBe(e.blake3Xof2048Last32Hex)
    },
  )

  it('realistic record elements, in order and reversed', () => {
    const h = new LtHash()
    for (const s of v.realistic.steps) expect(toHex(h.add(s.addElement).digest())).toBe(s.digestAfter)
    const r = new LtHash()
    for (const s of [...v.realistic.steps].reverse()) r.add(s.addElement)
    expect(toHex(r.digest())).toBe(v.realistic.digestReverseOrder)
    expect(toHex(h.state().subarray(0, 64))).toBe(v.realistic.stateFirst64Hex)
  })

  it('upstream test CIDs and SPEC appendix A', () => {
    const u = v.upstreamTestCids
    const h = new LtHash().add(u.elements[0])
    expect(toHex(h.digest())).toBe(u.digestFirst)
    expect(toHex(h.add(u.elements[1]).digest())).toBe(u.digestBoth)
    const a = v.specAppendixA
    expect(toHex(expandElement(a.e1).subarray(0, 16))).toBe(a.blake3Xof_e1_first16Hex)
    const s = new LtHash().add(a.e1)
    expect(toHex(s.digest())).toBe(a.digest_e1)
    expect(toHex(s.add(a.e2).digest())).toBe(a.digest_e1_e2)
    expect(toHex(s.remove(a.e2).digest())).toBe(a.digest_e1_e2_remove_e2)
  })
})

describe('LtHash properties', () => {
  const elements = fc.array(fc.string({ maxLength: 40 }), { maxLength: 12 })

  it('is independent of insertion order', () => {
    fc.assert(
      fc.property(elements, fc.integer(), (els, seed) => {
        const shuffled = [...els].sort((a, b) => ((a.length * 31 + seed) % 7) - ((b.length * 31 + seed) % 7))
        const a = new LtHash()
        const b = new LtHash()
        els.forEach((e) => a.add(e))
        shuffled.forEach((e) => b.add(e))
        expect(toHex(a.digest())).toBe(toHex(b.digest()))
      }),
    )
  })

  it('add then remove returns to the starting state', () => {
    fc.assert(
      fc.property(elements, fc.string(), (base, extra) => {
        const h = new LtHash()
        base.forEach((e) => h.add(e))
        const before = toHex(h.state())
        h.add(extra).remove(extra)
        expect(toHex(h.state())).toBe(before)
      }),
    )
  })

  it('persisted state resumes exactly', () => {
    const h = new LtHash().add('a').add('b')
    const resumed = new LtHash(h.state()).add('c')
    expect(toHex(resumed.digest())).toBe(toHex(h.add('c').digest()))
  })

  it('rejects a persisted state of the wrong size', () => {
    expect(() => new LtHash(new Uint8Array(2047))).toThrow(/2048 bytes/)
  })
})
