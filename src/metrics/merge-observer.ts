/**
 * Feeds the merge store's batch and read reports (MergeObserver) into the ClickHouse metrics: rows and
 * latency of every records insert, and the latency of every read that reached ClickHouse, by read name.
 * Reads answered by the store's exact view cache never touched ClickHouse and are left out, so the
 * histogram stays a measure of the engine.
 */
import type { MergeObserver } from '../merge/store.js'
import type { Metrics } from './metrics.js'

export function mergeObserver(metrics: Metrics): MergeObserver {
  return {
    batch: (b) => {
      metrics.clickhouseInsertRows.observe({ table: 'records' }, b.rows)
      metrics.clickhouseInsertDuration.observe({ table: 'records', outcome: 'ok' }, b.writeMs / 1000)
    },
    read: (r) => {
      if (!r.cached) metrics.clickhouseQueryDuration.observe({ query: r.op, outcome: 'ok' }, r.ms / 1000)
    },
  }
}
