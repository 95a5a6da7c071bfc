/**
 * The seeded network generator: from `(seed, spaces N, writers per space W, records R, hosts H)` it creates
 * the account pool and plans every space — authority, writers, policy, app access, members — and the
 * generated history of every writer's repo. Same inputs, same network: DIDs, keys, records and CIDs are
 * reproducible (only ports and runtime revs differ between runs).
 *
 * Invariants:
 * - Accounts `u0…u{A-1}` live on host `i mod H`; a space's writers are W distinct pool accounts and its
 *   authority is its first writer (so the authority also holds a repo in its own space, as in simplespace).
 * - The indexer account is never a writer but is admitted everywhere: it is on every member list, the
 *   managing app authorizes it, and the indexer client is on every allow list.
 * - Each repo's history starts at its own base time (10 s apart, from 2025-01-01), so generated revs are
 *   in the past and every runtime rev sorts after them.
 * - Nothing per record is stored: repos keep a GeneratedHistory (a few numbers) and compute content on demand.
 */
import type { Account, AccountRegistry } from './accounts.js'
import { DEFAULT_SHAPE, GeneratedHistory, type HistoryShape } from './record-generator.js'
import { SeededRandom } from './seeded.js'
import {
  allowList,
  managingAppPolicy,
  MEMBER_LIST_POLICY,
  OPEN_ACCESS,
  PUBLIC_POLICY,
  type AppAccess,
  type Policy,
} from './space-config.js'

export type PolicyMode = 'mixed' | 'public' | 'member-list' | 'managing-app'

export const POLICY_MODES: readonly PolicyMode[] = ['mixed', 'public', 'member-list', 'managing-app']

export const SPACE_TYPES = ['com.example.devnet.forum', 'com.example.devnet.group'] as const

export interface NetworkShape extends Omit<HistoryShape, 'records'> {
  seed: string
  spaces: number
  writersPerSpace: number
  records: number
  hosts: number
  /** Account pool size (default: enough for every space to draw distinct writers, capped at 10 000). */
  accounts?: number
  policy: PolicyMode
  /** Fraction of spaces gated by an app allow list. */
  allowListFraction: number
}

export const DEFAULT_NETWORK: Omit<NetworkShape, 'seed'> = {
  spaces: 4,
  writersPerSpace: 3,
  records: 20,
  hosts: 2,
  policy: 'mixed',
  allowListFraction: 0.25,
  ...DEFAULT_SHAPE,
}

export interface PlannedRepo {
  writer: Account
  history: GeneratedHistory
}

export interface PlannedSpace {
  index: number
  uri: string
  authority: Account
  writers: PlannedRepo[]
  policy: Policy
  appAccess: AppAccess
  members: string[]
}

export interface Roles {
  indexer: Account
  /** Service id of the managing app used by #managingAppPolicy spaces. */
  managingApp: string
  /** Client ids put on #allowList spaces (the first is the indexer's). */
  allowedClients: string[]
}

const EPOCH_MICROS = Date.UTC(2025, 0, 1) * 1000
const REPO_SPACING_MICROS = 10_000_000

export function poolSize(shape: NetworkShape): number {
  return (
    shape.accounts ?? Math.max(shape.writersPerSpace, Math.min(shape.spaces * shape.writersPerSpace, 10_000))
  )
}

export function checkShape(shape: NetworkShape): void {
  const ints: Array<[string, number, number]> = [
    ['spaces', shape.spaces, 0],
    ['writers-per-space', shape.writersPerSpace, 1],
    ['records', shape.records, 1],
    ['hosts', shape.hosts, 1],
    ['batch-size', shape.batchSize, 1],
  ]
  for (const [name, v, min] of ints) {
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min} (got ${v})`)
  }
  if (poolSize(shape) < shape.writersPerSpace) {
    throw new Error(
      `--accounts (${poolSize(shape)}) must be at least --writers-per-space (${shape.writersPerSpace})`,
    )
  }
  if (shape.records / shape.batchSize >= REPO_SPACING_MICROS) throw new Error('too many batches per repo')
  if (!POLICY_MODES.includes(shape.policy))
    throw new Error(`--policy must be one of ${POLICY_MODES.join(', ')}`)
}

/** Creates the account pool (`u0…`) in `accounts`. */
export function createPool(shape: NetworkShape, accounts: AccountRegistry): Account[] {
  const pool: Account[] = []
  for (let i = 0; i < poolSize(shape); i++) pool.push(accounts.create(`u${i}`, i % shape.hosts))
  return pool
}

function choosePolicy(mode: PolicyMode, rng: SeededRandom, managingApp: string): Policy {
  const pick =
    mode === 'mixed' ? (['public', 'member-list', 'member-list', 'managing-app'] as const)[rng.int(4)] : mode
  if (pick === 'public') return PUBLIC_POLICY
  if (pick === 'member-list') return MEMBER_LIST_POLICY
  return managingAppPolicy(managingApp)
}

/** Plans every space; deterministic in (seed, shape). */
export function planSpaces(shape: NetworkShape, pool: Account[], roles: Roles): PlannedSpace[] {
  const spaces: PlannedSpace[] = []
  // One shared shape object: repos keep a reference to it, not a copy.
  const { records, historyEvery, batchSize, blobEvery, duplicateEvery } = shape
  const historyShape: HistoryShape = { records, historyEvery, batchSize, blobEvery, duplicateEvery }
  let repoIndex = 0
  for (let s = 0; s < shape.spaces; s++) {
    const rng = SeededRandom.from(shape.seed, 'space', s)
    const chosen = new Set<number>()
    while (chosen.size < shape.writersPerSpace) chosen.add(rng.int(pool.length))
    const writers = [...chosen].map((i) => pool[i] as Account)
    const authority = writers[0] as Account
    const type = SPACE_TYPES[s % SPACE_TYPES.length] as string
    const uri = `at://${authority.did}/space/${type}/s${s}`
    const policy = choosePolicy(shape.policy, rng, roles.managingApp)
    const appAccess = rng.next() < shape.allowListFraction ? allowList(roles.allowedClients) : OPEN_ACCESS
    spaces.push({
      index: s,
      uri,
      authority,
      policy,
      appAccess,
      members: [...writers.map((w) => w.did), roles.indexer.did],
      writers: writers.map((writer) => ({
        writer,
        history: new GeneratedHistory(
          shape.seed,
          s,
          writer.index,
          historyShape,
          EPOCH_MICROS + repoIndex++ * REPO_SPACING_MICROS,
        ),
      })),
    })
  }
  return spaces
}
