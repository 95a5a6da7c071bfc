/**
 * How far V8 lets a process's JavaScript heap grow past what the last full collection kept alive.
 *
 * V8 picks that factor itself, up to 4× for a process that allocates fast, and a syncer allocates fast:
 * every fetched repo is decoded, verified and encoded again for the store, and almost all of it is garbage
 * a moment later. Measured on a 2-vCPU machine, a backfill of 3,000 spaces × 10 writers × 10 records kept
 * ~130 MiB live but ran with 284 MiB of heap (peak RSS 828–839 MiB); at 50 % growth the heap stayed near
 * 140 MiB and peak RSS was 664–680 MiB, for 2 % more CPU (20 %: 632 MiB, but 20 % more CPU). At 10,000
 * spaces (1M records) peak RSS fell from 1,033 to 784–805 MiB, for 25 % more syncer CPU: a larger live heap
 * collected more often. Freed sooner, the buffers that hold fetched CARs also return to the allocator sooner.
 *
 * Invariants:
 * - Applied once per process, by `startService`, before the service allocates anything large; V8 reads the
 *   flag each time it sizes the heap after a collection, so a later change is not needed and not made.
 * - 0 leaves V8's own heuristics; any other value is V8's `--heap-growing-percent` (growth factor
 *   1 + percent/100). No upper limit is imposed here: the heap limit (`--max-old-space-size`) still holds.
 */
import { setFlagsFromString } from 'node:v8'

export function applyHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0) {
    throw new Error(`heap growing percent must be a non-negative integer (got ${percent})`)
  }
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`)
}
