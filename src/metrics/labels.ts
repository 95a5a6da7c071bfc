/**
 * The label vocabularies of spaceview's metrics: every label value a metric may carry comes from a fixed
 * list here or from one owned by the module that raises the event (protocol reasons, host error classes,
 * space-call error kinds, queue names).
 *
 * Invariants:
 * - Every label set is bounded by code, never by input: no DID, space URI, host name, record key, cursor or
 *   free-form message is ever a label value. Anything that could carry one is mapped to a fixed value first
 *   (`apiMethodLabel`, `httpStatusLabel`).
 * - The lists are `as const` so a metric's label type is the union of its values and the compiler refuses
 *   anything else; the same lists pre-initialise counters to zero so `rate()` and `increase()` see the
 *   first event.
 * - This module imports only leaf vocabulary modules (which must never import metrics), so there is no
 *   import cycle between the metrics and the layers they observe.
 */
export { PROTOCOL_ERROR_REASONS, type ProtocolErrorReason } from '../protocol/errors.js'
export { HOST_ERROR_CLASSES, type HostErrorClass } from '../crawler/host-errors.js'
export { SPACE_ERROR_KINDS, type SpaceErrorKind } from '../crawler/space-errors.js'
export { QUEUE_NAMES, type QueueName } from '../crawler/queues.js'

/** What a stored record change did to the merged view. */
export const RECORD_OPS = ['create', 'update', 'delete'] as const
export type RecordOp = (typeof RECORD_OPS)[number]

/** How a repo was brought up to date: listRepoOps from the stored rev, or a whole getRepo CAR. */
export const SYNC_MODES = ['incremental', 'full'] as const
export type SyncMode = (typeof SYNC_MODES)[number]

/**
 * ok: applied; rejected: failed verification (nothing stored); failed: host or internal error; deferred: the
 * per-host limiter had no slot (busy, rate, open circuit, Retry-After), so the job moved itself to the
 * delayed set and runs again later — not a sync that ended, so leave it out of success/failure ratios.
 */
export const SYNC_OUTCOMES = ['ok', 'rejected', 'failed', 'deferred'] as const
export type SyncOutcome = (typeof SYNC_OUTCOMES)[number]

/** Incoming notifications from space hosts. */
export const NOTIFICATION_METHODS = ['notify_write', 'notify_space_deleted'] as const
export type NotificationMethod = (typeof NOTIFICATION_METHODS)[number]

/** accepted: verified and acted on; rejected: failed service auth or shape; deduplicated: already queued. */
export const NOTIFICATION_OUTCOMES = ['accepted', 'rejected', 'deduplicated'] as const
export type NotificationOutcome = (typeof NOTIFICATION_OUTCOMES)[number]

/** Space lifecycle as the crawler sees it (`needs_authorization`: every session for it is gone). */
export const SPACE_STATUSES = ['bootstrapping', 'active', 'needs_authorization', 'failed', 'deleted'] as const
export type SpaceStatus = (typeof SPACE_STATUSES)[number]

/** Per (space, author) repo state; `hidden` is a deactivated or taken-down account. */
export const REPO_STATES = ['synced', 'behind', 'recovering', 'hidden', 'failed'] as const
export type RepoState = (typeof REPO_STATES)[number]

/**
 * BullMQ job states sampled into `spaceview_jobs` (the argument list for `getJobCounts`, so the label set is
 * fixed whatever BullMQ's default list becomes).
 */
export const JOB_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'completed',
  'failed',
] as const
export type JobState = (typeof JOB_STATES)[number]

/** How one job attempt ended. */
export const JOB_OUTCOMES = ['completed', 'failed'] as const
export type JobOutcome = (typeof JOB_OUTCOMES)[number]

/** Whether a request (to a host or to ClickHouse) produced its result. */
export const REQUEST_OUTCOMES = ['ok', 'error'] as const
export type RequestOutcome = (typeof REQUEST_OUTCOMES)[number]

/** How a job's wait for a host slot ended: it called the host, or deferred itself. */
export const HOST_SLOT_OUTCOMES = ['leased', 'deferred'] as const
export type HostSlotOutcome = (typeof HOST_SLOT_OUTCOMES)[number]

/** Per-host circuit breaker states. */
export const BREAKER_STATES = ['closed', 'open', 'half_open'] as const
export type BreakerState = (typeof BREAKER_STATES)[number]

/** Why the ACL filter admitted a (caller, space) pair. */
export const ACL_ALLOW_REASONS = [
  'authority', // the space's own authority DID
  'public', // public policy, any authenticated caller
  'member', // spaceview is the managing app and the caller is a member
  'credential', // the authority issued the caller a credential (getSpaceCredential)
  'space_credential', // the caller presented a credential for this space with DPoP
] as const
export type AclAllowReason = (typeof ACL_ALLOW_REASONS)[number]

/** Why the ACL filter refused a (caller, space) pair. */
export const ACL_DENY_REASONS = [
  'unauthenticated', // no caller authentication at all
  'bad_auth', // service-auth JWT or DPoP proof invalid, expired or replayed
  'not_member', // managing-app membership says no
  'user_not_authorized', // the authority refused the user
  'app_not_authorized', // the authority refused our app identity
  'not_authorized', // the authority refused by policy
  'wrong_space', // a space credential for another space
  'space_unavailable', // unknown, deleted or tombstoned space (answered like a refusal)
  'account_inactive', // caller's account deactivated or taken down
  'authority_unreachable', // could not ask the authority: fail closed
] as const
export type AclDenyReason = (typeof ACL_DENY_REASONS)[number]

/** An ACL decision's labels: a reason always belongs to its outcome. */
export type AclDecision =
  { outcome: 'allow'; reason: AclAllowReason } | { outcome: 'deny'; reason: AclDenyReason }

/** Label value for anything outside a bounded set. */
export const OTHER = 'other'

/**
 * The `method` label of an API request: the XRPC NSID when it is one this server serves, `other` for
 * anything else (unknown NSIDs and stray paths are caller input and must not mint new series).
 */
export function apiMethodLabel(nsid: string, served: ReadonlySet<string>): string {
  return served.has(nsid) ? nsid : OTHER
}

/** The `status` label of an API response: the HTTP status code, or `other` when it is not a valid one. */
export function httpStatusLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : OTHER
}
