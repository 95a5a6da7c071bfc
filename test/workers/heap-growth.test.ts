/**
 * SPACEVIEW_HEAP_GROWING_PERCENT: the same allocation pattern runs in a smaller heap at the default 50 than
 * with V8's own growth (0), and the setting is validated.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../src/config.js'
import { applyHeapGrowth } from '../../workers/heap-growth.js'

const CHILD = fileURLToPath(new URL('./children/heap-churn.ts', import.meta.url))

async function peakHeap(percent: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, String(percent)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  if (code !== 0) throw new Error(`heap-churn exited ${code}: ${err}`)
  return Number(out)
}

it('keeps a churning heap smaller at the default 50 % growth than at V8’s own choice', async () => {
  const [own, bounded] = await Promise.all([peakHeap(0), peakHeap(loadConfig({}).heapGrowingPercent)])
  // The retained window is ~100 MiB; V8's own factor lets the heap reach well past it (measured: 289 MiB
  // against 211-219 MiB at 50 %).
  expect(bounded).toBeLessThan(own * 0.85)
}, 90_000)

it('defaults to 50 and refuses what is not a non-negative integer', () => {
  expect(loadConfig({}).heapGrowingPercent).toBe(50)
  expect(loadConfig({ SPACEVIEW_HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent).toBe(0)
  expect(() => loadConfig({ SPACEVIEW_HEAP_GROWING_PERCENT: '-1' })).toThrow(/SPACEVIEW_HEAP_GROWING_PERCENT/)
  expect(() => loadConfig({ SPACEVIEW_HEAP_GROWING_PERCENT: '1.5' })).toThrow(
    /SPACEVIEW_HEAP_GROWING_PERCENT/,
  )
  expect(() => applyHeapGrowth(-5)).toThrow(/non-negative integer/)
})
