/**
 * Notification hints, merged per repo before they reach Redis (group commit).
 *
 * At a high write rate most hints name a repo whose sync is already queued, and handling each on its own
 * cost Redis round trips per notification. Here hints that arrive while a flush is in flight wait for it
 * and go out together in the next one, and hints for the same repo in one batch become one (keeping the
 * earliest arrival time, which the notify → visible lag is measured from). An idle batcher flushes on the
 * next turn of the event loop, so a lone hint is not delayed by a timer.
 *
 * Invariants: a caller's promise settles only after the flush that carried its hint completed, and rejects
 * with that flush's error (so a notification is acknowledged only once its hint is recorded); at most one
 * flush runs at a time; a batch carries at most `maxBatch` repos, the rest go in the next one.
 */

export interface Hint {
  space: string
  repo: string
  /** When the (earliest merged) notification arrived, ms since the epoch. */
  hintAt: number
}

interface Entry {
  hint: Hint
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>
}

export class HintBatcher {
  private readonly pending = new Map<string, Entry>()
  private running = false

  constructor(
    private readonly flush: (hints: Hint[]) => Promise<void>,
    private readonly maxBatch = 500,
  ) {}

  /** Resolves once a flush carrying this hint (possibly merged with others for the repo) completed. */
  add(space: string, repo: string, hintAt: number): Promise<void> {
    const key = `${space}\n${repo}`
    let entry = this.pending.get(key)
    if (!entry) {
      entry = { hint: { space, repo, hintAt }, waiters: [] }
      this.pending.set(key, entry)
    } else if (hintAt < entry.hint.hintAt) {
      entry.hint.hintAt = hintAt
    }
    const waiters = entry.waiters
    const done = new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }))
    if (!this.running) {
      this.running = true
      setImmediate(() => void this.drain())
    }
    return done
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const batch: Entry[] = []
      for (const [key, entry] of this.pending) {
        this.pending.delete(key)
        batch.push(entry)
        if (batch.length >= this.maxBatch) break
      }
      try {
        await this.flush(batch.map((e) => e.hint))
        for (const e of batch) for (const w of e.waiters) w.resolve()
      } catch (err) {
        for (const e of batch) for (const w of e.waiters) w.reject(err)
      }
    }
    this.running = false
  }
}
