/**
 * Coalesces repo-state reads that miss the hint cache: the misses of one space that arrive together, or
 * while that space's previous read is running, are answered by ONE `author IN [...]` query (group commit,
 * as for writes). On the embedded engine a read costs ~5 ms of engine CPU whatever its size, and the
 * crawler's repo jobs ask for states of the same space in bursts (a sweep enqueues every writer).
 *
 * Invariant: a request is only ever answered by a query that started after the request was made, so it
 * sees every write that was visible when it asked (the hint cache's no-stale-fill rule rests on this).
 */
import type { RepoCommit } from './record-reader.js'

/** Authors per query: keeps bound parameters small (HTTP sends them in the URL). */
const MAX_AUTHORS = 1000

type Waiter = { resolve: (c: RepoCommit | null) => void; reject: (e: unknown) => void }

interface SpaceQueue {
  waiting: Map<string, Waiter[]>
  running: boolean
}

export class CommitLoader {
  private readonly queues = new Map<string, SpaceQueue>()

  constructor(
    private readonly read: (space: string, authors: readonly string[]) => Promise<Map<string, RepoCommit>>,
  ) {}

  /** The stored commit of (space, author), or null if nothing is stored. */
  load(space: string, author: string): Promise<RepoCommit | null> {
    return new Promise((resolve, reject) => {
      let q = this.queues.get(space)
      if (q === undefined) {
        q = { waiting: new Map(), running: false }
        this.queues.set(space, q)
      }
      const waiters = q.waiting.get(author)
      if (waiters === undefined) q.waiting.set(author, [{ resolve, reject }])
      else waiters.push({ resolve, reject })
      // Start after the current microtasks, so requests made in the same tick share the query.
      if (!q.running) {
        q.running = true
        queueMicrotask(() => void this.run(space, q))
      }
    })
  }

  private async run(space: string, q: SpaceQueue): Promise<void> {
    while (q.waiting.size > 0) {
      const batch = new Map<string, Waiter[]>()
      for (const [author, waiters] of q.waiting) {
        if (batch.size === MAX_AUTHORS) break
        batch.set(author, waiters)
      }
      for (const author of batch.keys()) q.waiting.delete(author)
      try {
        const commits = await this.read(space, [...batch.keys()])
        for (const [author, waiters] of batch) for (const w of waiters) w.resolve(commits.get(author) ?? null)
      } catch (err) {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(err)
      }
    }
    q.running = false
    this.queues.delete(space)
  }
}
