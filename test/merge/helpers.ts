// Shared fixtures for the merge tests: fresh embedded stores, deterministic commits and a seeded PRNG.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MergeStore, type MergeObserver } from '../../src/merge/index.js'
import type { CommitInfo, ReadStrategy } from '../../src/merge/types.js'

export function tempDir(prefix = 'spaceview-merge-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

let dbCounter = 0

/** A store on its own database in `path` (one embedded data directory per process; databases isolate tests). */
export async function openStore(
  path: string,
  opts: {
    database?: string
    maxRows?: number
    maxDelayMs?: number
    readStrategy?: ReadStrategy
    observer?: MergeObserver
    migrate?: boolean
    stateCacheMs?: number
    viewCacheBytes?: number
  } = {},
): Promise<MergeStore> {
  return MergeStore.open(
    {
      clickhouse: {
        transport: 'embedded',
        path,
        database: opts.database ?? `t${process.pid}_${++dbCounter}`,
      },
      batch: { maxRows: opts.maxRows ?? 10_000, maxDelayMs: opts.maxDelayMs ?? 5 },
      readStrategy: opts.readStrategy ?? 'final',
      ...(opts.stateCacheMs === undefined ? {} : { stateCacheMs: opts.stateCacheMs }),
      ...(opts.viewCacheBytes === undefined ? {} : { viewCacheBytes: opts.viewCacheBytes }),
    },
    { observer: opts.observer, migrate: opts.migrate },
  )
}

/** mulberry32: small, fast, good enough to drive randomized scenarios reproducibly from a seed. */
export function prng(seed: number): {
  next: () => number
  int: (n: number) => number
  pick: <T>(xs: readonly T[]) => T
  chance: (p: number) => boolean
} {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  return { next, int, pick: (xs) => xs[int(xs.length)]!, chance: (p) => next() < p }
}

/** TID-like rev strings that sort like their sequence numbers (digits 0-9a-v sort in ASCII order). */
export function rev(n: number): string {
  return `3l${n.toString(32).padStart(11, '0')}`
}

/** Commit fields for (space, author) at rev `n`; ltState/commitHash are derived from the rev. */
export function commit(space: string, author: string, n: number): CommitInfo {
  const ltState = new Uint8Array(2048)
  const commitHash = new Uint8Array(32)
  for (let i = 0; i < ltState.length; i++) ltState[i] = (n * 31 + i * 7) & 0xff
  for (let i = 0; i < commitHash.length; i++) commitHash[i] = (n * 13 + i) & 0xff
  return { space, author, rev: rev(n), ltState, commitHash }
}

export const SPACE_A = 'at://did:plc:authoritya/space/com.example.forum/main'
export const SPACE_B = 'at://did:plc:authorityb/space/com.example.forum/3kabc'
export const SPACE_C = 'at://did:web:forum.example.com/space/com.example.chat/self'
