/**
 * The metric definitions: Prometheus naming conventions, bounded label sets, zero-initialised counters,
 * the default process metrics, and that the typed handles record what they are given.
 */
import fc from 'fast-check'
import { createMetrics, metrics, METRIC_PREFIX } from '../../src/metrics/metrics.js'
import {
  apiMethodLabel,
  HOST_ERROR_CLASSES,
  httpStatusLabel,
  OTHER,
  PROTOCOL_ERROR_REASONS,
  QUEUE_NAMES,
  SPACE_ERROR_KINDS,
} from '../../src/metrics/labels.js'
import { parseExposition } from '../../src/metrics/exposition.js'

/** Every label name a spaceview metric may use; each has a bounded vocabulary in labels.ts. */
const ALLOWED_LABELS = new Set([
  ...['op', 'reason', 'mode', 'outcome', 'method', 'status'],
  ...['queue', 'state', 'class', 'table', 'query'],
])

interface MetricMeta {
  name: string
  type: string
  help: string
  labelNames: string[]
}

function own(m = createMetrics()): MetricMeta[] {
  return (m.registry.getMetricsAsArray() as unknown as MetricMeta[]).filter(
    (x) => !/^spaceview_(process|nodejs)_/.test(x.name),
  )
}

describe('metric definitions', () => {
  const defs = own()

  it('follow the naming conventions', () => {
    for (const { name, type, help } of defs) {
      expect({ name, ok: /^spaceview_[a-z][a-z0-9_]*$/.test(name) }).toEqual({ name, ok: true })
      expect({ name, help: help.length > 10 }).toEqual({ name, help: true })
      // `_total` marks counters and only counters.
      expect({ name, total: name.endsWith('_total') }).toEqual({ name, total: type === 'counter' })
      // Histograms carry their unit.
      if (type === 'histogram')
        expect({ name, unit: /_(seconds|rows|bytes)$/.test(name) }).toEqual({ name, unit: true })
    }
  })

  it('use only labels with bounded vocabularies (never an identifier)', () => {
    for (const { name, labelNames } of defs) {
      const bad = labelNames.filter((l) => !ALLOWED_LABELS.has(l))
      expect({ name, bad }).toEqual({ name, bad: [] })
    }
  })

  it('include the required metrics', () => {
    const names = new Map(defs.map((d) => [d.name, d]))
    const required: Array<[string, string, string[]]> = [
      ['spaceview_records_verified_total', 'counter', []],
      ['spaceview_records_stored_total', 'counter', ['op']],
      ['spaceview_verification_failures_total', 'counter', ['reason']],
      ['spaceview_sync_notify_to_visible_seconds', 'histogram', []],
      ['spaceview_sync_commit_age_seconds', 'histogram', []],
      ['spaceview_jobs', 'gauge', ['queue', 'state']],
      ['spaceview_job_retries_total', 'counter', ['queue']],
      ['spaceview_job_dead_letters_total', 'counter', ['queue']],
      ['spaceview_job_duration_seconds', 'histogram', ['queue', 'outcome']],
      ['spaceview_credential_refreshes_total', 'counter', []],
      ['spaceview_credential_refresh_failures_total', 'counter', ['reason']],
      ['spaceview_notify_registrations_active', 'gauge', []],
      ['spaceview_notify_registration_renewals_total', 'counter', []],
      ['spaceview_notify_registration_failures_total', 'counter', ['reason']],
      ['spaceview_host_errors_total', 'counter', ['class']],
      ['spaceview_host_request_duration_seconds', 'histogram', ['method', 'outcome']],
      ['spaceview_host_slot_wait_seconds', 'histogram', ['outcome']],
      ['spaceview_circuit_breakers', 'gauge', ['state']],
      ['spaceview_acl_decisions_total', 'counter', ['outcome', 'reason']],
      ['spaceview_api_request_duration_seconds', 'histogram', ['method', 'status']],
      ['spaceview_clickhouse_insert_batch_rows', 'histogram', ['table']],
      ['spaceview_clickhouse_insert_duration_seconds', 'histogram', ['table', 'outcome']],
      ['spaceview_clickhouse_query_duration_seconds', 'histogram', ['query', 'outcome']],
      ['spaceview_spaces', 'gauge', ['status']],
      ['spaceview_repos', 'gauge', ['state']],
    ]
    for (const [name, type, labels] of required) {
      expect(names.get(name)).toMatchObject({ name, type, labelNames: labels })
    }
  })

  it('include the default process metrics under the same prefix', async () => {
    const text = await createMetrics().registry.metrics()
    for (const name of [
      'spaceview_process_cpu_seconds_total',
      'spaceview_process_resident_memory_bytes',
      'spaceview_nodejs_eventloop_lag_p99_seconds',
      'spaceview_nodejs_heap_size_used_bytes',
    ]) {
      expect(text).toContain(`\n${name} `)
    }
    expect(METRIC_PREFIX).toBe('spaceview_')
  })

  it('start bounded counters at zero for every label value', async () => {
    const families = parseExposition(await createMetrics().registry.metrics())
    const zeros = (family: string, label: string) =>
      (families.get(family)?.samples ?? []).filter((s) => s.value === 0).map((s) => s.labels[label])
    expect(zeros('spaceview_verification_failures_total', 'reason').sort()).toEqual(
      [...PROTOCOL_ERROR_REASONS].sort(),
    )
    expect(zeros('spaceview_host_errors_total', 'class').sort()).toEqual([...HOST_ERROR_CLASSES].sort())
    expect(zeros('spaceview_job_dead_letters_total', 'queue').sort()).toEqual([...QUEUE_NAMES].sort())
    expect(zeros('spaceview_credential_refresh_failures_total', 'reason').sort()).toEqual(
      [...SPACE_ERROR_KINDS].sort(),
    )
    // Outcome and reason always pair up: no `allow` with a deny reason.
    const acl = families.get('spaceview_acl_decisions_total')?.samples ?? []
    expect(acl.some((s) => s.labels.outcome === 'allow' && s.labels.reason === 'not_member')).toBe(false)
    expect(acl.some((s) => s.labels.outcome === 'deny' && s.labels.reason === 'not_member')).toBe(true)
  })

  it('is one definition: the process-wide registry has the same metrics as a fresh one', () => {
    const names = (ms: MetricMeta[]) => ms.map((m) => m.name).sort()
    expect(names(own(metrics))).toEqual(names(defs))
  })
})

describe('typed handles', () => {
  it('record into the exposition', async () => {
    const m = createMetrics()
    m.recordsVerified.inc(3)
    m.recordsStored.inc({ op: 'delete' }, 2)
    m.verificationFailures.inc({ reason: 'bad_signature' })
    m.jobs.set({ queue: 'repo-sync', state: 'waiting' }, 7)
    m.syncNotifyToVisible.observe(0.3)
    m.jobDuration.startTimer({ queue: 'sweep' })({ outcome: 'completed' })
    m.aclDecisions.inc({ outcome: 'deny', reason: 'bad_auth' })
    m.apiRequestDuration.observe(
      { method: apiMethodLabel('x.y.z', new Set()), status: httpStatusLabel(200) },
      0.004,
    )
    const families = parseExposition(await m.registry.metrics())
    const value = (family: string, labels: Record<string, string> = {}, sample = family) =>
      families
        .get(family)
        ?.samples.find(
          (s) => s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
        )?.value
    expect(value('spaceview_records_verified_total')).toBe(3)
    expect(value('spaceview_records_stored_total', { op: 'delete' })).toBe(2)
    expect(value('spaceview_verification_failures_total', { reason: 'bad_signature' })).toBe(1)
    expect(value('spaceview_jobs', { queue: 'repo-sync', state: 'waiting' })).toBe(7)
    expect(
      value(
        'spaceview_sync_notify_to_visible_seconds',
        { le: '0.5' },
        'spaceview_sync_notify_to_visible_seconds_bucket',
      ),
    ).toBe(1)
    expect(
      value(
        'spaceview_job_duration_seconds',
        { queue: 'sweep', outcome: 'completed' },
        'spaceview_job_duration_seconds_count',
      ),
    ).toBe(1)
    expect(value('spaceview_acl_decisions_total', { outcome: 'deny', reason: 'bad_auth' })).toBe(1)
    expect(
      value(
        'spaceview_api_request_duration_seconds',
        { method: 'other', status: '200' },
        'spaceview_api_request_duration_seconds_count',
      ),
    ).toBe(1)
  })

  it('refuse label values outside the vocabularies at compile time', async () => {
    // These lines exist for `tsc --noEmit` (npm run typecheck): each must be a type error.
    const m = createMetrics()
    // @ts-expect-error not a ProtocolErrorReason
    m.verificationFailures.inc({ reason: 'did:plc:abc' })
    // @ts-expect-error not a record op
    m.recordsStored.inc({ op: 'upsert' })
    // @ts-expect-error a deny reason with an allow outcome
    m.aclDecisions.inc({ outcome: 'allow', reason: 'not_member' })
    // @ts-expect-error not a queue name
    m.jobRetries.inc({ queue: 'at://did:plc:x/space/a.b.c/self' })
    // prom-client itself accepts any label value at run time: the types above are the only guard.
    expect(await m.registry.getSingleMetricAsString('spaceview_verification_failures_total')).toContain(
      'did:plc:abc',
    )
  })
})

describe('label normalisers', () => {
  it('apiMethodLabel keeps only served NSIDs', () => {
    const served = new Set(['app.spaceview.listRecords', 'app.spaceview.getRecord'])
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom(...served)), (nsid) => {
        const label = apiMethodLabel(nsid, served)
        expect(label === OTHER || served.has(label)).toBe(true)
        expect(label === nsid).toBe(served.has(nsid))
      }),
    )
  })

  it('httpStatusLabel yields a three-digit status or other', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.integer({ min: 100, max: 599 })), (status) => {
        const label = httpStatusLabel(status)
        expect(label === OTHER || /^[1-5]\d\d$/.test(label)).toBe(true)
      }),
    )
    expect(httpStatusLabel(404)).toBe('404')
    expect(httpStatusLabel(600)).toBe(OTHER)
    expect(httpStatusLabel(200.5)).toBe(OTHER)
  })
})
