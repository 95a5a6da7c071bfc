/**
 * Time series derived from repeated scrapes of one /metrics endpoint: gauge values, counter rates and
 * histogram quantiles, as `spaceview report` charts them.
 *
 * Invariants:
 * - Points are in scrape order; a scrape where a series has no samples yields no point (a gap), never 0.
 * - Counter rates are per second between consecutive scrapes and treat a decrease as a process restart
 *   (the counter started again from zero), as Prometheus' `rate()` does.
 * - Quantiles follow Prometheus' `histogram_quantile`: linear interpolation inside the bucket that holds
 *   the rank, the lower bound of the first bucket is 0, and a rank in the `+Inf` bucket answers the
 *   highest finite bound.
 */
import type { MetricFamily, Sample } from './exposition.js'

export interface Scrape {
  /** When the scrape completed (ms since the epoch). */
  at: number
  families: Map<string, MetricFamily>
}

export interface Point {
  t: number
  v: number
}

export interface Series {
  name: string
  points: Point[]
}

type LabelFilter = (labels: Record<string, string>) => boolean

/** Every sample called `sampleName` (e.g. `x_count` lives in family `x`). */
export function samplesNamed(scrape: Scrape, sampleName: string): Sample[] {
  const out: Sample[] = []
  for (const suffix of ['', '_bucket', '_sum', '_count']) {
    if (suffix !== '' && !sampleName.endsWith(suffix)) continue
    const family = scrape.families.get(sampleName.slice(0, sampleName.length - suffix.length))
    for (const s of family?.samples ?? []) if (s.name === sampleName) out.push(s)
    if (out.length > 0) break
  }
  return out
}

/** Sums the matching samples of one scrape by the value of `groupBy` (one group `total` without it). */
function grouped(samples: Sample[], groupBy: string | undefined, filter: LabelFilter | undefined) {
  const groups = new Map<string, number>()
  for (const s of samples) {
    if (filter && !filter(s.labels)) continue
    if (!Number.isFinite(s.value)) continue
    const key = groupBy === undefined ? 'total' : (s.labels[groupBy] ?? '')
    groups.set(key, (groups.get(key) ?? 0) + s.value)
  }
  return groups
}

function collect(
  scrapes: readonly Scrape[],
  sampleName: string,
  groupBy: string | undefined,
  filter: LabelFilter | undefined,
): Map<string, Point[]> {
  const series = new Map<string, Point[]>()
  for (const scrape of scrapes) {
    for (const [key, v] of grouped(samplesNamed(scrape, sampleName), groupBy, filter)) {
      const points = series.get(key) ?? []
      points.push({ t: scrape.at, v })
      series.set(key, points)
    }
  }
  return series
}

const toSeries = (m: Map<string, Point[]>): Series[] => [...m].map(([name, points]) => ({ name, points }))

/** Values (summed within each group) at every scrape: gauges, or counters' running totals. */
export function valueSeries(
  scrapes: readonly Scrape[],
  sampleName: string,
  groupBy?: string,
  filter?: LabelFilter,
): Series[] {
  return toSeries(collect(scrapes, sampleName, groupBy, filter))
}

/** Per-second rate of a counter between consecutive scrapes, per group. */
export function rateSeries(
  scrapes: readonly Scrape[],
  sampleName: string,
  groupBy?: string,
  filter?: LabelFilter,
): Series[] {
  return toSeries(collect(scrapes, sampleName, groupBy, filter)).map(({ name, points }) => ({
    name,
    points: points.slice(1).flatMap((p, i) => {
      const prev = points[i] as Point
      const dt = (p.t - prev.t) / 1000
      if (dt <= 0) return []
      const delta = p.v >= prev.v ? p.v - prev.v : p.v
      return [{ t: p.t, v: delta / dt }]
    }),
  }))
}

/** How much a counter grew from the first to the last scrape, per group (restarts counted as above). */
export function increaseByGroup(
  scrapes: readonly Scrape[],
  sampleName: string,
  groupBy?: string,
  filter?: LabelFilter,
): Map<string, number> {
  const out = new Map<string, number>()
  for (const [key, points] of collect(scrapes, sampleName, groupBy, filter)) {
    let total = 0
    for (let i = 1; i < points.length; i++) {
      const prev = (points[i - 1] as Point).v
      const cur = (points[i] as Point).v
      total += cur >= prev ? cur - prev : cur
    }
    out.set(key, total)
  }
  return out
}

export interface Bucket {
  le: number
  /** Cumulative count of observations <= le. */
  count: number
}

/** Prometheus' histogram_quantile over cumulative buckets; undefined without observations. */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le)
  const last = sorted[sorted.length - 1]
  if (!last || last.le !== Infinity || last.count <= 0) return undefined
  if (q <= 0) return 0
  const rank = Math.min(q, 1) * last.count
  let lowerBound = 0
  let lowerCount = 0
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lowerBound
      const inBucket = b.count - lowerCount
      return inBucket <= 0 ? b.le : lowerBound + ((b.le - lowerBound) * (rank - lowerCount)) / inBucket
    }
    lowerBound = b.le
    lowerCount = b.count
  }
  return lowerBound
}

/** The histogram's buckets in one scrape, summed over every other label (like `sum by (le)`). */
export function bucketsOf(scrape: Scrape, histogram: string, filter?: LabelFilter): Bucket[] {
  const byLe = new Map<number, number>()
  for (const s of samplesNamed(scrape, `${histogram}_bucket`)) {
    if (filter && !filter(s.labels)) continue
    const le = s.labels.le === undefined ? undefined : Number(s.labels.le === '+Inf' ? Infinity : s.labels.le)
    if (le === undefined || Number.isNaN(le)) continue
    byLe.set(le, (byLe.get(le) ?? 0) + s.value)
  }
  return [...byLe].map(([le, count]) => ({ le, count }))
}

/**
 * Quantiles of the observations made between consecutive scrapes (bucket deltas), one series per
 * quantile named `p50`, `p99`, ...; an interval without observations is a gap.
 */
export function quantileSeries(
  scrapes: readonly Scrape[],
  histogram: string,
  quantiles: readonly number[],
  filter?: LabelFilter,
): Series[] {
  const series = quantiles.map((q) => ({ name: `p${Math.round(q * 1000) / 10}`, points: [] as Point[] }))
  for (let i = 1; i < scrapes.length; i++) {
    const cur = scrapes[i] as Scrape
    const before = new Map(bucketsOf(scrapes[i - 1] as Scrape, histogram, filter).map((b) => [b.le, b.count]))
    const now = bucketsOf(cur, histogram, filter)
    // A restart resets every bucket; then the current counts are the interval's observations.
    const restarted = now.some((b) => b.count < (before.get(b.le) ?? 0))
    const delta = now.map((b) => ({
      le: b.le,
      count: restarted ? b.count : b.count - (before.get(b.le) ?? 0),
    }))
    quantiles.forEach((q, k) => {
      const v = histogramQuantile(q, delta)
      if (v !== undefined) series[k]?.points.push({ t: cur.at, v })
    })
  }
  return series
}
