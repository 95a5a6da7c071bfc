// The notifyWrite signature memo: entries live no longer than their token or the age bound, and the
// cache is bounded.
import { describe, expect, test } from '@jest/globals'
import { VerifiedTokens } from '../../src/crawler/verified-tokens.js'

const inSec = (s: number) => Date.now() / 1000 + s

describe('VerifiedTokens', () => {
  test('remembers a verified token until its age bound', async () => {
    const memo = new VerifiedTokens(10, 100)
    memo.add('a', inSec(60))
    expect(memo.has('a')).toBe(true)
    expect(memo.has('b')).toBe(false)
    await new Promise((res) => setTimeout(res, 250))
    expect(memo.has('a')).toBe(false) // 60 s of token life left, but the memo keeps it 100 ms
  })

  test('never outlives the token, and ignores one already expired', async () => {
    const memo = new VerifiedTokens(10, 60_000)
    memo.add('expired', inSec(-1))
    expect(memo.has('expired')).toBe(false)
    memo.add('short', inSec(0.1))
    expect(memo.has('short')).toBe(true)
    await new Promise((res) => setTimeout(res, 250))
    expect(memo.has('short')).toBe(false)
  })

  test('keeps at most maxEntries tokens, dropping the least recently used', () => {
    const memo = new VerifiedTokens(2, 60_000)
    memo.add('a', inSec(60))
    memo.add('b', inSec(60))
    expect(memo.has('a')).toBe(true) // a is now the most recently used
    memo.add('c', inSec(60))
    expect([memo.has('a'), memo.has('b'), memo.has('c')]).toEqual([true, false, true])
  })
})
