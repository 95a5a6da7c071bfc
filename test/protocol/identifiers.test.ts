import { tidTimestampMs, assertTid, compareTid } from '../../src/protocol/identifiers.js'
import { ProtocolError } from '../../src/protocol/errors.js'

describe('TIDs', () => {
  it('decodes the timestamp of a TID', () => {
    // 3lenb7yw2s22b is a vector rev minted on 2025-01-01 (listRepoOps.json commit)
    expect(new Date(tidTimestampMs('3lenb7yw2s22b')).toISOString()).toBe('2025-01-01T00:05:00.000Z')
    expect(tidTimestampMs('3lenb7yw2s22b')).toBeGreaterThan(tidTimestampMs('3lenayuyee22b'))
  })

  it('rejects non-TIDs with a typed error and orders TIDs as strings', () => {
    expect(() => assertTid('nope')).toThrow(ProtocolError)
    expect(compareTid('3lenayuyee22b', '3lenb7yw2s22b')).toBe(-1)
    expect(compareTid('3lenb7yw2s22b', '3lenb7yw2s22b')).toBe(0)
  })
})
