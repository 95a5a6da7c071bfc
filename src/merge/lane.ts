/**
 * A serial lane: tasks run one after another in submission order, whatever the outcome of the previous
 * one. The store runs every write (batch inserts, space lifecycle, purges) on one lane, so a batch's
 * compare-and-set reads are never interleaved with another write of this process.
 */
export class SerialLane {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task)
    this.tail = result.catch(() => undefined)
    return result
  }
}
