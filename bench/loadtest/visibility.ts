/**
 * When does a write become visible? The measurement behind every write → visible latency in the report.
 *
 * devnet's write driver stamps each record it writes with `createdAt` (the moment it built the request,
 * before the HTTP write, the signing and the notifications) and a unique `text` ("driver write N"). A store
 * write resolves only once its rows are durable and queryable (merge store contract), so the instant a
 * store write that carries such a record resolves is when that record became visible. The difference,
 * measured on the same machine clock, is the end-to-end latency a user of the API would see: write →
 * author's host → notification → syncer → verify → merge → queryable.
 *
 * `observingStore` wraps the store a crawler writes through (it only observes; every call is passed
 * through unchanged). The baseline syncer calls `observe` itself after each of its inserts.
 *
 * Invariants: a record counts once, at its first visibility (a later snapshot that carries it again is not
 * a new observation); records not written by the driver (generated history) count toward throughput but
 * not latency; deletions are counted but carry no timestamp, so they have no latency.
 */
import type { SyncContext } from '../../src/crawler/sync-context.js'

type CrawlerStore = SyncContext['store']

const DRIVER_TEXT = 'driver write '

export interface VisibilityDrain {
  /** Records made visible since the log was created (upserts and snapshot records). */
  visibleRecords: number
  deletes: number
  appliedWrites: number
  /** write → visible ms of driver records first seen since the previous drain. */
  latencies: number[]
  /** When visibleRecords first reached the `expect`ed count (ms since the epoch), else null. */
  reachedAt: number | null
}

export class VisibilityLog {
  visibleRecords = 0
  deletes = 0
  appliedWrites = 0
  private readonly seen = new Set<string>()
  private pending: number[] = []
  private target = Infinity
  private reachedAt: number | null = null

  /** Notes the moment visibleRecords reaches `n` (exact, instead of the orchestrator's polling period). */
  expect(n: number): void {
    this.target = n
    this.reachedAt = this.visibleRecords >= n ? Date.now() : null
  }

  /** Records `values` as visible now. */
  observe(values: Iterable<unknown>, deletes = 0, now = Date.now()): void {
    this.appliedWrites++
    this.deletes += deletes
    for (const value of values) {
      this.visibleRecords++
      if (this.reachedAt === null && this.visibleRecords >= this.target) this.reachedAt = now
      if (typeof value !== 'object' || value === null) continue
      const { text, createdAt } = value as { text?: unknown; createdAt?: unknown }
      if (typeof text !== 'string' || !text.startsWith(DRIVER_TEXT) || typeof createdAt !== 'string') continue
      if (this.seen.has(text)) continue
      this.seen.add(text)
      const at = Date.parse(createdAt)
      if (Number.isFinite(at)) this.pending.push(Math.max(0, now - at))
    }
  }

  drain(): VisibilityDrain {
    const latencies = this.pending
    this.pending = []
    return {
      visibleRecords: this.visibleRecords,
      deletes: this.deletes,
      appliedWrites: this.appliedWrites,
      latencies,
      reachedAt: this.reachedAt,
    }
  }
}

/** A SyncStore that logs what each applied repo write made visible, delegating everything to `store`. */
export function observingStore(store: CrawlerStore, log: VisibilityLog): CrawlerStore {
  const list = store.listRepoStates?.bind(store)
  const heads = store.knownRepoHeads?.bind(store)
  return {
    getRepoState: (space, author) => store.getRepoState(space, author),
    ...(list ? { listRepoStates: list } : {}),
    ...(heads ? { knownRepoHeads: heads } : {}),
    async applyRepoUpdate(update) {
      const res = await store.applyRepoUpdate(update)
      if (res.outcome === 'applied')
        log.observe(
          update.upserts.map((u) => u.value),
          update.deletes.length,
        )
      return res
    },
    async replaceRepo(snapshot) {
      const res = await store.replaceRepo(snapshot)
      if (res.outcome === 'applied') log.observe(snapshot.records.map((r) => r.value))
      return res
    },
    setRepoStatus: (space, author, status, reason) => store.setRepoStatus(space, author, status, reason),
    setAccountStatus: (did, status, at) => store.setAccountStatus(did, status, at),
    upsertSpace: (space) => store.upsertSpace(space),
    getSpace: (space) => store.getSpace(space),
    deleteSpace: (space) => store.deleteSpace(space),
    setAccessSnapshot: (space, snapshot, fetchedAt) => store.setAccessSnapshot(space, snapshot, fetchedAt),
  }
}
