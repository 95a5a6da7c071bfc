/**
 * The crawler's BullMQ queues: names, job payloads and job ids.
 *
 * Job ids are hashes of the job's identity (space, repo), so adding the same work twice while it waits
 * is a no-op across every worker process. Payloads carry identifiers only, never data or secrets: a job
 * re-reads the current state when it runs, which makes every processor idempotent and a retried or
 * duplicated job harmless.
 */
import { createHash } from 'node:crypto'

export const QUEUE_NAMES = [
  'space-bootstrap',
  'repo-sync',
  'repo-recovery',
  'sweep',
  'notify-renewal',
  'dead-letter',
] as const
export type QueueName = (typeof QUEUE_NAMES)[number]

export interface SpaceJob {
  space: string
}

export interface RepoJob {
  space: string
  repo: string
  /** Why the job exists (bounded set: for logs and metrics). */
  cause: 'bootstrap' | 'notify' | 'sweep' | 'divergence' | 'account' | 'manual' | 'dirty'
  /** When the hint that caused it arrived (ms), for notify → visible lag. */
  hintAt?: number
  /**
   * Recovery only: the sweep that queued it found no verified state for the repo, so the recovery does not
   * read it again (if state appeared meanwhile, the store's rev check still refuses an older snapshot).
   */
  unsynced?: true
}

/** A job that used up its attempts, kept for operators with the reason it failed. */
export interface DeadLetter {
  queue: QueueName
  jobId: string
  data: unknown
  reason: string
  failedAt: number
}

export type JobPayload = {
  'dead-letter': DeadLetter
  'space-bootstrap': SpaceJob
  'repo-sync': RepoJob
  'repo-recovery': RepoJob
  sweep: SpaceJob
  'notify-renewal': SpaceJob
}

/** Deterministic job id: same work → same id, so BullMQ deduplicates it while it is queued. */
export function jobId(queue: QueueName, ...parts: string[]): string {
  return `${queue}-${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32)}`
}
