/**
 * Groups writes into batches by size and time (group commit). On an idle batcher a batch is flushed when
 * it holds `maxRows` rows, or when its oldest item has waited `maxDelayMs`. Items arriving while a flush
 * runs join the next batch, which is flushed when that flush ends, but no sooner than `minPeriodMs` after
 * the previous flush started: under load batches grow with the insert time or the period, whichever is
 * longer, instead of waiting on a timer, and at low load a write waits at most `maxDelayMs` (or what is
 * left of the period) plus one flush. The period exists because every insert has a fixed cost in the
 * engine (a part to write, and later to merge) that back-to-back small inserts pay many times a second.
 * A batch that reaches `maxRows` goes at once. Flushes never overlap. Each item's promise settles with its
 * own result after its batch was written, so a caller acknowledges its job only once the write is
 * durable; if the flush fails, every item of that batch rejects (nothing of it was written, see
 * repo-writer.ts) and the callers retry. Items are validated before they are added, so one bad write
 * cannot fail its companions.
 *
 * An item larger than `maxRows` is flushed alone: a batch always takes at least one item.
 */

export interface BatcherOptions<T, R> {
  maxRows: number
  maxDelayMs: number
  /** Least time between the starts of two flushes, unless a batch is full (default 0: back to back). */
  minPeriodMs?: number
  size: (item: T) => number
  /** Writes `items`, returning one result per item in order. */
  flush: (items: T[], waitedMs: number) => Promise<R[]>
}

interface Pending<T, R> {
  item: T
  rows: number
  at: number
  resolve: (r: R) => void
  reject: (e: unknown) => void
}

export class Batcher<T, R> {
  private pending: Pending<T, R>[] = []
  private pendingRows = 0
  private flushing: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private draining = false
  /** performance.now() when the last flush started. */
  private lastStart = -Infinity

  constructor(private readonly opts: BatcherOptions<T, R>) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const rows = this.opts.size(item)
      this.pending.push({ item, rows, at: performance.now(), resolve, reject })
      this.pendingRows += rows
      this.schedule()
    })
  }

  /** Writes everything added so far and waits for it. */
  async drain(): Promise<void> {
    this.draining = true
    try {
      while (this.pending.length > 0 || this.flushing !== null) {
        if (this.flushing === null) this.start()
        await this.flushing
      }
    } finally {
      this.draining = false
    }
  }

  private schedule(afterFlush = false): void {
    if (this.flushing !== null || this.pending.length === 0) return
    if (this.draining || this.pendingRows >= this.opts.maxRows) {
      this.start()
      return
    }
    if (this.timer !== null) return
    // Items left over from a flush have waited one already: only the period holds them back.
    const slot = this.lastStart + (this.opts.minPeriodMs ?? 0)
    const due = afterFlush ? slot : Math.max(slot, this.pending[0]!.at + this.opts.maxDelayMs)
    const wait = due - performance.now()
    // An idle batcher always yields a turn, so writes issued together (Promise.all) share the batch.
    if (afterFlush && wait <= 0) this.start()
    else this.timer = setTimeout(() => this.start(), Math.max(0, wait))
  }

  private start(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.flushing !== null || this.pending.length === 0) return
    let n = 0
    let rows = 0
    while (n < this.pending.length && (n === 0 || rows + this.pending[n]!.rows <= this.opts.maxRows)) {
      rows += this.pending[n]!.rows
      n++
    }
    this.lastStart = performance.now()
    const batch = this.pending.splice(0, n)
    this.pendingRows -= rows
    const waited = performance.now() - batch[0]!.at
    this.flushing = this.run(batch, waited).finally(() => {
      this.flushing = null
      this.schedule(true)
    })
  }

  private async run(batch: Pending<T, R>[], waited: number): Promise<void> {
    try {
      const results = await this.opts.flush(
        batch.map((p) => p.item),
        waited,
      )
      batch.forEach((p, i) => p.resolve(results[i]!))
    } catch (err) {
      for (const p of batch) p.reject(err)
    }
  }
}
