/**
 * The baseline: a straightforward sequential syncer, what one would write first. It answers "what do
 * spaceview's queues, batching and concurrency buy?" by doing the same job the plain way, on the same data,
 * in the same run:
 *
 * - one request at a time, ever (one loop, no queue, no concurrency, no per-host limiter);
 * - the same protocol core and client: SpaceClient over the same guarded HTTP client, credentials through
 *   the same exchange, getRepo CARs verified by openRepoCar, listRepoOps by RepoOpsApplier + verifyCommit;
 * - the same store type: an embedded merge store (same schema, same engine), but rows inserted one by one —
 *   one INSERT per record, tombstone and commit row, in the store's own row format, so the store's
 *   reader sees the result exactly as it would see spaceview's;
 * - repo state (rev, LtHash state, known keys) kept in memory, which is the simple choice.
 *
 * It follows writes either from notifications (its own notifyWrite receiver, checked with the same
 * service-auth verification, deduplicated FIFO) or by polling every repo in turn (notify-lost).
 *
 * Invariants: nothing is inserted before it verified (a CAR is read completely before its first row is
 * inserted; ops only after the head commit's signature and hash check); a failed repo is counted and
 * skipped, never retried in a loop; `stop()` ends the follow loop after the current repo.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { BuiltContext } from '../../src/crawler/build-context.js'
import type { HeldCredential } from '../../src/crawler/credential-manager.js'
import type { MemberSession } from '../../src/crawler/session-store.js'
import type { MergeStore } from '../../src/merge/store.js'
import { hex, RECORD_COLUMNS } from '../../src/merge/repo-rows.js'
import { commitTail, recordTail, rowHead, tombstoneTail } from './baseline-rows.js'
import { tableRef } from '../../src/merge/schema.js'
import { RECORDS } from '../../src/merge/tables.js'
import { handleNotification, NOTIFY_WRITE } from '../../src/crawler/notify-receiver.js'
import { identityKeyResolver } from '../../src/acl-filter/key-resolver.js'
import { verifyCommit } from '../../src/protocol/commit.js'
import { openRepoCar } from '../../src/protocol/repo-car.js'
import { RepoOpsApplier } from '../../src/protocol/repo-ops.js'
import { encodeRecordJson } from '../../src/protocol/record-codec.js'
import { ProtocolError } from '../../src/protocol/errors.js'
import type { VisibilityLog } from './visibility.js'

interface RepoMemo {
  space: string
  did: string
  rev: string
  state: Uint8Array
  hash: Uint8Array
  version: number
  keys: Set<string>
}

export interface BaselineCounters {
  requests: number
  recordsVerified: number
  rowsInserted: number
  reposFetched: number
  reposSynced: number
  notificationsAccepted: number
  errors: Record<string, number>
}

const key = (space: string, did: string) => `${space}\n${did}`

export class BaselineSyncer {
  readonly counters: BaselineCounters = {
    requests: 0,
    recordsVerified: 0,
    rowsInserted: 0,
    reposFetched: 0,
    reposSynced: 0,
    notificationsAccepted: 0,
    errors: {},
  }
  private readonly repos = new Map<string, RepoMemo>()
  private readonly epochs = new Map<string, number>()
  private readonly queue = new Set<string>()
  private wake: (() => void) | undefined
  private stopping = false
  private following: Promise<void> | undefined
  private readonly records: string

  constructor(
    private readonly ctx: BuiltContext,
    private readonly store: MergeStore,
    private readonly log: VisibilityLog,
  ) {
    this.records = tableRef(store.clickhouse.target, RECORDS.name)
  }

  async addSpaces(spaces: string[], session: MemberSession): Promise<void> {
    for (const space of spaces) await this.ctx.sessions.addSpace(space, session)
  }

  private fail(what: string, err: unknown): void {
    const reason =
      `${what}: ${(err as { reason?: string; kind?: string }).reason ?? (err as { kind?: string }).kind ?? (err as Error).message}`.slice(
        0,
        120,
      )
    this.counters.errors[reason] = (this.counters.errors[reason] ?? 0) + 1
  }

  private async insertRow(line: string): Promise<void> {
    await this.store.clickhouse.insertTsv(this.records, RECORD_COLUMNS, [`${line}\n`], 1)
    this.counters.rowsInserted++
  }

  private async epoch(space: string): Promise<number> {
    let epoch = this.epochs.get(space)
    if (epoch === undefined) {
      epoch = (await this.store.upsertSpace(space)).epoch
      this.epochs.set(space, epoch)
    }
    return epoch
  }

  /** Backfills `spaces` one repo at a time, until done or `deadline` (ms since the epoch). */
  async backfill(spaces: string[], deadline: number): Promise<{ complete: boolean }> {
    for (const space of spaces) {
      if (Date.now() > deadline || this.stopping) return { complete: false }
      try {
        const cred = await this.ctx.creds.get(space)
        await this.epoch(space)
        for await (const page of this.ctx.client.listReposPages(cred.spaceHost, cred, {
          space,
          limit: 1000,
        })) {
          this.counters.requests++
          for (const hint of page.repos) {
            if (Date.now() > deadline || this.stopping) return { complete: false }
            await this.fetchRepo(space, hint.did, cred).catch((err) => this.fail('getRepo', err))
          }
        }
      } catch (err) {
        this.fail('space', err)
      }
    }
    return { complete: true }
  }

  /** Full fetch: getRepo CAR, verified completely, then inserted row by row. */
  private async fetchRepo(space: string, did: string, cred: HeldCredential): Promise<void> {
    const epoch = await this.epoch(space)
    const { pds, didKey } = await this.ctx.hosts.repoHost(did)
    this.counters.requests++
    const body = await this.ctx.client.getRepo(pds, cred, { space, repo: did })
    const car = await openRepoCar(body, {
      space,
      author: did,
      didKey,
      expectValues: true,
      maxBytes: this.ctx.maxCarBytes,
    })
    const verified: Array<{ collection: string; rkey: string; cid: string; value: unknown }> = []
    for await (const r of car.records())
      verified.push({ collection: r.collection, rkey: r.rkey, cid: r.cid, value: r.value })
    this.counters.recordsVerified += verified.length
    const prev = this.repos.get(key(space, did))
    const version = (prev?.version ?? 0) + 1
    const head = rowHead(space, epoch, did, version, car.head.rev, new Date())
    const fresh = new Set(verified.map((r) => `${r.collection}/${r.rkey}`))
    for (const path of prev?.keys ?? []) {
      if (fresh.has(path)) continue
      const slash = path.indexOf('/')
      await this.insertRow(
        head + tombstoneTail({ collection: path.slice(0, slash), rkey: path.slice(slash + 1) }),
      )
    }
    for (const r of verified) {
      await this.insertRow(head + recordTail(r))
      this.log.observe([r.value])
    }
    await this.insertRow(
      head +
        commitTail({
          ltStateHex: hex(car.head.state),
          commitHashHex: hex(car.head.hash),
          generation: 1,
          status: 'active',
          reason: '',
        }),
    )
    this.repos.set(key(space, did), {
      space,
      did,
      rev: car.head.rev,
      state: car.head.state,
      hash: car.head.hash,
      version,
      keys: fresh,
    })
    this.counters.reposFetched++
  }

  /** Incremental: listRepoOps from our rev, verified, applied row by row; a full fetch on divergence. */
  private async syncRepo(space: string, did: string): Promise<void> {
    const memo = this.repos.get(key(space, did))
    const cred = await this.ctx.creds.get(space)
    if (!memo) return this.fetchRepo(space, did, cred)
    const { pds, didKey } = await this.ctx.hosts.repoHost(did)
    const applier = new RepoOpsApplier(memo.state, memo.rev)
    let commit
    for await (const page of this.ctx.client.listRepoOpsPages(pds, cred, {
      space,
      repo: did,
      since: memo.rev,
      limit: 1000,
    })) {
      this.counters.requests++
      applier.apply(page.ops)
      if (page.commit) commit = page.commit
    }
    if (!commit || commit.rev === memo.rev) return
    await verifyCommit({ commit, space, author: did, didKey })
    let out
    try {
      out = applier.finish(commit)
    } catch (err) {
      this.fail('divergence', err)
      return this.fetchRepo(space, did, cred)
    }
    this.counters.recordsVerified += applier.opCount
    const values = new Map<string, unknown>()
    for (const path of out.needValues) {
      const slash = path.indexOf('/')
      const collection = path.slice(0, slash)
      const rkey = path.slice(slash + 1)
      this.counters.requests++
      const rec = await this.ctx.client.getRecord(pds, cred, { space, repo: did, collection, rkey })
      const want = out.changes.find(
        (c) => c.kind === 'upsert' && c.collection === collection && c.rkey === rkey,
      )
      if (!want || want.kind !== 'upsert' || encodeRecordJson(rec.value).cid.toString() !== want.cid)
        throw new ProtocolError('record_cid_mismatch', `getRecord ${path} does not hash to the verified CID`)
      values.set(path, rec.value)
    }
    const epoch = await this.epoch(space)
    const version = memo.version + 1
    const head = rowHead(space, epoch, did, version, out.rev, new Date())
    for (const c of out.changes) {
      const path = `${c.collection}/${c.rkey}`
      if (c.kind === 'delete') {
        await this.insertRow(head + tombstoneTail(c))
        memo.keys.delete(path)
        this.log.observe([], 1)
        continue
      }
      const value = values.get(path) ?? c.value
      await this.insertRow(head + recordTail({ collection: c.collection, rkey: c.rkey, cid: c.cid, value }))
      memo.keys.add(path)
      this.log.observe([value])
    }
    await this.insertRow(
      head +
        commitTail({
          ltStateHex: hex(out.state),
          commitHashHex: hex(commit.hash),
          generation: 1,
          status: 'active',
          reason: '',
        }),
    )
    Object.assign(memo, { rev: out.rev, state: out.state, hash: commit.hash, version })
    this.counters.reposSynced++
  }

  /** Registers `serviceId` for notifications on every space (one request at a time). */
  async register(spaces: string[], serviceId: string): Promise<void> {
    for (const space of spaces) {
      try {
        const cred = await this.ctx.creds.get(space)
        this.counters.requests++
        await this.ctx.client.registerNotify(cred.spaceHost, cred, { space, service: serviceId })
      } catch (err) {
        this.fail('registerNotify', err)
      }
    }
  }

  /** An HTTP handler for notifyWrite addressed to `serviceId`: verified, then queued (deduplicated). */
  notifyHandler(serviceId: string): (req: IncomingMessage, res: ServerResponse) => void {
    const deps = {
      serviceId,
      resolveKey: identityKeyResolver(this.ctx.identity),
      store: {
        knownRepoHead: (space: string, repo: string) => {
          const m = this.repos.get(key(space, repo))
          return m ? { rev: m.rev, commitHash: m.hash } : null
        },
      },
      metrics: this.ctx.metrics,
      isSynced: (space: string) => this.ctx.sessions.hasSpace(space),
      enqueueSync: async (space: string, repo: string) => {
        this.counters.notificationsAccepted++
        this.queue.add(key(space, repo))
        this.wake?.()
      },
      spaceDeleted: async () => {},
    }
    return (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        handleNotification(deps, NOTIFY_WRITE, req.headers.authorization, Buffer.concat(chunks))
          .then((reply) => {
            res.writeHead(reply.status, { 'content-type': 'application/json' })
            res.end(JSON.stringify(reply.body))
          })
          .catch((err: Error) => {
            this.fail('notify', err)
            res.writeHead(500).end()
          })
      })
    }
  }

  /**
   * Follows writes until stop(): 'notify' drains the notification queue one repo at a time; 'poll' walks
   * every known repo in turn, forever (what converges when notifications are lost).
   */
  follow(mode: 'notify' | 'poll'): void {
    this.stopping = false
    this.following = (async () => {
      while (!this.stopping) {
        if (mode === 'poll') {
          const all = [...this.repos.values()]
          if (all.length === 0) await new Promise((r) => setTimeout(r, 100))
          for (const m of all) {
            if (this.stopping) break
            await this.syncRepo(m.space, m.did).catch((err) => this.fail('sync', err))
          }
          continue
        }
        const next = this.queue.values().next()
        if (next.done) {
          await new Promise<void>((resolve) => {
            this.wake = resolve
            setTimeout(resolve, 200)
          })
          this.wake = undefined
          continue
        }
        this.queue.delete(next.value)
        const [space, did] = next.value.split('\n') as [string, string]
        await this.syncRepo(space, did).catch((err) => this.fail('sync', err))
      }
    })()
  }

  /** Current rev of each (space, did) the baseline holds (null when it has none). */
  revs(repos: Array<[string, string]>): Array<string | null> {
    return repos.map(([space, did]) => this.repos.get(key(space, did))?.rev ?? null)
  }

  get backlog(): number {
    return this.queue.size
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.following
  }
}
