/**
 * Sampling BullMQ job counts into spaceview_jobs, against real queues on Redis (REDIS_URL), and dropping
 * the series of a queue whose counts cannot be read instead of keeping stale numbers.
 */
import { randomUUID } from 'node:crypto'
import { Queue } from 'bullmq'
import { createMetrics } from '../../src/metrics/metrics.js'
import { collectQueueMetrics, type JobCountsSource } from '../../src/metrics/queue-metrics.js'
import { JOB_STATES } from '../../src/metrics/labels.js'
import { parseExposition } from '../../src/metrics/exposition.js'

const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const connection = { host: redis.hostname, port: Number(redis.port || 6379) }
// A prefix of our own, so this test never sees (or disturbs) another test's queues.
const prefix = `spaceview-test-metrics-${randomUUID()}`

describe('collectQueueMetrics', () => {
  const queue = new Queue('repo-sync', { connection, prefix })

  afterAll(async () => {
    await queue.obliterate({ force: true })
    await queue.close()
  })

  async function jobsGauge(m: ReturnType<typeof createMetrics>) {
    const samples = parseExposition(await m.registry.metrics()).get('spaceview_jobs')?.samples ?? []
    return Object.fromEntries(samples.map((s) => [`${s.labels.queue}/${s.labels.state}`, s.value]))
  }

  it('sets every state of every queue from getJobCounts', async () => {
    await queue.addBulk([1, 2, 3].map((i) => ({ name: 'sync', data: { i } })))
    await queue.add('later', {}, { delay: 60_000 })
    const m = createMetrics()
    await collectQueueMetrics([queue], m.jobs)
    const gauge = await jobsGauge(m)
    expect(gauge).toMatchObject({ 'repo-sync/waiting': 3, 'repo-sync/delayed': 1, 'repo-sync/active': 0 })
    expect(Object.keys(gauge).sort()).toEqual(JOB_STATES.map((s) => `repo-sync/${s}`).sort())
  })

  it('drops the series of a queue it cannot read, samples the others, then throws', async () => {
    const m = createMetrics()
    let healthy = true
    const flaky: JobCountsSource = {
      name: 'sweep',
      getJobCounts: async () => {
        if (healthy) return { waiting: 9 }
        throw new Error('connection lost')
      },
    }
    await collectQueueMetrics([queue, flaky], m.jobs)
    expect((await jobsGauge(m))['sweep/waiting']).toBe(9)

    healthy = false
    await expect(collectQueueMetrics([queue, flaky], m.jobs)).rejects.toThrow(AggregateError)
    const gauge = await jobsGauge(m)
    expect(Object.keys(gauge).some((k) => k.startsWith('sweep/'))).toBe(false)
    expect(gauge['repo-sync/waiting']).toBe(3)
  })
})
