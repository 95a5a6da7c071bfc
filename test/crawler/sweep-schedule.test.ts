// A new space's first scheduled sweep is spread over half to one and a half intervals, so spaces added
// together do not all sweep in the same instant (crawler.ts firstSweepDelayMs).
import { expect, test } from '@jest/globals'
import { firstSweepDelayMs } from '../../src/crawler/crawler.js'

test('first sweep delays lie within [interval/2, 3·interval/2) and spread over it', () => {
  const every = 300_000
  expect(firstSweepDelayMs(every, () => 0)).toBe(150_000)
  expect(firstSweepDelayMs(every, () => 0.5)).toBe(300_000)
  expect(firstSweepDelayMs(every, () => 0.999999)).toBeLessThan(450_000)
  const delays = Array.from({ length: 1000 }, () => firstSweepDelayMs(every))
  for (const d of delays) {
    expect(d).toBeGreaterThanOrEqual(150_000)
    expect(d).toBeLessThan(450_000)
  }
  // Spaces added together land in every tenth of the window.
  const tenths = new Set(delays.map((d) => Math.floor((d - 150_000) / 30_000)))
  expect(tenths.size).toBe(10)
})
