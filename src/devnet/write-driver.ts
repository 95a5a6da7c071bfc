/**
 * The write driver: sustained creates, updates and deletes at a target rate across spaces, sent through the
 * real HTTP write path (writer's devnet session → its host → notifyWrite → authority → registered syncers),
 * so everything a syncer observes is what a live network would show.
 *
 * Invariants: writes are paced against the clock (no burst above what is due); at most `concurrency`
 * requests are in flight; each write is by a listed, active writer into its own repo; updates and deletes
 * target a currently existing record; a failed write is counted, never retried. Choices come from a PRNG
 * seeded by `seed`, timing from the clock. Writes to one repo are sequential (like one user's client), so
 * an update or delete never races another write that removed its target.
 */
import type { Devnet } from './devnet.js'
import { httpCall } from './http-call.js'
import type { RecordRef } from './permissioned-repo.js'
import { GENERATED_COLLECTIONS } from './record-generator.js'
import { SeededRandom } from './seeded.js'

export interface WriteDriverOptions {
  /** Target writes per second (each HTTP write counts once, a batch included). */
  ratePerSec: number
  /** Share of updates and deletes (the rest are creates). Defaults 0.3 and 0.2. */
  updateFraction?: number
  deleteFraction?: number
  /** Share of writes sent as an applyWrites batch of 2–5 ops. Default 0.1. */
  batchFraction?: number
  /** Restrict to these spaces (default: every live space). */
  spaces?: string[]
  /** Stop after this long / this many writes. */
  durationMs?: number
  maxWrites?: number
  concurrency?: number
  seed?: string
}

export interface WriteDriverStats {
  attempted: number
  succeeded: number
  failed: number
  creates: number
  updates: number
  deletes: number
  batches: number
}

const TICK_MS = 20
const SPACE_LIST_TTL_MS = 5000

export class WriteDriver {
  readonly stats: WriteDriverStats = {
    attempted: 0,
    succeeded: 0,
    failed: 0,
    creates: 0,
    updates: 0,
    deletes: 0,
    batches: 0,
  }
  readonly done: Promise<void>
  private stopped = false
  private readonly rng: SeededRandom
  private readonly inFlight = new Set<Promise<void>>()
  /** Repos with a write in flight ("space did"). */
  private readonly busy = new Set<string>()
  private spaces: string[] | undefined
  private spacesAt = 0
  private seq = 0

  constructor(
    private readonly devnet: Devnet,
    private readonly opts: WriteDriverOptions,
  ) {
    if (!(opts.ratePerSec > 0)) throw new Error('write driver ratePerSec must be > 0')
    this.rng = SeededRandom.from(opts.seed ?? devnet.seed, 'write-driver')
    this.done = this.run()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.done
  }

  private async run(): Promise<void> {
    const started = performance.now()
    const limit = this.opts.concurrency ?? 64
    while (!this.stopped) {
      const elapsed = performance.now() - started
      if (this.opts.durationMs !== undefined && elapsed >= this.opts.durationMs) break
      if (this.opts.maxWrites !== undefined && this.stats.attempted >= this.opts.maxWrites) break
      let due = Math.floor((elapsed / 1000) * this.opts.ratePerSec) - this.stats.attempted
      if (this.opts.maxWrites !== undefined) due = Math.min(due, this.opts.maxWrites - this.stats.attempted)
      while (due-- > 0 && this.inFlight.size < limit) {
        // Every repo busy (or nothing writable): the write stays due until a later tick.
        const target = this.pickTarget()
        if (!target) break
        this.stats.attempted++
        const p = this.writeOnce(target)
          .then((ok) => {
            if (ok) this.stats.succeeded++
            else this.stats.failed++
          })
          .finally(() => this.inFlight.delete(p))
        this.inFlight.add(p)
      }
      await new Promise((resolve) => setTimeout(resolve, TICK_MS))
    }
    await Promise.allSettled([...this.inFlight])
  }

  /** Live spaces, re-listed every few seconds (listing 10k spaces per write would dominate the driver). */
  private spaceList(): string[] {
    if (this.opts.spaces) return this.opts.spaces
    if (!this.spaces || performance.now() - this.spacesAt > SPACE_LIST_TTL_MS) {
      this.spaces = this.devnet.spaces().map((s) => s.uri)
      this.spacesAt = performance.now()
    }
    return this.spaces
  }

  private pickTarget(): { space: string; did: string } | undefined {
    const spaces = this.spaceList()
    for (let attempt = 0; attempt < 8 && spaces.length > 0; attempt++) {
      const info = this.devnet.space(this.rng.pick(spaces))
      const writers =
        info?.writers.filter(
          (d) => this.devnet.accounts.get(d)?.status === 'active' && !this.busy.has(`${info.uri} ${d}`),
        ) ?? []
      if (info && writers.length > 0) return { space: info.uri, did: this.rng.pick(writers) }
    }
    return undefined
  }

  private newRecord(): { collection: string; record: Record<string, unknown> } {
    const collection = this.rng.pick(GENERATED_COLLECTIONS)
    return {
      collection,
      record: { $type: collection, text: `driver write ${++this.seq}`, createdAt: new Date().toISOString() },
    }
  }

  /** One HTTP write; resolves true on 2xx. */
  private async writeOnce(target: { space: string; did: string }): Promise<boolean> {
    const key = `${target.space} ${target.did}`
    this.busy.add(key)
    try {
      return await this.write(target.space, target.did)
    } finally {
      this.busy.delete(key)
    }
  }

  private async write(space: string, did: string): Promise<boolean> {
    const account = this.devnet.accounts.require(did)
    const host = this.devnet.hostOf(did).origin
    const repo = this.devnet.repo(space, did)
    const victimOf = () => repo?.pickPath((n) => this.rng.int(n))
    const roll = this.rng.next()
    const updateAt = this.opts.updateFraction ?? 0.3
    const deleteAt = updateAt + (this.opts.deleteFraction ?? 0.2)
    let nsid: string
    let body: Record<string, unknown>
    let victim: RecordRef | undefined
    if (this.rng.next() < (this.opts.batchFraction ?? 0.1)) {
      const writes: unknown[] = []
      const n = 2 + this.rng.int(4)
      for (let i = 0; i < n; i++) {
        const { collection, record } = this.newRecord()
        writes.push({ $type: 'com.atproto.space.applyWrites#create', collection, value: record })
      }
      victim = victimOf()
      if (victim)
        writes.push({
          $type: 'com.atproto.space.applyWrites#delete',
          collection: victim.collection,
          rkey: victim.rkey,
        })
      nsid = 'applyWrites'
      body = { space, repo: did, writes }
      this.stats.batches++
    } else if (roll < deleteAt && (victim = victimOf()) !== undefined) {
      if (roll < updateAt) {
        const { record } = this.newRecord()
        nsid = 'putRecord'
        body = {
          space,
          repo: did,
          collection: victim.collection,
          rkey: victim.rkey,
          record: { ...record, $type: victim.collection },
        }
        this.stats.updates++
      } else {
        nsid = 'deleteRecord'
        body = { space, repo: did, collection: victim.collection, rkey: victim.rkey }
        this.stats.deletes++
      }
    } else {
      nsid = 'createRecord'
      body = { space, repo: did, ...this.newRecord() }
      this.stats.creates++
    }
    try {
      const res = await httpCall({
        method: 'POST',
        url: `${host}/xrpc/com.atproto.space.${nsid}`,
        headers: { authorization: `Bearer ${account.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return res.status >= 200 && res.status < 300
    } catch {
      return false
    }
  }
}
