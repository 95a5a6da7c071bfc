/**
 * The in-process rig for fault and bad-input scenarios: the crawler harness (test/helpers/crawler-harness.ts:
 * devnet, the real MergeStore on embedded chdb, a crawler wired as production wires it) on Redis DB 15 (this
 * suite's own), with the knobs a hostile scenario needs: tighter HTTP budgets (slowloris), a smaller page
 * size (pagination faults), a smaller CAR cap, fewer attempts, a fast sweep. Nothing is mocked: every knob
 * is a production setting.
 *
 * Also here: how a scenario decides it survived (`lostAndForged` compares the merged view with devnet's
 * ground truth record by record) and how it reads the metrics that must show what happened.
 */
import type { Devnet, DevnetOptions } from '../../../src/devnet/devnet.js'
import type { MergeStore } from '../../../src/merge/store.js'
import type { Metrics } from '../../../src/metrics/metrics.js'
import type { CrawlerOptions } from '../../../src/crawler/crawler.js'
import { HttpClient, type HttpTimeouts } from '../../../src/crawler/http-client.js'
import { SpaceClient } from '../../../src/crawler/space-client.js'
import { DEVNET_ENDPOINTS } from '../../../src/identity/endpoint-guard.js'
import { mergedView, startHarness, truth, type Harness } from '../../helpers/crawler-harness.js'

/** This suite's Redis database (the machine's shared Redis; other suites use other numbers). */
export const HOSTILE_REDIS_DB = 15

export interface RigOptions {
  seed: string
  devnet?: DevnetOptions
  crawler?: Partial<CrawlerOptions>
  /** HTTP budgets for repo/space host calls (JSON and CAR alike). */
  timeouts?: Partial<HttpTimeouts>
  /** listRepos / listRepoOps page size. */
  pageLimit?: number
  /** SPACEVIEW_MAX_CAR_BYTES. */
  maxCarBytes?: number
  env?: Record<string, string>
}

/** The crawler harness with this suite's knobs applied. */
export type Rig = Harness

export async function startRig(opts: RigOptions): Promise<Rig> {
  return startHarness({
    redisDb: HOSTILE_REDIS_DB,
    seed: opts.seed,
    ...(opts.devnet ? { devnet: opts.devnet } : {}),
    ...(opts.crawler ? { crawler: opts.crawler } : {}),
    env: { ...(opts.maxCarBytes ? { SPACEVIEW_MAX_CAR_BYTES: String(opts.maxCarBytes) } : {}), ...opts.env },
    tune(ctx, config) {
      if (opts.timeouts) {
        // The same client production builds, with tighter budgets so a trickling host is cut in seconds.
        const http = new HttpClient({ policy: DEVNET_ENDPOINTS, timeouts: opts.timeouts })
        ctx.client = new SpaceClient({ http, carMaxBytes: config.maxCarBytes, carTimeouts: opts.timeouts })
      }
      if (opts.pageLimit) ctx.pageLimit = opts.pageLimit
    },
  })
}

type Row = { uri: string; cid: string; value: unknown }

/**
 * Records lost (in the truth but missing or different in the merged view) and records forged (in the
 * merged view but not served by any honest host), over the given spaces.
 */
export async function lostAndForged(
  store: MergeStore,
  devnet: Devnet,
  spaces: string[],
): Promise<{ lost: number; forged: number }> {
  let lost = 0
  let forged = 0
  for (const space of spaces) {
    const key = (r: Row) => `${r.uri} ${r.cid} ${JSON.stringify(sortKeys(r.value))}`
    const have = new Set((await mergedView(store, space)).map(key))
    const want = new Set(truth(devnet, space).map(key))
    for (const k of want) if (!have.has(k)) lost++
    for (const k of have) if (!want.has(k)) forged++
  }
  return { lost, forged }
}

/** JSON with object keys sorted: values compare as data (DAG-CBOR and JSON order keys differently). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    )
  }
  return value
}

/** Sum of a counter's samples whose labels include `labels` (0 when none). */
export async function metricSum(
  metrics: Metrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name)
  if (!metric) throw new Error(`no metric ${name}`)
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((n, v) => n + v.value, 0)
}

/** The non-zero samples of a counter, as "label=value" pairs for the summary's evidence column. */
export async function nonZero(metrics: Metrics, name: string, label: string): Promise<string> {
  const metric = metrics.registry.getSingleMetric(name)
  if (!metric) return ''
  const { values } = await metric.get()
  return values
    .filter((v) => v.value > 0 && v.labels[label] !== undefined)
    .map((v) => `${String(v.labels[label])}=${v.value}`)
    .join(' ')
}

export { waitFor } from '../../helpers/crawler-harness.js'
