/**
 * Pure statistics for the load test: percentiles of latency samples, quantiles of Prometheus-style
 * cumulative histograms, fixed-width histograms for charts, busy-time accounting and ratios.
 *
 * Invariants:
 * - Percentiles use the nearest-rank method on sorted samples (no interpolation), so a reported p99 is
 *   always a latency that was actually observed; an empty sample set yields null, never 0 or NaN, so
 *   "nothing measured" cannot be read as "instant".
 * - Histogram quantiles follow Prometheus' histogram_quantile (linear inside the bucket, lower bound of
 *   the first bucket 0, a rank in +Inf answers the highest finite bound), so they match what an operator
 *   sees in Grafana for the same histogram.
 * - Ratios are null when either side is missing or the denominator is 0.
 */

export interface LatencySummary {
  count: number
  min: number | null
  mean: number | null
  p50: number | null
  p95: number | null
  p99: number | null
  max: number | null
}

/** Nearest-rank percentile of ascending `sorted` values; `p` in [0, 1]. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null
  if (!(p >= 0 && p <= 1)) throw new RangeError(`percentile p must be in [0, 1] (got ${p})`)
  const rank = Math.max(1, Math.ceil(p * sorted.length))
  return sorted[rank - 1] as number
}

const round2 = (n: number) => Math.round(n * 100) / 100

/** Count, min, mean, p50/p95/p99 and max of `values` (any order; not modified). */
export function summarize(values: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(values).sort()
  if (sorted.length === 0)
    return { count: 0, min: null, mean: null, p50: null, p95: null, p99: null, max: null }
  let sum = 0
  for (const v of sorted) sum += v
  const pick = (p: number) => round2(percentile(sorted, p) as number)
  return {
    count: sorted.length,
    min: round2(sorted[0] as number),
    mean: round2(sum / sorted.length),
    p50: pick(0.5),
    p95: pick(0.95),
    p99: pick(0.99),
    max: round2(sorted[sorted.length - 1] as number),
  }
}

/**
 * A growable store of latency samples (ms). Bounded: past `cap` samples it keeps a uniform reservoir, so a
 * long run cannot exhaust memory, and `count` still counts every observation.
 */
export class SampleBuffer {
  private data: Float64Array
  private size = 0
  count = 0
  private seed = 0x9e3779b9

  constructor(private readonly cap = 2_000_000) {
    this.data = new Float64Array(Math.min(1024, cap))
  }

  add(v: number): void {
    this.count++
    if (this.size < this.cap) {
      if (this.size === this.data.length) {
        const next = new Float64Array(Math.min(this.cap, this.data.length * 2))
        next.set(this.data)
        this.data = next
      }
      this.data[this.size++] = v
      return
    }
    // Reservoir sampling (Algorithm R) with a small xorshift PRNG: deterministic, no Math.random.
    this.seed ^= this.seed << 13
    this.seed ^= this.seed >>> 17
    this.seed ^= this.seed << 5
    const j = (this.seed >>> 0) % this.count
    if (j < this.cap) this.data[j] = v
  }

  addAll(values: Iterable<number>): void {
    for (const v of values) this.add(v)
  }

  values(): Float64Array {
    return this.data.subarray(0, this.size)
  }
}

/** One bucket of a cumulative histogram: observations <= `le` (Infinity for +Inf). */
export interface CumulativeBucket {
  le: number
  count: number
}

/** Prometheus histogram_quantile over cumulative buckets (sorted by `le`); null when empty. */
export function histogramQuantile(buckets: readonly CumulativeBucket[], q: number): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le)
  const total = sorted[sorted.length - 1]?.count ?? 0
  if (total <= 0) return null
  const rank = q * total
  let prevLe = 0
  let prevCount = 0
  for (const b of sorted) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe
      if (b.count === prevCount) return b.le
      return prevLe + ((b.le - prevLe) * (rank - prevCount)) / (b.count - prevCount)
    }
    prevLe = Number.isFinite(b.le) ? b.le : prevLe
    prevCount = b.count
  }
  return prevLe
}

/** Difference of two snapshots of the same cumulative histogram (a window between two scrapes). */
export function bucketDelta(
  before: readonly CumulativeBucket[],
  after: readonly CumulativeBucket[],
): CumulativeBucket[] {
  const prior = new Map(before.map((b) => [b.le, b.count]))
  return after.map((b) => ({ le: b.le, count: Math.max(0, b.count - (prior.get(b.le) ?? 0)) }))
}

export interface HistogramBin {
  /** Upper edge of the bin (ms). */
  upTo: number
  count: number
}

/**
 * Fixed-width histogram of `values` in `bins` bins over [0, max]; values above max land in the last bin.
 * `max` defaults to the 99.5th percentile so one outlier does not squash the chart.
 */
export function linearHistogram(values: ArrayLike<number>, bins = 40, max?: number): HistogramBin[] {
  if (values.length === 0) return []
  const sorted = Float64Array.from(values).sort()
  const top = max ?? Math.max(percentile(sorted, 0.995) as number, 1e-9)
  const width = top / bins
  const out: HistogramBin[] = Array.from({ length: bins }, (_, i) => ({
    upTo: round2(width * (i + 1)),
    count: 0,
  }))
  for (const v of sorted) {
    const i = Math.min(bins - 1, Math.max(0, Math.ceil(v / width) - 1))
    ;(out[i] as HistogramBin).count++
  }
  return out
}

/** a / b rounded to 2 decimals; null when not comparable. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null
  return round2(a / b)
}

/**
 * Busy-time accounting for overlapping calls: `sumMs` adds every call's duration (can exceed wall time
 * when calls overlap), `busyMs` counts time with at least one call in flight (never exceeds wall time).
 */
export class BusyTracker {
  calls = 0
  sumMs = 0
  busyMs = 0
  private inFlight = 0
  private busySince = 0

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Marks a call as started; call the result when it ends. */
  start(): () => void {
    const t0 = this.now()
    if (this.inFlight++ === 0) this.busySince = t0
    let ended = false
    return () => {
      if (ended) return
      ended = true
      const t1 = this.now()
      this.calls++
      this.sumMs += t1 - t0
      if (--this.inFlight === 0) this.busyMs += t1 - this.busySince
    }
  }

  /** Busy time including the open interval of calls still in flight. */
  busyNow(): number {
    return this.busyMs + (this.inFlight > 0 ? this.now() - this.busySince : 0)
  }
}

/** Rounds to `digits` decimals (for JSON figures). */
export function round(n: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}
