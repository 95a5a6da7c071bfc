/**
 * Child of heap-growth.test.ts: applies a heap growth percent (argv[2]), then churns the heap as a syncer
 * does (a sliding window of retained objects, ~100 MiB, and far more short-lived garbage) and prints the
 * peak total heap size in bytes.
 */
import { getHeapStatistics } from 'node:v8'
import { applyHeapGrowth } from '../../../workers/heap-growth.js'

applyHeapGrowth(Number(process.argv[2]))
const window: { x: number }[][] = []
let peak = 0
for (let i = 0; i < 3000; i++) {
  window.push(Array.from({ length: 2000 }, (_, x) => ({ x })))
  if (window.length > 1200) window.shift()
  for (let j = 0; j < 20; j++) Array.from({ length: 2000 }, (_, x) => ({ x: x + j }))
  peak = Math.max(peak, getHeapStatistics().total_heap_size)
}
process.stdout.write(String(peak))
