/**
 * The spaceview process under test: exactly what `spaceview start` runs (workers/service.ts: the API with
 * its ACL, the notification receivers, every crawler queue, the embedded merge store), configured by the
 * environment the orchestrator passes, plus three bench-only observers:
 *
 * - the crawler's store is wrapped by visibility.ts (write → visible latency, records made visible);
 * - the merge store's ClickHouse handle is timed by clickhouse-timer.ts;
 * - a plain HTTP endpoint serves `GET /listRecords?space=…&limit=…` straight from the same merge store,
 *   without authentication, ACL or lexicon validation: the API scenario's same-data baseline.
 *
 * Commands (child-ipc.ts): addSpaces, stats, repoStates, countRecords, expect, settle, stop.
 * Invariant: observers never change what is written or read; removing them leaves spaceview as shipped.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadConfig } from '../../src/config.js'
import { QUEUE_NAMES, type QueueName } from '../../src/crawler/queues.js'
import { recordView } from '../../src/api/views.js'
import { metrics } from '../../src/metrics/metrics.js'
import { startService } from '../../workers/service.js'
import { serveIpc } from './child-ipc.js'
import { ClickHouseTimer } from './clickhouse-timer.js'
import { observingStore, VisibilityLog } from './visibility.js'
import { Vitals } from './vitals.js'
import type { CumulativeBucket } from './stats.js'

export interface SpaceviewStats {
  visibility: ReturnType<VisibilityLog['drain']>
  clickhouse: ReturnType<ClickHouseTimer['snapshot']>
  vitals: ReturnType<Vitals['snapshot']>
  /** spaceview's own metrics (counters summed over labels unless split). */
  metrics: {
    recordsVerified: number
    notifyToVisible: CumulativeBucket[]
    notifyToVisibleSum: number
    jobRetries: number
    deadLetters: number
    verificationFailures: Record<string, number>
    hostErrors: Record<string, number>
    repoSyncs: Record<string, number>
    notifications: Record<string, number>
    credentialRefreshes: number
    apiRequests: Record<string, number>
    /** Job attempts by `queue:outcome` (a limiter deferral counts as a completed attempt). */
    jobs: Record<string, number>
    /** Waits for a host slot that ended in a lease (seconds summed, and how many). */
    hostSlotWait: SumCount
    /** listRepoOps calls that succeeded (seconds summed, and how many). */
    hostPulls: SumCount
  }
  queues: Record<string, Record<string, number>>
}

export interface SumCount {
  sum: number
  count: number
}

type MetricJson = {
  name: string
  type: string
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>
}

function byLabel(
  m: MetricJson | undefined,
  key: (l: Record<string, string | number>) => string,
): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of m?.values ?? []) {
    if (v.value === 0) continue
    const k = key(v.labels)
    out[k] = (out[k] ?? 0) + v.value
  }
  return out
}

/** The `_count` samples of a histogram (requests per label set). */
function countsOf(m: MetricJson | undefined): MetricJson | undefined {
  return m && { ...m, values: m.values.filter((v) => v.metricName?.endsWith('_count')) }
}

/** A histogram's `_sum` and `_count` over the samples whose labels include `labels`. */
function sumCount(m: MetricJson | undefined, labels: Record<string, string>): SumCount {
  const out = { sum: 0, count: 0 }
  for (const v of m?.values ?? []) {
    if (!Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) continue
    if (v.metricName?.endsWith('_sum')) out.sum += v.value
    else if (v.metricName?.endsWith('_count')) out.count += v.value
  }
  return out
}

const total = (m: MetricJson | undefined) => (m?.values ?? []).reduce((n, v) => n + v.value, 0)

async function collectMetrics(): Promise<SpaceviewStats['metrics']> {
  const all = (await metrics.registry.getMetricsAsJSON()) as unknown as MetricJson[]
  const get = (name: string) => all.find((m) => m.name === `spaceview_${name}`)
  const lag = get('sync_notify_to_visible_seconds')
  const buckets: CumulativeBucket[] = []
  let lagSum = 0
  for (const v of lag?.values ?? []) {
    if (v.metricName?.endsWith('_bucket')) {
      buckets.push({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), count: v.value })
    } else if (v.metricName?.endsWith('_sum')) lagSum = v.value
  }
  return {
    recordsVerified: total(get('records_verified_total')),
    notifyToVisible: buckets,
    notifyToVisibleSum: lagSum,
    jobRetries: total(get('job_retries_total')),
    deadLetters: total(get('job_dead_letters_total')),
    verificationFailures: byLabel(get('verification_failures_total'), (l) => String(l.reason)),
    hostErrors: byLabel(get('host_errors_total'), (l) => String(l.class)),
    repoSyncs: byLabel(get('repo_syncs_total'), (l) => `${l.mode}:${l.outcome}`),
    notifications: byLabel(get('notifications_received_total'), (l) => `${l.method}:${l.outcome}`),
    credentialRefreshes: total(get('credential_refreshes_total')),
    apiRequests: byLabel(countsOf(get('api_request_duration_seconds')), (l) => `${l.method}:${l.status}`),
    jobs: byLabel(countsOf(get('job_duration_seconds')), (l) => `${l.queue}:${l.outcome}`),
    hostSlotWait: sumCount(get('host_slot_wait_seconds'), { outcome: 'leased' }),
    hostPulls: sumCount(get('host_request_duration_seconds'), {
      method: 'com.atproto.space.listRepoOps',
      outcome: 'ok',
    }),
  }
}

async function main(): Promise<void> {
  const vitals = new Vitals('spaceview')
  const config = loadConfig()
  const queues = QUEUE_NAMES.filter((q) => q !== 'dead-letter') as QueueName[]
  const service = await startService(config, { api: true, queues, logger: vitals.logger(), metrics: false })
  const store = service.mergeStore
  if (!store) throw new Error('the spaceview process must own the embedded store')
  const timer = new ClickHouseTimer()
  timer.instrument(store.clickhouse)
  const log = new VisibilityLog()
  service.ctx.store = observingStore(service.ctx.store, log)

  // The API scenario's baseline: the same page from the same store, no auth, no ACL, no validation.
  const plain = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const space = url.searchParams.get('space') ?? ''
    const limit = Number(url.searchParams.get('limit') ?? 50)
    store
      .listRecords({ space, limit })
      .then((page) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ records: page.records.map(recordView), cursor: page.cursor }))
      })
      .catch((err: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: err.message }))
      })
  })
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve))

  serveIpc(
    {
      async addSpaces(args) {
        const { spaces, session } = args as {
          spaces: string[]
          session: { did: string; accessToken: string }
        }
        // A few at a time: each is a handful of Redis round trips, and 10,000 of them one by one take long.
        for (let i = 0; i < spaces.length; i += 64) {
          await Promise.all(
            spaces.slice(i, i + 64).map(async (space) => {
              await service.ctx.sessions.addSpace(space, session)
              await service.crawler.addSpace(space)
            }),
          )
        }
        return spaces.length
      },
      async stats(): Promise<SpaceviewStats> {
        const queueCounts: Record<string, Record<string, number>> = {}
        await Promise.all(
          Object.entries(service.crawler.queues).map(async ([name, q]) => {
            queueCounts[name] = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed')
          }),
        )
        return {
          visibility: log.drain(),
          clickhouse: timer.snapshot(),
          vitals: vitals.snapshot(),
          metrics: await collectMetrics(),
          queues: queueCounts,
        }
      },
      async repoStates(args) {
        const { repos } = args as { repos: Array<[string, string]> }
        const out: Array<string | null> = new Array(repos.length).fill(null)
        let next = 0
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < repos.length) {
              const i = next++
              const [space, did] = repos[i] as [string, string]
              out[i] = (await store.getRepoState(space, did))?.rev ?? null
            }
          }),
        )
        return out
      },
      async countRecords(args) {
        const { spaces } = args as { spaces: string[] }
        const out: number[] = []
        for (const s of spaces) out.push(await store.countRecords(s))
        return out
      },
      expect(args) {
        log.expect((args as { records: number }).records)
        return true
      },
      /** Waits (bounded) until the engine runs no background merge; the seconds it took. */
      async settle(args) {
        const { maxSec } = args as { maxSec: number }
        const started = performance.now()
        while (performance.now() - started < maxSec * 1000) {
          const [m] = await store.clickhouse.query<{ n: number | string }>(
            'SELECT count() AS n FROM system.merges',
          )
          if (Number(m?.n) === 0) break
          await new Promise((r) => setTimeout(r, 250))
        }
        return (performance.now() - started) / 1000
      },
      async stop() {
        setImmediate(() => {
          void (async () => {
            plain.close()
            await service
              .close()
              .catch((err: Error) => process.stderr.write(`spaceview close: ${err.message}\n`))
            process.exit(0)
          })()
        })
        return true
      },
    },
    {
      apiUrl: service.api?.url,
      plainUrl: `http://127.0.0.1:${(plain.address() as AddressInfo).port}`,
      pid: process.pid,
    },
  )
}

main().catch((err: Error) => {
  process.stderr.write(`spaceview process failed: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
