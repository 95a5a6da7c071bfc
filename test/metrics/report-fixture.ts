/**
 * A registry that looks like a busy spaceview process, served on 127.0.0.1, for the report tests: every
 * tick syncs records, observes lag, fails a few verifications and moves the queues.
 */
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js'
import { createMetricsServer, type MetricsServer } from '../../src/metrics/server.js'

export interface BusyInstance {
  metrics: Metrics
  server: MetricsServer
  stop(): Promise<void>
}

export async function startBusyInstance(tickMs = 20): Promise<BusyInstance> {
  const m = createMetrics()
  const server = await createMetricsServer(0, { registry: m.registry, host: '127.0.0.1' })
  let tick = 0
  const step = () => {
    tick++
    m.recordsVerified.inc(200 + (tick % 7) * 20)
    m.recordsStored.inc({ op: 'create' }, 150 + (tick % 5) * 10)
    m.recordsStored.inc({ op: 'update' }, 30)
    m.recordsStored.inc({ op: 'delete' }, 8)
    m.repoSyncs.inc({ mode: 'incremental', outcome: 'ok' }, 5)
    for (let i = 0; i < 10; i++) {
      m.syncNotifyToVisible.observe(0.2 + ((tick * 7 + i * 13) % 40) / 10)
      m.syncCommitAge.observe(5 + ((tick + i) % 30) * 10)
    }
    if (tick % 3 === 0) m.verificationFailures.inc({ reason: 'index_hash_mismatch' })
    if (tick % 4 === 0) m.verificationFailures.inc({ reason: 'bad_signature' })
    m.hostErrors.inc({ class: 'timeout' }, tick % 2)
    m.hostErrors.inc({ class: 'http_5xx' }, 1)
    m.repos.set({ state: 'synced' }, 100 + tick * 3)
    m.repos.set({ state: 'behind' }, Math.max(0, 80 - tick * 2))
    m.repos.set({ state: 'failed' }, 2)
    m.spaces.set({ status: 'active' }, 12)
    m.jobs.set({ queue: 'repo-sync', state: 'waiting' }, Math.max(0, 60 - tick))
    m.jobs.set({ queue: 'repo-sync', state: 'active' }, 16)
    m.jobs.set({ queue: 'repo-sync', state: 'completed' }, 1000 + tick * 10)
    m.jobDuration.observe({ queue: 'repo-sync', outcome: 'completed' }, 0.05 * (tick % 4))
    m.jobDuration.observe({ queue: 'sweep', outcome: 'completed' }, 0.01)
    m.jobRetries.inc({ queue: 'repo-sync' }, tick % 2)
    if (tick % 10 === 0) m.jobDeadLetters.inc({ queue: 'repo-sync' })
    m.apiRequestDuration.observe(
      { method: 'app.spaceview.listRecords', status: '200' },
      0.002 + (tick % 5) / 1000,
    )
    if (tick % 5 === 0)
      m.apiRequestDuration.observe({ method: 'app.spaceview.getRecord', status: '404' }, 0.001)
  }
  step()
  const timer = setInterval(step, tickMs)
  return {
    metrics: m,
    server,
    stop: async () => {
      clearInterval(timer)
      await server.close()
    },
  }
}
