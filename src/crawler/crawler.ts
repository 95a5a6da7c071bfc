/**
 * The crawler: BullMQ queues and workers wired to the plain-function processors.
 *
 *   space-bootstrap  credential → store space → listRepos → repo-sync per writer; schedules; registerNotify
 *   sweep            (scheduled per space) listRepos hints vs our state → repo-sync for what differs
 *   repo-sync        listRepoOps from our rev, verified → store (again, a bounded number of times, while
 *                    hints for the repo keep arriving); divergence → repo-recovery
 *   repo-recovery    getRepo CAR, verified → new generation swapped in
 *   notify-renewal   (scheduled per space) registerNotify well before the 24 h expiry
 *   dead-letter      jobs that used up their attempts, with the reason
 *
 * Invariants: job ids are hashes of (space, repo), so duplicates coalesce while queued — and only while
 * queued: a job that used up its attempts is copied to dead-letter and removed, because BullMQ ignores an
 * add whose id a kept failed job still holds, and the repo (or space) would never be pulled again; a hint that
 * arrives while its repo's job runs sets a dirty flag, and the job pulls again (or is queued again when it
 * completes), so no hint is lost to coalescing. The dirty flag holds the time of the first hint since the
 * repo's last pull started (a pull deletes it when it starts): notifications are merged per repo in
 * process (hint-batcher.ts) and a notification that finds a fresh flag adds no job, because one that has
 * not started yet — or the next pull of the one running — will pull its write; a flag older than
 * DIRTY_FRESH_MS no longer vouches for that (its job may have been lost with a crashed process), and the
 * hint adds the job again; jobs that cannot reach their host right now (busy, rate limited, open circuit)
 * move themselves to the delayed set instead of holding a worker slot; every processor re-reads
 * state when it runs, so retries and duplicates are harmless; N worker processes give the same result as
 * one. A space's sweep schedule is installed when the space is added, and a sweep of a space that never
 * finished its bootstrap runs the bootstrap: a bootstrap that used up its attempts (space host down or
 * rate limiting the credential exchange for longer than the backoff) is retried on that schedule instead
 * of leaving the space stuck. Queue wiring lives here; processors know nothing of BullMQ.
 */
import { DelayedError, Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { isProtocolError } from '../protocol/errors.js'
import type { SyncContext } from './sync-context.js'
import { jobId, QUEUE_NAMES, type DeadLetter, type QueueName, type RepoJob, type SpaceJob } from './queues.js'
import { syncRepo } from './repo-sync.js'
import { recoverRepo } from './repo-recovery.js'
import { renewNotify, sweepSpace } from './space-sweep.js'
import { deferralDelayMs, HostBusyError } from './host-call.js'
import { NeedsAuthorizationError, SpaceDeletedError } from './credential-manager.js'
import { isSpaceCallError } from './space-errors.js'
import { getSpaceStatus, setSpaceStatus } from './space-status.js'
import { HintBatcher, type Hint } from './hint-batcher.js'

export interface CrawlerOptions {
  /** Queues this process works on (default: all). Any process may enqueue to any queue. */
  work?: QueueName[]
  /** Jobs in flight per queue in this process (default 16), unless `queueConcurrency` names the queue. */
  concurrency?: number
  /**
   * Per-queue overrides of `concurrency`. repo-sync wants more: a busy repo's job holds its slot for up to
   * SYNC_ROUNDS pulls, so with fewer slots than busy repos the others wait in the queue for whole jobs.
   */
  queueConcurrency?: Partial<Record<QueueName, number>>
  attempts?: number
  sweepIntervalSec: number
  notifyRenewSec: number
  /** Every n-th sweep pulls every writer, whatever its hint says. */
  fullCheckEvery?: number
  /**
   * Lifetime of a job's lock (BullMQ renews it at half that while the job runs) and the interval of the
   * stalled-job check. When a worker process dies, its active jobs go back to the queue for the other
   * workers within roughly the lock lifetime plus two checks (defaults 15 s and 5 s; BullMQ's 30 s and
   * 30 s left a killed worker's repos untouched for a minute and more).
   */
  jobLockMs?: number
  stalledCheckMs?: number
  prefix?: string
}

const dirtyKey = (space: string, repo: string) => `sv:dirty:${space}|${repo}`
const DIRTY_TTL_SEC = 3600
/** Pulls one repo-sync job makes at most while hints keep arriving for its repo (runSync). */
const SYNC_ROUNDS = 8
/** A dirty flag younger than this stands for a sync that is queued or will be re-run (module comment). */
const DIRTY_FRESH_MS = 10_000
/**
 * KEYS: the dirty flags of a batch of hinted repos; ARGV: their hint times (ms), then the TTL (s) and
 * DIRTY_FRESH_MS. Per repo: a fresh flag is kept and answers 0 (a sync will pull the hinted write);
 * otherwise the flag is set to the hint time and answers 1 (add the job). One script for the whole batch.
 */
const MARK_DIRTY = `local n = #KEYS
local ttl, fresh = ARGV[n + 1], tonumber(ARGV[n + 2])
local out = {}
for i = 1, n do
  local old = tonumber(redis.call('GET', KEYS[i]) or '')
  if old and tonumber(ARGV[i]) - old < fresh then
    out[i] = 0
  else
    redis.call('SET', KEYS[i], ARGV[i], 'EX', ttl)
    out[i] = 1
  end
end
return out`
const MARK_DIRTY_COMMAND = 'spaceviewMarkDirty'
type MarkDirty = (...args: Array<string | number>) => Promise<number[]>
const sweepLockKey = (space: string) => `sv:sweep-lock:${space}`
/** A sweep lock outlives a crashed worker by at most this long (sweeps run far shorter). */
const SWEEP_LOCK_MS = 60_000
const RELEASE_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
/** RELEASE_IF_OWNER as a command of the shared connection: sent as EVALSHA, not the script every time. */
const RELEASE_IF_OWNER_COMMAND = 'spaceviewReleaseIfOwner'
type ReleaseIfOwner = (key: string, token: string) => Promise<number>
/** Set when a sync needed a recovery: a hint for a repo whose recovery is already running must not be lost. */
const recoverDirtyKey = (space: string, repo: string) => `sv:recover-dirty:${space}|${repo}`

/**
 * When a new space's schedule first sweeps: between half and one and a half intervals from now, at random.
 * Spaces added together (thousands at once for a new deployment) would otherwise sweep in the same instant
 * every interval, and the first such burst lands on a backfill still under way (measured: 10,000 spaces'
 * sweeps at 300 s took the worker slots and the store's read connections, and the backfill fell from ~900
 * to ~100 records/s).
 */
export function firstSweepDelayMs(everyMs: number, random: () => number = Math.random): number {
  return Math.floor(everyMs * (0.5 + random()))
}

export class Crawler {
  readonly queues: Record<QueueName, Queue>
  private readonly workers: Worker[] = []
  /** The workers' own (blocking) connections: BullMQ leaves a connection it was given open on close. */
  private readonly workerConnections: Redis[] = []
  private readonly releaseIfOwner: ReleaseIfOwner
  private readonly hints = new HintBatcher((batch) => this.flushHints(batch))

  constructor(
    private readonly ctx: SyncContext,
    private readonly connection: Redis,
    private readonly opts: CrawlerOptions,
  ) {
    const redis = ctx.redis
    if (!(RELEASE_IF_OWNER_COMMAND in redis))
      redis.defineCommand(RELEASE_IF_OWNER_COMMAND, { numberOfKeys: 1, lua: RELEASE_IF_OWNER })
    // No fixed key count: the first argument of each call says how many keys follow.
    if (!(MARK_DIRTY_COMMAND in redis)) redis.defineCommand(MARK_DIRTY_COMMAND, { lua: MARK_DIRTY })
    this.releaseIfOwner = (redis as unknown as Record<string, ReleaseIfOwner>)[
      RELEASE_IF_OWNER_COMMAND
    ]!.bind(redis)
    const prefix = opts.prefix ?? 'sv'
    this.queues = Object.fromEntries(
      QUEUE_NAMES.map((q) => [q, new Queue(q, { connection, prefix })]),
    ) as Record<QueueName, Queue>
  }

  private jobOptions(id: string): JobsOptions {
    return { jobId: id, ...this.retryOptions() }
  }

  /**
   * Retries, and nothing kept after the last attempt, for every job: also the jobs of the per-space
   * schedules (sweeps, notify renewals), which BullMQ otherwise runs once (a host's transient reset
   * dead-lettered the sweep: 51 of them in the 10,000-spaces load test) and keeps when failed.
   */
  private retryOptions(): Pick<JobsOptions, 'attempts' | 'backoff' | 'removeOnComplete' | 'removeOnFail'> {
    return {
      attempts: this.opts.attempts ?? 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      // The dead-letter queue keeps the job and its reason; a kept failed job would block its id forever.
      removeOnFail: true,
    }
  }

  /** Starts workers for this process's queues. */
  start(): void {
    const prefix = this.opts.prefix ?? 'sv'
    const work = this.opts.work ?? QUEUE_NAMES.filter((q) => q !== 'dead-letter')
    for (const name of work) {
      const connection = this.connection.duplicate({ maxRetriesPerRequest: null })
      this.workerConnections.push(connection)
      const worker = new Worker(name, (job, token) => this.process(name, job, token), {
        connection,
        prefix,
        concurrency: this.opts.queueConcurrency?.[name] ?? this.opts.concurrency ?? 16,
        lockDuration: this.opts.jobLockMs ?? 15_000,
        stalledInterval: this.opts.stalledCheckMs ?? 5_000,
        // Jobs are idempotent, so a job caught by the stall check twice (a very long event-loop pause, not
        // only a dead worker) is still run again rather than failed.
        maxStalledCount: 2,
      })
      worker.on('failed', (job, err) => void this.onFailed(name, job, err))
      worker.on('completed', (job) => void this.onCompleted(name, job))
      worker.on('error', (err) => this.ctx.logger.error({ err: err.message, queue: name }, 'worker error'))
      this.workers.push(worker)
    }
  }

  async addSpace(space: string): Promise<void> {
    await setSpaceStatus(this.ctx.redis, space, 'bootstrapping')
    await this.scheduleSweep(space)
    await this.queues['space-bootstrap'].add(
      'bootstrap',
      { space } satisfies SpaceJob,
      this.jobOptions(jobId('space-bootstrap', space)),
    )
  }

  private async scheduleSweep(space: string): Promise<void> {
    // The first sweep is due about one interval from now: the bootstrap is the first sweep (BullMQ would
    // otherwise run an `every` schedule at once, a second bootstrap of a space still bootstrapping).
    // Re-installing an existing schedule keeps its timing.
    const every = this.opts.sweepIntervalSec * 1000
    await this.queues.sweep.upsertJobScheduler(
      `sweep:${space}`,
      { every, startDate: Date.now() + firstSweepDelayMs(every) },
      { name: 'sweep', data: { space }, opts: this.retryOptions() },
    )
  }

  /** Queues a sync; if one for the same repo is running, marks it dirty so it runs again after. */
  async enqueueSync(space: string, repo: string, cause: RepoJob['cause'], hintAt?: number): Promise<void> {
    // The mark holds a hint time only for hints (0 otherwise), so a re-run never counts as notify → visible.
    await this.ctx.redis.set(dirtyKey(space, repo), String(hintAt ?? 0), 'EX', DIRTY_TTL_SEC)
    await this.addSync(space, repo, cause, hintAt)
  }

  /**
   * A verified notification's hint: merged with others in process, then one Redis round trip per batch
   * marks the repos dirty, and only repos without a fresh mark get a job (module comment). Resolves once
   * the hint is recorded.
   */
  hint(space: string, repo: string, hintAt: number): Promise<void> {
    return this.hints.add(space, repo, hintAt)
  }

  private async flushHints(hints: Hint[]): Promise<void> {
    const markDirty = (this.ctx.redis as unknown as Record<string, MarkDirty>)[MARK_DIRTY_COMMAND]!
    const fresh = await markDirty.call(
      this.ctx.redis,
      hints.length,
      ...hints.map((h) => dirtyKey(h.space, h.repo)),
      ...hints.map((h) => h.hintAt),
      DIRTY_TTL_SEC,
      DIRTY_FRESH_MS,
    )
    const add = hints.filter((_, i) => fresh[i] === 1)
    if (add.length === 0) return
    try {
      await this.queues['repo-sync'].addBulk(
        add.map((h) => ({
          name: 'sync',
          data: { space: h.space, repo: h.repo, cause: 'notify', hintAt: h.hintAt } satisfies RepoJob,
          opts: this.jobOptions(jobId('repo-sync', h.space, h.repo)),
        })),
      )
    } catch (err) {
      // Marks without a job would make the next hints skip their add until the marks age out.
      await this.ctx.redis.del(...add.map((h) => dirtyKey(h.space, h.repo))).catch(() => undefined)
      throw err
    }
  }

  private async addSync(
    space: string,
    repo: string,
    cause: RepoJob['cause'],
    hintAt?: number,
  ): Promise<void> {
    const data: RepoJob = hintAt === undefined ? { space, repo, cause } : { space, repo, cause, hintAt }
    await this.queues['repo-sync'].add('sync', data, this.jobOptions(jobId('repo-sync', space, repo)))
  }

  /** `unsynced`: the caller just found no verified state for the repo (the recovery skips that read). */
  async enqueueRecovery(
    space: string,
    repo: string,
    cause: RepoJob['cause'],
    unsynced = false,
  ): Promise<void> {
    const data: RepoJob = unsynced ? { space, repo, cause, unsynced } : { space, repo, cause }
    await this.queues['repo-recovery'].add(
      'recover',
      data,
      this.jobOptions(jobId('repo-recovery', space, repo)),
    )
  }

  /** A verified deletion: drop the space's data (tombstone kept), stop its schedules and credential. */
  async spaceDeleted(space: string): Promise<void> {
    await this.ctx.store.deleteSpace(space)
    await this.queues.sweep.removeJobScheduler(`sweep:${space}`)
    await this.queues['notify-renewal'].removeJobScheduler(`renew:${space}`)
    await this.ctx.creds.forget(space)
    await setSpaceStatus(this.ctx.redis, space, 'deleted')
    this.ctx.logger.info({ space }, 'space deleted by its authority; data removed')
  }

  private async process(queue: QueueName, job: Job, token?: string): Promise<unknown> {
    const stop = this.ctx.metrics.jobDuration.startTimer({ queue })
    try {
      const out = await this.run(queue, job)
      stop({ outcome: 'completed' })
      return out
    } catch (err) {
      if (err instanceof HostBusyError && token) {
        stop({ outcome: 'completed' })
        await job.moveToDelayed(Date.now() + deferralDelayMs(err.retryInMs), token)
        throw new DelayedError()
      }
      stop({ outcome: 'failed' })
      if (err instanceof SpaceDeletedError) {
        await this.spaceDeleted(err.space)
        return { deleted: true }
      }
      if (err instanceof NeedsAuthorizationError) {
        await setSpaceStatus(this.ctx.redis, err.space, 'needs_authorization', err.lastReason)
        throw new UnrecoverableError(err.message)
      }
      if (isProtocolError(err)) {
        this.ctx.metrics.verificationFailures.inc({ reason: err.reason })
        const data = job.data as Partial<RepoJob>
        if (data.repo) await this.ctx.store.setRepoStatus(data.space!, data.repo, 'failed', err.reason)
      }
      throw err
    }
  }

  private async run(queue: QueueName, job: Job): Promise<unknown> {
    switch (queue) {
      case 'space-bootstrap':
      case 'sweep': {
        const { space } = job.data as SpaceJob
        // One sweep of a space at a time: scheduled sweeps overlap whenever one takes longer than the
        // interval (a slow store, a slow host), and an overlapping sweep only repeats the same host calls,
        // store reads and enqueues. A sweep that finds the space locked has nothing to add; a bootstrap
        // (first sweep, or the space added again) always runs.
        const token = `${process.pid}:${job.id ?? ''}:${Date.now()}`
        const lockKey = sweepLockKey(space)
        const locked =
          queue === 'sweep'
            ? await this.ctx.redis.set(lockKey, token, 'PX', SWEEP_LOCK_MS, 'NX')
            : await this.ctx.redis.set(lockKey, token, 'PX', SWEEP_LOCK_MS)
        if (locked !== 'OK') return { skipped: 'another sweep of this space is running' }
        try {
          return await this.sweep(queue, space)
        } finally {
          await this.releaseIfOwner(lockKey, token)
        }
      }
      case 'repo-sync':
        return this.runSync(job.data as RepoJob)
      case 'repo-recovery': {
        const { space, repo, unsynced } = job.data as RepoJob
        // Hints from here on may be newer than the CAR this run fetches; onCompleted pulls them.
        await this.ctx.redis.del(recoverDirtyKey(space, repo))
        const res = await recoverRepo(this.ctx, space, repo, { unsynced: unsynced === true }).catch((err) =>
          this.repoFailure(space, repo, err, 'full'),
        )
        if (res && res.kind === 'recovered') {
          this.ctx.metrics.repoSyncs.inc({ mode: 'full', outcome: 'ok' })
          this.ctx.metrics.recordsStored.inc({ op: 'create' }, res.records)
        }
        return res
      }
      case 'notify-renewal': {
        const { space } = job.data as SpaceJob
        return { expiresAt: await renewNotify(this.ctx, space) }
      }
      default:
        return null
    }
  }

  /** A bootstrap or scheduled sweep of one space (under the space's sweep lock). */
  private async sweep(queue: QueueName, space: string): Promise<unknown> {
    // A sweep of a space still bootstrapping is a retry of a bootstrap that ran out of attempts.
    const bootstrap =
      queue === 'space-bootstrap' || (await getSpaceStatus(this.ctx.redis, space))?.status === 'bootstrapping'
    const res = await sweepSpace(this.ctx, space, {
      bootstrap,
      fullCheckEvery: this.opts.fullCheckEvery ?? 12,
    })
    const cause = bootstrap ? 'bootstrap' : 'sweep'
    const unsynced = new Set(res.unsynced)
    for (const repo of res.stale) {
      // A repo we hold nothing for can only be fetched whole: skip the incremental job that would say so.
      if (unsynced.has(repo)) await this.enqueueRecovery(space, repo, cause, true)
      else await this.enqueueSync(space, repo, cause)
    }
    if (bootstrap) {
      await this.scheduleSweep(space)
      // This run just registered: the first renewal is due one interval from now, not at once.
      const renewEvery = this.opts.notifyRenewSec * 1000
      await this.queues['notify-renewal'].upsertJobScheduler(
        `renew:${space}`,
        { every: renewEvery, startDate: Date.now() + renewEvery },
        { name: 'renew', data: { space }, opts: this.retryOptions() },
      )
      if (res.registered) this.ctx.metrics.notifyRegistrationsActive.inc()
    }
    await setSpaceStatus(this.ctx.redis, space, 'active')
    return { writers: res.writers, stale: res.stale.length }
  }

  /**
   * One repo-sync job: a pull, and again while hints arrived during the previous one (the repo's dirty
   * mark), up to SYNC_ROUNDS pulls. Going round in the job saves a trip through the queue per pull of a
   * busy repo; the bound keeps one busy repo from holding a worker slot, and a mark left after the last
   * round re-queues the repo when the job completes (onCompleted).
   */
  private async runSync(data: RepoJob): Promise<unknown> {
    const { space, repo } = data
    const key = dirtyKey(space, repo)
    await this.ctx.redis.del(key)
    let hintAt = data.hintAt
    for (let round = 1; ; round++) {
      const res = await syncRepo(this.ctx, space, repo).catch((err) =>
        this.repoFailure(space, repo, err, 'incremental'),
      )
      if (!res) return null
      if (res.kind === 'needs_recovery') {
        // If a recovery of this repo is already running, this add coalesces into it, and its CAR may predate
        // the hint that brought us here: the flag makes the recovery's completion pull once more.
        await this.ctx.redis.set(recoverDirtyKey(space, repo), '1', 'EX', 3600)
        await this.enqueueRecovery(space, repo, 'divergence')
        return res
      }
      if (res.kind === 'synced') {
        this.ctx.metrics.repoSyncs.inc({ mode: 'incremental', outcome: 'ok' })
        if (res.upserts) this.ctx.metrics.recordsStored.inc({ op: 'update' }, res.upserts)
        if (res.deletes) this.ctx.metrics.recordsStored.inc({ op: 'delete' }, res.deletes)
        if (hintAt) this.ctx.metrics.syncNotifyToVisible.observe((Date.now() - hintAt) / 1000)
      }
      if ((res.kind !== 'synced' && res.kind !== 'unchanged') || round >= SYNC_ROUNDS) return res
      // Taking the mark is the start of the next pull, as the DEL above was of this one.
      const mark = await this.ctx.redis.getdel(key)
      if (mark === null) return res
      const at = Number(mark)
      hintAt = at > 0 ? at : undefined
    }
  }

  /** Host answers about the repo's account: hide, re-resolve, or give up on this job. */
  private async repoFailure(
    space: string,
    repo: string,
    err: unknown,
    mode: 'incremental' | 'full',
  ): Promise<null> {
    if (isSpaceCallError(err)) {
      if (err.kind === 'repo_deactivated' || err.kind === 'repo_takendown' || err.kind === 'repo_suspended') {
        const status =
          err.kind === 'repo_deactivated'
            ? 'deactivated'
            : err.kind === 'repo_takendown'
              ? 'takendown'
              : 'suspended'
        await this.ctx.store.setAccountStatus(repo, status)
        return null
      }
      if (err.kind === 'repo_not_found') {
        // Migration moves the repo to another host with a fresh oplog: re-resolve, then rebuild there.
        const before = (await this.ctx.hosts.repoHost(repo)).pds
        const after = (await this.ctx.hosts.repoHost(repo, true)).pds
        if (after !== before) {
          await this.enqueueRecovery(space, repo, 'account')
          return null
        }
        await this.ctx.store.setRepoStatus(space, repo, 'failed', 'repo_not_found')
        return null
      }
      if (err.kind === 'blocked_address') {
        // The author's DID document names an endpoint we refuse to contact. The cached document would keep
        // this repo failing after the document is fixed, so drop it (the resolver throttles refreshes);
        // the job still fails with the reason, and its retry or the next sweep uses the new document.
        await this.ctx.hosts.repoHost(repo, true).catch(() => undefined)
      }
    }
    // A limiter refusal is not a sync that ended: the job moves itself to the delayed set and runs again.
    const outcome = err instanceof HostBusyError ? 'deferred' : isProtocolError(err) ? 'rejected' : 'failed'
    this.ctx.metrics.repoSyncs.inc({ mode, outcome })
    throw err
  }

  private async onCompleted(queue: QueueName, job: Job): Promise<void> {
    if (queue !== 'repo-sync' && queue !== 'repo-recovery') return
    const { space, repo } = job.data as RepoJob
    // A hint arrived while this job ran (its add was coalesced into the running job): run once more. The
    // sync's dirty flag holds when that hint arrived, for the notify → visible lag.
    if (queue === 'repo-sync') {
      const mark = await this.ctx.redis.get(dirtyKey(space, repo))
      if (mark === null) return
      const at = Number(mark)
      await this.addSync(space, repo, 'dirty', at > 0 ? at : undefined)
      return
    }
    if ((await this.ctx.redis.exists(recoverDirtyKey(space, repo))) === 1)
      await this.enqueueSync(space, repo, 'dirty')
  }

  private async onFailed(queue: QueueName, job: Job | undefined, err: Error): Promise<void> {
    if (!job || err instanceof DelayedError || err.name === 'DelayedError') return
    this.ctx.logger.warn({ queue, job: job.id, attempt: job.attemptsMade, err: err.message }, 'job failed')
    const attempts = job.opts.attempts ?? 1
    if (job.attemptsMade < attempts && err.name !== 'UnrecoverableError') {
      this.ctx.metrics.jobRetries.inc({ queue })
      return
    }
    this.ctx.metrics.jobDeadLetters.inc({ queue })
    const letter: DeadLetter = {
      queue,
      jobId: job.id ?? '',
      data: job.data,
      reason: err.message.slice(0, 500),
      failedAt: Date.now(),
    }
    await this.queues['dead-letter'].add('dead', letter, { removeOnComplete: false, removeOnFail: false })
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()))
    await Promise.all(Object.values(this.queues).map((q) => q.close()))
    // Left open, these kept every process that ran workers alive after close (and tests from exiting).
    for (const c of this.workerConnections) c.disconnect()
  }
}
