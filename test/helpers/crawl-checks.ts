/**
 * Assertions about the merged view and about what spaceview reports, shared by the crawler tests.
 *
 * `badRecords` is the "stores nothing bad" check, independent of timing: a merged record is good only if
 * its value hashes to its CID (no tampered content) and that (author, path, CID) was at some point written
 * in devnet — it appears in the author's oplog in that space. A record the syncer merged a moment before a
 * later update is therefore fine; a forged, tampered or invented one is not. Counters are read from the
 * process's metrics registry, so a test asserts what an operator would see on /metrics.
 */
import type { Queue } from 'bullmq'
import type { Devnet } from '../../src/devnet/devnet.js'
import type { MergeStore } from '../../src/merge/store.js'
import type { StoredRecord } from '../../src/merge/types.js'
import type { Metrics } from '../../src/metrics/metrics.js'
import { encodeRecordJson } from '../../src/protocol/record-codec.js'
import type { DeadLetter } from '../../src/crawler/queues.js'

export async function storedRecords(store: MergeStore, space: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = []
  let cursor: string | undefined
  for (;;) {
    const page = await store.listRecords({ space, limit: 1000, ...(cursor ? { cursor } : {}) })
    out.push(...page.records)
    if (!page.cursor) break
    cursor = page.cursor
  }
  return out
}

/** Every (path, CID) the author ever wrote into this space, from devnet's oplog. */
function everWritten(devnet: Devnet, space: string, author: string): Set<string> {
  const out = new Set<string>()
  for (const op of devnet.repo(space, author)?.ops({}, Number.MAX_SAFE_INTEGER) ?? []) {
    if (op.cid !== null) out.add(`${op.collection}/${op.rkey}/${op.cid}`)
  }
  return out
}

/** Merged records of `space` that devnet never served as genuine content; empty when all is well. */
export async function badRecords(devnet: Devnet, store: MergeStore, space: string): Promise<string[]> {
  const bad: string[] = []
  const written = new Map<string, Set<string>>()
  for (const r of await storedRecords(store, space)) {
    let genuine = written.get(r.author)
    if (!genuine) written.set(r.author, (genuine = everWritten(devnet, space, r.author)))
    if (encodeRecordJson(r.value).cid.toString() !== r.cid)
      bad.push(`${r.uri}: value does not hash to ${r.cid}`)
    else if (!genuine.has(`${r.collection}/${r.rkey}/${r.cid}`))
      bad.push(`${r.uri}: ${r.cid} was never written`)
  }
  return bad
}

/** Sum of a metric's samples whose labels include `labels` (counters; histograms count their `_count`). */
export async function metricValue(
  metrics: Metrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = metrics.registry.getSingleMetric(`spaceview_${name}`)
  if (!metric) throw new Error(`no metric spaceview_${name}`)
  const { values } = await metric.get()
  let sum = 0
  for (const v of values) {
    const sample = v as { value: number; labels: Record<string, unknown>; metricName?: string }
    if (
      sample.metricName !== undefined &&
      !sample.metricName.endsWith('_count') &&
      sample.metricName !== `spaceview_${name}`
    )
      continue
    if (Object.entries(labels).every(([k, want]) => String(sample.labels[k]) === want)) sum += sample.value
  }
  return sum
}

/** Dead letters (jobs that used up their attempts), with the reason each failed. */
export async function deadLetters(queue: Queue): Promise<DeadLetter[]> {
  const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized', 'completed', 'failed', 'active'])
  return jobs.map((j) => j.data as DeadLetter)
}
