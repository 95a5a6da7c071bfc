/**
 * The one definition of every spaceview metric, and the registry each process exposes on /metrics.
 *
 * Other modules import the process-wide `metrics` and record through its typed handles, e.g.
 * `metrics.recordsVerified.inc(n)` or `metrics.verificationFailures.inc({ reason: err.reason })`. Tests make
 * their own with `createMetrics()` so they never share counters.
 *
 * Invariants:
 * - Names follow Prometheus conventions: `spaceview_` prefix, base units in the name (`_seconds`, `_bytes`,
 *   `_rows`), `_total` on counters and only on counters. Process and Node.js runtime metrics come from
 *   prom-client's default collectors under the same prefix.
 * - Label values come from the bounded vocabularies in labels.ts; each handle's type names the allowed
 *   values, so `inc({ reason: someString })` does not compile. No DID or space URI is ever a label value.
 * - Counters whose labels are a fixed set start at zero for every value, so the first event shows up in
 *   `rate()`/`increase()` and alerts do not see "no data" as "no failures".
 * - Gauges that describe shared state (queues, spaces, repos, breakers) are sampled by every process that
 *   sees that state; dashboards aggregate them with `max`, never `sum`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import {
  ACL_ALLOW_REASONS,
  ACL_DENY_REASONS,
  BREAKER_STATES,
  HOST_ERROR_CLASSES,
  NOTIFICATION_METHODS,
  NOTIFICATION_OUTCOMES,
  PROTOCOL_ERROR_REASONS,
  QUEUE_NAMES,
  RECORD_OPS,
  SPACE_ERROR_KINDS,
  SYNC_MODES,
  SYNC_OUTCOMES,
  type AclDecision,
  type BreakerState,
  type HostErrorClass,
  type HostSlotOutcome,
  type JobOutcome,
  type JobState,
  type NotificationMethod,
  type NotificationOutcome,
  type ProtocolErrorReason,
  type QueueName,
  type RecordOp,
  type RepoState,
  type RequestOutcome,
  type SpaceErrorKind,
  type SpaceStatus,
  type SyncMode,
  type SyncOutcome,
} from './labels.js'

export const METRIC_PREFIX = 'spaceview_'

/** A counter without labels. */
export interface PlainCounter {
  inc(value?: number): void
}

/** A counter whose label values are typed by `L`. */
export interface LabeledCounter<L extends object> {
  inc(labels: L, value?: number): void
}

export interface PlainGauge {
  set(value: number): void
  inc(value?: number): void
  dec(value?: number): void
}

export interface LabeledGauge<L extends object> {
  set(labels: L, value: number): void
  inc(labels: L, value?: number): void
  dec(labels: L, value?: number): void
  remove(labels: L): void
  reset(): void
}

export interface PlainHistogram {
  observe(value: number): void
  /** Starts a timer; calling the result observes the elapsed seconds and returns them. */
  startTimer(): () => number
}

export interface LabeledHistogram<L extends object> {
  observe(labels: L, value: number): void
  /** Labels known at the start may be given here, the rest (e.g. the outcome) when the timer ends. */
  startTimer(labels?: Partial<L>): (labels?: Partial<L>) => number
}

export interface Metrics {
  readonly registry: Registry

  // sync and verification
  /** Records whose commit, LtHash and CID checks passed (counted when a verified batch is accepted). */
  readonly recordsVerified: PlainCounter
  /** Record changes written to the merged view. */
  readonly recordsStored: LabeledCounter<{ op: RecordOp }>
  /** Verification rejections, once per rejected getRepo CAR or listRepoOps batch. */
  readonly verificationFailures: LabeledCounter<{ reason: ProtocolErrorReason }>
  /** Finished repo syncs. */
  readonly repoSyncs: LabeledCounter<{ mode: SyncMode; outcome: SyncOutcome }>
  /** From a notifyWrite hint arriving to its records being visible in the merged view. */
  readonly syncNotifyToVisible: PlainHistogram
  /** Age of a commit's rev (TID time) when it became visible in the merged view. */
  readonly syncCommitAge: PlainHistogram
  /** notifyWrite / notifySpaceDeleted calls received from space hosts. */
  readonly notificationsReceived: LabeledCounter<{ method: NotificationMethod; outcome: NotificationOutcome }>
  /** Known spaces by status (shared state: aggregate with max). */
  readonly spaces: LabeledGauge<{ status: SpaceStatus }>
  /** Known (space, author) repos by state (shared state: aggregate with max). */
  readonly repos: LabeledGauge<{ state: RepoState }>

  // queues
  /** BullMQ job counts by queue and state, sampled by `collectQueueMetrics` (shared state). */
  readonly jobs: LabeledGauge<{ queue: string; state: JobState }>
  /** Job attempts that failed and were scheduled again. */
  readonly jobRetries: LabeledCounter<{ queue: QueueName }>
  /** Jobs that used up their attempts and went to the dead-letter queue. */
  readonly jobDeadLetters: LabeledCounter<{ queue: QueueName }>
  /** Wall time of one job attempt. */
  readonly jobDuration: LabeledHistogram<{ queue: QueueName; outcome: JobOutcome }>

  // credentials and notify registrations
  /** getSpaceCredential exchanges attempted (successful or not). */
  readonly credentialRefreshes: PlainCounter
  readonly credentialRefreshFailures: LabeledCounter<{ reason: SpaceErrorKind }>
  /** Unexpired registerNotify registrations this deployment holds. */
  readonly notifyRegistrationsActive: PlainGauge
  readonly notifyRegistrationRenewals: PlainCounter
  readonly notifyRegistrationFailures: LabeledCounter<{ reason: SpaceErrorKind }>

  // hosts
  /** Outbound XRPC calls; `method` is the NSID our client called (a code constant). */
  readonly hostRequestDuration: LabeledHistogram<{ method: string; outcome: RequestOutcome }>
  /**
   * Time a job waited for a host slot (this process's gate, then the shared limiter's lease): politeness
   * as latency. `leased` went on to call the host, `deferred` gave up and moved the job to the delayed set.
   */
  readonly hostSlotWait: LabeledHistogram<{ outcome: HostSlotOutcome }>
  readonly hostErrors: LabeledCounter<{ class: HostErrorClass }>
  /** Number of hosts whose breaker is in each state (shared state: aggregate with max). */
  readonly circuitBreakers: LabeledGauge<{ state: BreakerState }>
  /** Breaker state changes, by the state entered. */
  readonly circuitBreakerTransitions: LabeledCounter<{ state: BreakerState }>

  // API and ACL
  readonly aclDecisions: LabeledCounter<AclDecision>
  /** `method` from `apiMethodLabel`, `status` from `httpStatusLabel`. */
  readonly apiRequestDuration: LabeledHistogram<{ method: string; status: string }>

  // ClickHouse (`table` and `query` are names fixed in the merge layer's code)
  readonly clickhouseInsertRows: LabeledHistogram<{ table: string }>
  readonly clickhouseInsertDuration: LabeledHistogram<{ table: string; outcome: RequestOutcome }>
  readonly clickhouseQueryDuration: LabeledHistogram<{ query: string; outcome: RequestOutcome }>
}

/** Seconds from a notification to visibility: sub-second when idle, minutes under backlog. */
const LAG_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
/** Commit age spans backfill of months-old repos as well as fresh writes. */
const COMMIT_AGE_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400, 30 * 86400]
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900]
const HOST_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
/** A slot is usually free at once; waits of tens of ms add up to notify → visible latency. */
const SLOT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
/** The API's target is p99 < 20 ms, so the buckets are fine around it. */
const API_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
const ROWS_BUCKETS = [1, 10, 100, 1000, 5000, 10000, 50000, 100000, 500000, 1000000]
const CLICKHOUSE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Defines every metric in `registry` (a fresh one by default), plus the default process metrics. */
export function createMetrics(registry: Registry = new Registry()): Metrics {
  const registers = [registry]
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX })

  function counter<N extends string>(name: string, help: string, labelNames: readonly N[] = []) {
    return new Counter<N>({ name: METRIC_PREFIX + name, help, labelNames, registers })
  }
  function gauge<N extends string>(name: string, help: string, labelNames: readonly N[] = []) {
    return new Gauge<N>({ name: METRIC_PREFIX + name, help, labelNames, registers })
  }
  function histogram<N extends string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly N[] = [],
  ) {
    return new Histogram<N>({ name: METRIC_PREFIX + name, help, buckets, labelNames, registers })
  }
  /** Starts every listed label combination at zero (see the module invariants). */
  function zero<N extends string>(c: Counter<N>, combos: Array<Record<N, string>>): Counter<N> {
    for (const labels of combos) c.inc(labels, 0)
    return c
  }
  const each = <N extends string>(label: N, values: readonly string[]) =>
    values.map((v) => ({ [label]: v }) as Record<N, string>)
  const cross = <A extends string, B extends string>(
    a: A,
    as: readonly string[],
    b: B,
    bs: readonly string[],
  ) => as.flatMap((x) => bs.map((y) => ({ [a]: x, [b]: y }) as Record<A | B, string>))

  return {
    registry,
    recordsVerified: counter(
      'records_verified_total',
      'Records that passed commit, LtHash and CID verification.',
    ),
    recordsStored: zero(
      counter('records_stored_total', 'Record changes written to the merged view, by operation.', ['op']),
      each('op', RECORD_OPS),
    ),
    verificationFailures: zero(
      counter(
        'verification_failures_total',
        'Rejected getRepo CARs and listRepoOps batches, by protocol error reason.',
        ['reason'],
      ),
      each('reason', PROTOCOL_ERROR_REASONS),
    ),
    repoSyncs: zero(
      counter('repo_syncs_total', 'Finished repo syncs, by mode (incremental, full) and outcome.', [
        'mode',
        'outcome',
      ]),
      cross('mode', SYNC_MODES, 'outcome', SYNC_OUTCOMES),
    ),
    syncNotifyToVisible: histogram(
      'sync_notify_to_visible_seconds',
      'Seconds from a notifyWrite hint arriving to its records being visible in the merged view.',
      LAG_BUCKETS,
    ),
    syncCommitAge: histogram(
      'sync_commit_age_seconds',
      "Age in seconds of a commit's rev (TID time) when it became visible in the merged view.",
      COMMIT_AGE_BUCKETS,
    ),
    notificationsReceived: zero(
      counter(
        'notifications_received_total',
        'Notifications received from space hosts, by method and outcome.',
        ['method', 'outcome'],
      ),
      cross('method', NOTIFICATION_METHODS, 'outcome', NOTIFICATION_OUTCOMES),
    ),
    spaces: gauge('spaces', 'Known spaces by status.', ['status']),
    repos: gauge('repos', 'Known (space, author) permissioned repos by state.', ['state']),

    jobs: gauge('jobs', 'BullMQ jobs by queue and state (sampled from Redis).', ['queue', 'state']),
    jobRetries: zero(
      counter('job_retries_total', 'Failed job attempts that were scheduled again.', ['queue']),
      each('queue', QUEUE_NAMES),
    ),
    jobDeadLetters: zero(
      counter(
        'job_dead_letters_total',
        'Jobs that used up their attempts and went to the dead-letter queue.',
        ['queue'],
      ),
      each('queue', QUEUE_NAMES),
    ),
    jobDuration: histogram(
      'job_duration_seconds',
      'Wall time of one job attempt, by queue and outcome.',
      JOB_BUCKETS,
      ['queue', 'outcome'],
    ),

    credentialRefreshes: counter(
      'credential_refreshes_total',
      'Space credential exchanges (getSpaceCredential) attempted, successful or not.',
    ),
    credentialRefreshFailures: zero(
      counter('credential_refresh_failures_total', 'Failed space credential exchanges, by reason.', [
        'reason',
      ]),
      each('reason', SPACE_ERROR_KINDS),
    ),
    notifyRegistrationsActive: gauge(
      'notify_registrations_active',
      'Unexpired registerNotify registrations held.',
    ),
    notifyRegistrationRenewals: counter(
      'notify_registration_renewals_total',
      'Successful registerNotify renewals.',
    ),
    notifyRegistrationFailures: zero(
      counter('notify_registration_failures_total', 'Failed registerNotify calls, by reason.', ['reason']),
      each('reason', SPACE_ERROR_KINDS),
    ),

    hostRequestDuration: histogram(
      'host_request_duration_seconds',
      'Outbound XRPC calls to repo and space hosts, by method (NSID) and outcome.',
      HOST_BUCKETS,
      ['method', 'outcome'],
    ),
    hostSlotWait: histogram(
      'host_slot_wait_seconds',
      'Time a job waited for a host slot under the per-host concurrency and rate caps, by outcome.',
      SLOT_BUCKETS,
      ['outcome'],
    ),
    hostErrors: zero(
      counter('host_errors_total', 'Failed outbound requests, by host error class.', ['class']),
      each('class', HOST_ERROR_CLASSES),
    ),
    circuitBreakers: gauge('circuit_breakers', 'Hosts whose circuit breaker is in each state.', ['state']),
    circuitBreakerTransitions: zero(
      counter('circuit_breaker_transitions_total', 'Circuit breaker state changes, by the state entered.', [
        'state',
      ]),
      each('state', BREAKER_STATES),
    ),

    aclDecisions: zero(
      counter('acl_decisions_total', 'ACL filter decisions, by outcome (allow, deny) and reason.', [
        'outcome',
        'reason',
      ]),
      [
        ...ACL_ALLOW_REASONS.map((reason) => ({ outcome: 'allow', reason })),
        ...ACL_DENY_REASONS.map((reason) => ({ outcome: 'deny', reason })),
      ],
    ),
    apiRequestDuration: histogram(
      'api_request_duration_seconds',
      'API requests, by XRPC method and HTTP status.',
      API_BUCKETS,
      ['method', 'status'],
    ),

    clickhouseInsertRows: histogram(
      'clickhouse_insert_batch_rows',
      'Rows per ClickHouse insert batch, by table.',
      ROWS_BUCKETS,
      ['table'],
    ),
    clickhouseInsertDuration: histogram(
      'clickhouse_insert_duration_seconds',
      'ClickHouse insert latency, by table and outcome.',
      CLICKHOUSE_BUCKETS,
      ['table', 'outcome'],
    ),
    clickhouseQueryDuration: histogram(
      'clickhouse_query_duration_seconds',
      'ClickHouse query latency, by query name and outcome.',
      CLICKHOUSE_BUCKETS,
      ['query', 'outcome'],
    ),
  }
}

/** The process-wide metrics, served on /metrics by `createMetricsServer`. */
export const metrics: Metrics = createMetrics()
