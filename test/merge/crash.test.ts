// Crash safety: a child process writing a large batch is SIGKILLed at several points inside that batch.
// Reopening the same data directory must show either the whole batch or none of it (never part of a repo
// update or part of the batch), and retrying the jobs must end in exactly the full result.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, test } from '@jest/globals'
import type { MergeStore } from '../../src/merge/index.js'
import type { WriteResult } from '../../src/merge/types.js'
import { CRASH_SPACE, crashJobs, type CrashOp } from './crash-jobs.js'
import { openStore, tempDir } from './helpers.js'
import { MergeModel } from './model.js'

const ROOT = process.cwd()
const CHILD = join(ROOT, 'test/merge/crash-child.ts')

interface ChildRun {
  reached: Set<string>
  /** Time from "writing" to "done" (only when the child was not killed first). */
  batchMs: number | null
  killed: boolean
}

function runChild(dir: string, killAfterMs: number | null): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const reached = new Set<string>()
    let stderr = ''
    let out = ''
    let writingAt = 0
    let batchMs: number | null = null
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const lines = out.split('\n')
      out = lines.pop() ?? ''
      for (const line of lines) {
        reached.add(line)
        if (line === 'writing') {
          writingAt = performance.now()
          if (killAfterMs !== null) setTimeout(() => child.kill('SIGKILL'), killAfterMs)
        }
        if (line === 'done') batchMs = performance.now() - writingAt
      }
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ reached, batchMs, killed: true })
      else if (code === 0) resolve({ reached, batchMs, killed: false })
      else reject(new Error(`crash child failed (code ${code}):\n${stderr}`))
    })
  })
}

function modelAfter(...batches: CrashOp[][]): MergeModel {
  const m = new MergeModel()
  m.upsertSpace(CRASH_SPACE)
  for (const op of batches.flat()) {
    if (op.kind === 'update') m.applyUpdate(op.u)
    else m.replace(op.s)
  }
  return m
}

async function listAll(store: MergeStore): Promise<string[]> {
  const out: string[] = []
  let cursor: string | undefined
  do {
    const page = await store.listRecords({ space: CRASH_SPACE, limit: 1000, cursor })
    out.push(...page.records.map((r) => `${r.author}/${r.collection}/${r.rkey}@${r.cid}`))
    cursor = page.cursor
  } while (cursor !== undefined)
  return out
}

const digest = (m: MergeModel): string[] =>
  m.view(CRASH_SPACE).map((r) => `${r.author}/${r.collection}/${r.rkey}@${r.cid}`)

describe('crash safety', () => {
  const { batch1, batch2 } = crashJobs()
  const before = digest(modelAfter(batch1))
  const after = digest(modelAfter(batch1, batch2))

  test('SIGKILL inside a batch loses nothing once the jobs are retried', async () => {
    // An uninterrupted run first: it measures how long batch 2 takes, so the kills land inside it.
    const full = tempDir()
    const baseline = await runChild(full.path, null)
    full.remove()
    expect(baseline.reached.has('done')).toBe(true)
    const batchMs = baseline.batchMs ?? 1000

    let interrupted = 0
    for (const fraction of [0.1, 0.5]) {
      const dir = tempDir()
      const run = await runChild(dir.path, Math.round(batchMs * fraction))
      expect(run.reached.has('committed')).toBe(true)
      if (!run.reached.has('done')) interrupted++

      const store = await openStore(dir.path, { database: 'crash', maxRows: 1_000_000 })
      try {
        // All or nothing: the view is exactly the state before batch 2 or after it, and every repo agrees.
        const seen = await listAll(store)
        const committed = seen.length === after.length && seen.every((s, i) => s === after[i])
        expect(committed ? after : before).toEqual(seen)
        const states = await Promise.all(
          batch1.map((op) =>
            store.getRepoState(CRASH_SPACE, op.kind === 'replace' ? op.s.author : op.u.author),
          ),
        )
        expect(new Set(states.map((s) => s?.rev)).size).toBe(1)

        // The retry: every job again, in order. Batch 1 changes nothing; batch 2 lands once.
        const apply = (op: CrashOp): Promise<WriteResult> =>
          op.kind === 'update' ? store.applyRepoUpdate(op.u) : store.replaceRepo(op.s)
        const r1 = await Promise.all(batch1.map(apply))
        expect(r1.every((r) => r.outcome === 'unchanged')).toBe(true)
        const r2 = await Promise.all(batch2.map(apply))
        expect(new Set(r2.map((r) => r.outcome))).toEqual(new Set([committed ? 'unchanged' : 'applied']))
        expect(await listAll(store)).toEqual(after)
        expect(await store.countRecords(CRASH_SPACE)).toBe(after.length)
      } finally {
        await store.close()
        dir.remove()
      }
    }
    // At least one kill must actually have hit the batch, or this test proved nothing.
    expect(interrupted).toBeGreaterThan(0)
  }, 110_000)
})
