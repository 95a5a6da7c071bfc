// In-memory reference model of the merge store: the same rules, written as plainly as possible, so the
// randomized tests can compare the ClickHouse view with it after every step.
import type {
  AccountStatus,
  RecordKey,
  RepoSnapshot,
  RepoStatus,
  RepoUpdate,
  WriteOutcome,
  WriteResult,
} from '../../src/merge/types.js'

export interface ModelRecord {
  author: string
  collection: string
  rkey: string
  cid: string
  value: unknown
  rev: string
}

interface ModelRepo {
  rev: string | null
  hash: string
  records: Map<string, { cid: string; value: unknown; rev: string }>
  generation: number
  version: number
  status: RepoStatus
  reason: string
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const repoKey = (space: string, author: string): string => `${space}\n${author}`
const path = (k: RecordKey): string => `${k.collection}/${k.rkey}`

export class MergeModel {
  readonly spaces = new Map<string, { epoch: number; status: 'active' | 'deleted' }>()
  readonly repos = new Map<string, ModelRepo>()
  readonly accounts = new Map<string, { status: AccountStatus; at: number }>()

  upsertSpace(space: string): number {
    const cur = this.spaces.get(space)
    if (cur?.status === 'active') return cur.epoch
    const epoch = (cur?.epoch ?? 0) + 1
    this.spaces.set(space, { epoch, status: 'active' })
    return epoch
  }

  deleteSpace(space: string): void {
    const cur = this.spaces.get(space)
    this.spaces.set(space, { epoch: cur?.epoch ?? 0, status: 'deleted' })
    for (const key of [...this.repos.keys()]) if (key.startsWith(`${space}\n`)) this.repos.delete(key)
  }

  setAccount(did: string, status: AccountStatus, at: number): void {
    const cur = this.accounts.get(did)
    if (cur === undefined || at >= cur.at) this.accounts.set(did, { status, at })
    // A deletion event purges the author everywhere, unless a newer event already superseded it.
    if (status === 'deleted' && this.accounts.get(did)?.status === 'deleted') {
      for (const key of [...this.repos.keys()]) if (key.endsWith(`\n${did}`)) this.repos.delete(key)
    }
  }

  accountStatus(did: string): AccountStatus {
    return this.accounts.get(did)?.status ?? 'active'
  }

  private result(outcome: WriteOutcome, repo: ModelRepo | undefined): WriteResult {
    return { outcome, rev: repo?.rev ?? null, generation: repo?.generation ?? 0, version: repo?.version ?? 0 }
  }

  applyUpdate(u: RepoUpdate): WriteResult {
    if (this.spaces.get(u.space)?.status !== 'active') return this.result('space_inactive', undefined)
    const key = repoKey(u.space, u.author)
    const cur = this.repos.get(key)
    const curRev = cur?.rev ?? null
    if (curRev !== null && u.rev <= curRev) return this.result('unchanged', cur)
    if (u.since !== curRev) return this.result('conflict', cur)
    const records = new Map(cur?.records ?? [])
    for (const d of u.deletes) records.delete(path(d))
    for (const w of u.upserts) records.set(path(w), { cid: w.cid, value: w.value, rev: u.rev })
    const next: ModelRepo = {
      rev: u.rev,
      hash: hex(u.commitHash),
      records,
      generation: cur?.generation ?? 0,
      version: (cur?.version ?? 0) + 1,
      status: 'active',
      reason: '',
    }
    this.repos.set(key, next)
    return this.result('applied', next)
  }

  replace(s: RepoSnapshot): WriteResult {
    if (this.spaces.get(s.space)?.status !== 'active') return this.result('space_inactive', undefined)
    const key = repoKey(s.space, s.author)
    const cur = this.repos.get(key)
    if (cur !== undefined && cur.rev !== null && s.force !== true) {
      if (s.rev < cur.rev || (s.rev === cur.rev && hex(s.commitHash) === cur.hash))
        return this.result('unchanged', cur)
    }
    const next: ModelRepo = {
      rev: s.rev,
      hash: hex(s.commitHash),
      records: new Map(s.records.map((w) => [path(w), { cid: w.cid, value: w.value, rev: s.rev }])),
      generation: (cur?.generation ?? 0) + 1,
      version: (cur?.version ?? 0) + 1,
      status: 'active',
      reason: '',
    }
    this.repos.set(key, next)
    return this.result('applied', next)
  }

  setStatus(space: string, author: string, status: RepoStatus, reason: string): WriteResult {
    if (this.spaces.get(space)?.status !== 'active') return this.result('space_inactive', undefined)
    const key = repoKey(space, author)
    const cur = this.repos.get(key)
    const same =
      cur === undefined
        ? status === 'active' && reason === ''
        : cur.status === status && cur.reason === reason
    if (same) return this.result('unchanged', cur)
    const next: ModelRepo = {
      rev: cur?.rev ?? null,
      hash: cur?.hash ?? '',
      records: cur?.records ?? new Map(),
      generation: cur?.generation ?? 0,
      version: (cur?.version ?? 0) + 1,
      status,
      reason,
    }
    this.repos.set(key, next)
    return this.result('applied', next)
  }

  repo(space: string, author: string): ModelRepo | undefined {
    return this.spaces.get(space)?.status === 'active' ? this.repos.get(repoKey(space, author)) : undefined
  }

  /** Visible records of `space`, ordered by (collection, author, rkey). */
  view(space: string, filter: { collection?: string; author?: string } = {}): ModelRecord[] {
    if (this.spaces.get(space)?.status !== 'active') return []
    const out: ModelRecord[] = []
    for (const [key, repo] of this.repos) {
      const [s, author] = key.split('\n') as [string, string]
      if (s !== space || this.accountStatus(author) !== 'active') continue
      if (filter.author !== undefined && filter.author !== author) continue
      for (const [p, r] of repo.records) {
        const slash = p.indexOf('/')
        const collection = p.slice(0, slash)
        if (filter.collection !== undefined && filter.collection !== collection) continue
        out.push({ author, collection, rkey: p.slice(slash + 1), cid: r.cid, value: r.value, rev: r.rev })
      }
    }
    const k = (r: ModelRecord): string => `${r.collection}\u0000${r.author}\u0000${r.rkey}`
    return out.sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0))
  }
}
