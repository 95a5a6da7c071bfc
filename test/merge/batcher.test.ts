// Group commit in the batcher: on an idle batcher a write waits for companions (up to maxDelayMs or
// maxRows); writes that arrive while a flush runs go out together right after it, without a timer, but
// no sooner than minPeriodMs after the previous flush started unless their batch is full.
import { describe, expect, test } from '@jest/globals'
import { Batcher } from '../../src/merge/batcher.js'

function controlledFlush(): {
  calls: number[][]
  flush: (items: number[]) => Promise<number[]>
  finish: () => void
} {
  const calls: number[][] = []
  const pending: Array<() => void> = []
  return {
    calls,
    flush: (items) => {
      calls.push(items)
      return new Promise((resolve) => pending.push(() => resolve(items.map((i) => i * 10))))
    },
    finish: () => pending.shift()?.(),
  }
}

const turn = () => new Promise((r) => setImmediate(r))

describe('Batcher', () => {
  test('an idle batcher waits for companions until maxRows', async () => {
    const f = controlledFlush()
    const b = new Batcher<number, number>({ maxRows: 3, maxDelayMs: 60_000, size: () => 1, flush: f.flush })
    const r1 = b.add(1)
    const r2 = b.add(2)
    await turn()
    expect(f.calls).toEqual([]) // neither the row limit nor the delay reached
    const r3 = b.add(3)
    await turn()
    expect(f.calls).toEqual([[1, 2, 3]])
    f.finish()
    expect(await Promise.all([r1, r2, r3])).toEqual([10, 20, 30])
  })

  test('writes arriving during a flush go out right after it, as one batch', async () => {
    const f = controlledFlush()
    // The first write fills a batch on its own; the two later ones are far below maxRows.
    const b = new Batcher<number, number>({
      maxRows: 10,
      maxDelayMs: 60_000,
      size: (i) => (i === 1 ? 10 : 1),
      flush: f.flush,
    })
    const first = b.add(1)
    await turn()
    expect(f.calls).toEqual([[1]])
    const during = [b.add(2), b.add(3)]
    await turn()
    expect(f.calls).toHaveLength(1) // flushes never overlap
    f.finish()
    expect(await first).toBe(10)
    await turn()
    // No 60 s timer: the writes that waited through the first flush went out as it ended.
    expect(f.calls).toEqual([[1], [2, 3]])
    f.finish()
    expect(await Promise.all(during)).toEqual([20, 30])
  })

  test('a lone write on an idle batcher goes out after maxDelayMs', async () => {
    const f = controlledFlush()
    const b = new Batcher<number, number>({ maxRows: 100, maxDelayMs: 5, size: () => 1, flush: f.flush })
    const r = b.add(7)
    expect(f.calls).toEqual([])
    await new Promise((res) => setTimeout(res, 30))
    expect(f.calls).toEqual([[7]])
    f.finish()
    expect(await r).toBe(70)
  })

  /** Resolves once `cond` holds, polling; fails the test after `ms`. */
  async function until(cond: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms
    while (!cond()) {
      if (Date.now() > deadline) throw new Error('condition not reached')
      await new Promise((res) => setTimeout(res, 5))
    }
  }

  /** A batcher of unit-sized items with a period, whose first batch ([1]) has been flushed. */
  async function afterFirstFlush(maxRows: number, minPeriodMs: number) {
    const f = controlledFlush()
    const b = new Batcher<number, number>({
      maxRows,
      maxDelayMs: 1,
      minPeriodMs,
      size: () => 1,
      flush: f.flush,
    })
    const first = b.add(1)
    await until(() => f.calls.length === 1)
    return { f, b, first }
  }

  test('under load a flush starts no sooner than minPeriodMs after the previous one', async () => {
    const { f, b, first } = await afterFirstFlush(100, 400)
    const started = performance.now()
    const later = [b.add(2), b.add(3)]
    f.finish() // the first insert ends at once: its companions still wait for the period
    expect(await first).toBe(10)
    await new Promise((res) => setTimeout(res, 50))
    expect(f.calls).toEqual([[1]])
    await until(() => f.calls.length === 2)
    expect(performance.now() - started).toBeGreaterThanOrEqual(300)
    expect(f.calls[1]).toEqual([2, 3])
    f.finish()
    expect(await Promise.all(later)).toEqual([20, 30])
  })

  test('a full batch does not wait for the period, and an idle write waits for what is left of it', async () => {
    const { f, b, first } = await afterFirstFlush(2, 60_000)
    f.finish()
    expect(await first).toBe(10)
    const lone = b.add(2)
    await new Promise((res) => setTimeout(res, 50))
    expect(f.calls).toEqual([[1]]) // maxDelayMs passed long ago, but the period has not
    const filler = b.add(3)
    await turn()
    expect(f.calls).toEqual([[1], [2, 3]]) // maxRows reached: out at once
    f.finish()
    expect(await Promise.all([lone, filler])).toEqual([20, 30])
  })
})
