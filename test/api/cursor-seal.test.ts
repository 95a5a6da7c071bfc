// Paging cursors are ours alone: any edit, a cursor from another listing, or one sealed under another key
// is refused; a cursor we issued opens to exactly the position it carried.
import fc from 'fast-check'
import { CursorError, CursorSeal } from '../../src/api/cursor-seal.js'

const KEY = 'ab'.repeat(32)
const seal = new CursorSeal(KEY)

describe('cursor seal', () => {
  it('round-trips the inner cursor for the same scope, across instances with the same key', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (scope, inner) => {
        expect(new CursorSeal(KEY).open(scope, seal.seal(scope, inner))).toBe(inner)
      }),
    )
  })

  it('refuses a cursor from another listing', () => {
    const c = seal.seal('listRecords\nat://a/space/x.y.z/1\n\n\nfalse', 'pos')
    expect(() => seal.open('listRecords\nat://a/space/x.y.z/2\n\n\nfalse', c)).toThrow(CursorError)
    expect(() => seal.open('listRecords\nat://a/space/x.y.z/1\n\n\ntrue', c)).toThrow(CursorError)
  })

  it('refuses any single-character edit', () => {
    const c = seal.seal('scope', 'WyJjb20uZXhhbXBsZSIsImRpZDpwbGM6YSIsIjNrIl0')
    fc.assert(
      fc.property(
        fc.nat(c.length - 1),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'),
        (i, ch) => {
          fc.pre(c[i] !== ch)
          const edited = c.slice(0, i) + ch + c.slice(i + 1)
          expect(() => seal.open('scope', edited)).toThrow(CursorError)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('refuses garbage and cursors sealed under another key', () => {
    for (const bad of ['', '.', 'abc', 'abc.def', `${Buffer.from('["scope","x"]').toString('base64url')}.`]) {
      expect(() => seal.open('scope', bad)).toThrow(CursorError)
    }
    expect(() => seal.open('scope', new CursorSeal('cd'.repeat(32)).seal('scope', 'x'))).toThrow(CursorError)
    expect(() => seal.open('scope', new CursorSeal('').seal('scope', 'x'))).toThrow(CursorError)
  })
})
