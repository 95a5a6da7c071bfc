/**
 * Samples BullMQ job counts into the `spaceview_jobs{queue, state}` gauge.
 *
 * Call it before each scrape (`metricsHandler`'s `beforeScrape`) or on a timer. Invariants:
 * - The states asked for are the fixed JOB_STATES list, so the label set does not depend on BullMQ's
 *   defaults.
 * - A queue whose counts cannot be read loses its series instead of keeping stale numbers: a dashboard
 *   then shows a gap, which is the truth, rather than a flat line. The other queues are still sampled, and
 *   the failures are rethrown together afterwards.
 */
import { JOB_STATES, type JobState } from './labels.js'
import { metrics, type LabeledGauge } from './metrics.js'

/** The part of a BullMQ `Queue` this needs. */
export interface JobCountsSource {
  readonly name: string
  getJobCounts(...types: JobState[]): Promise<Record<string, number>>
}

export async function collectQueueMetrics(
  queues: readonly JobCountsSource[],
  gauge: LabeledGauge<{ queue: string; state: JobState }> = metrics.jobs,
): Promise<void> {
  const failures: unknown[] = []
  await Promise.all(
    queues.map(async (source) => {
      const queue = source.name
      try {
        const counts = await source.getJobCounts(...JOB_STATES)
        for (const state of JOB_STATES) gauge.set({ queue, state }, counts[state] ?? 0)
      } catch (err) {
        for (const state of JOB_STATES) gauge.remove({ queue, state })
        failures.push(err)
      }
    }),
  )
  if (failures.length > 0) {
    throw new AggregateError(failures, `could not read job counts of ${failures.length} queue(s)`)
  }
}
