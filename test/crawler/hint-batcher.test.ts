/**
 * HintBatcher: notification hints merged per repo between flushes (group commit), each caller settled by the
 * flush that carried its hint.
 */
import { HintBatcher, type Hint } from '../../src/crawler/hint-batcher.js'

/** A flush that records its batches and completes when the test says so. */
function gatedFlush() {
  const batches: Hint[][] = []
  const gates: Array<(err?: Error) => void> = []
  const flush = (hints: Hint[]) => {
    batches.push(hints.map((h) => ({ ...h })))
    return new Promise<void>((resolve, reject) => gates.push((err) => (err ? reject(err) : resolve())))
  }
  const release = async (err?: Error) => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r))
    gates.shift()!(err)
  }
  return { batches, flush, release }
}

const tick = () => new Promise((r) => setImmediate(r))

test('hints of one turn go out in one flush, one entry per repo with the earliest arrival', async () => {
  const f = gatedFlush()
  const b = new HintBatcher(f.flush)
  const settled: string[] = []
  const p1 = b.add('s1', 'r1', 200).then(() => settled.push('a'))
  const p2 = b.add('s1', 'r1', 100).then(() => settled.push('b'))
  const p3 = b.add('s1', 'r2', 300).then(() => settled.push('c'))
  await tick()
  expect(f.batches).toEqual([
    [
      { space: 's1', repo: 'r1', hintAt: 100 },
      { space: 's1', repo: 'r2', hintAt: 300 },
    ],
  ])
  expect(settled).toEqual([]) // nobody is answered before the flush completed
  await f.release()
  await Promise.all([p1, p2, p3])
  expect(settled.sort()).toEqual(['a', 'b', 'c'])
})

test('hints arriving during a flush wait for it and go out together in the next one', async () => {
  const f = gatedFlush()
  const b = new HintBatcher(f.flush)
  const first = b.add('s', 'r1', 1)
  await tick()
  expect(f.batches).toHaveLength(1)
  const later = [b.add('s', 'r1', 2), b.add('s', 'r2', 3), b.add('s', 'r2', 4)]
  await tick()
  expect(f.batches).toHaveLength(1) // still one flush in flight
  await f.release()
  await first
  await f.release()
  await Promise.all(later)
  expect(f.batches[1]).toEqual([
    { space: 's', repo: 'r1', hintAt: 2 },
    { space: 's', repo: 'r2', hintAt: 3 },
  ])
})

test('a failed flush rejects exactly its callers; the batcher keeps working', async () => {
  const f = gatedFlush()
  const b = new HintBatcher(f.flush)
  const failed = b.add('s', 'r', 1)
  await tick()
  const next = b.add('s', 'r', 2)
  await f.release(new Error('redis down'))
  await expect(failed).rejects.toThrow('redis down')
  await f.release()
  await expect(next).resolves.toBeUndefined()
  expect(f.batches.map((x) => x.length)).toEqual([1, 1])
})

test('a batch carries at most maxBatch repos; the rest follow', async () => {
  const f = gatedFlush()
  const b = new HintBatcher(f.flush, 2)
  const all = [b.add('s', 'a', 1), b.add('s', 'b', 1), b.add('s', 'c', 1)]
  await f.release()
  await f.release()
  await Promise.all(all)
  expect(f.batches.map((x) => x.map((h) => h.repo))).toEqual([['a', 'b'], ['c']])
})
