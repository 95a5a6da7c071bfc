/**
 * The load test's statistics: nearest-rank percentiles, Prometheus-style histogram quantiles, fixed-width
 * histograms, busy-time accounting and ratios — the arithmetic every reported figure rests on.
 */
import {
  BusyTracker,
  bucketDelta,
  histogramQuantile,
  linearHistogram,
  percentile,
  ratio,
  SampleBuffer,
  summarize,
} from '../../bench/loadtest/stats.js'

describe('percentile (nearest rank)', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1)

  it('returns observed values at the classic ranks', () => {
    expect(percentile(sorted, 0.5)).toBe(50)
    expect(percentile(sorted, 0.95)).toBe(95)
    expect(percentile(sorted, 0.99)).toBe(99)
    expect(percentile(sorted, 1)).toBe(100)
    expect(percentile(sorted, 0)).toBe(1)
  })

  it('picks the largest of few samples for a high percentile (no interpolation beyond data)', () => {
    expect(percentile([3, 7], 0.99)).toBe(7)
    expect(percentile([3, 7], 0.5)).toBe(3)
    expect(percentile([42], 0.99)).toBe(42)
  })

  it('says null for no samples and refuses p outside [0, 1]', () => {
    expect(percentile([], 0.5)).toBeNull()
    expect(() => percentile([1], 1.5)).toThrow(RangeError)
  })
})

describe('summarize', () => {
  it('sorts a copy and reports count, min, mean, percentiles and max', () => {
    const values = [5, 1, 4, 2, 3]
    const s = summarize(values)
    expect(s).toEqual({ count: 5, min: 1, mean: 3, p50: 3, p95: 5, p99: 5, max: 5 })
    expect(values).toEqual([5, 1, 4, 2, 3])
  })

  it('is all null (not zero) for an empty set', () => {
    expect(summarize([])).toEqual({
      count: 0,
      min: null,
      mean: null,
      p50: null,
      p95: null,
      p99: null,
      max: null,
    })
  })
})

describe('histogramQuantile (Prometheus semantics)', () => {
  // 100 observations: 50 in (0, 0.1], 40 in (0.1, 0.5], 10 in (0.5, 1].
  const buckets = [
    { le: 0.1, count: 50 },
    { le: 0.5, count: 90 },
    { le: 1, count: 100 },
    { le: Infinity, count: 100 },
  ]

  it('interpolates linearly inside the bucket holding the rank', () => {
    expect(histogramQuantile(buckets, 0.5)).toBeCloseTo(0.1)
    expect(histogramQuantile(buckets, 0.7)).toBeCloseTo(0.3)
    expect(histogramQuantile(buckets, 0.95)).toBeCloseTo(0.75)
  })

  it('answers the highest finite bound for a rank in +Inf, and null when empty', () => {
    expect(
      histogramQuantile(
        [
          { le: 1, count: 1 },
          { le: Infinity, count: 5 },
        ],
        0.99,
      ),
    ).toBe(1)
    expect(
      histogramQuantile(
        [
          { le: 1, count: 0 },
          { le: Infinity, count: 0 },
        ],
        0.5,
      ),
    ).toBeNull()
  })

  it('measures a window as the difference of two snapshots', () => {
    const before = [
      { le: 0.1, count: 10 },
      { le: Infinity, count: 20 },
    ]
    const after = [
      { le: 0.1, count: 15 },
      { le: Infinity, count: 30 },
    ]
    expect(bucketDelta(before, after)).toEqual([
      { le: 0.1, count: 5 },
      { le: Infinity, count: 10 },
    ])
  })
})

describe('linearHistogram', () => {
  it('counts every value once, outliers in the last bin', () => {
    const bins = linearHistogram([1, 2, 3, 4, 1000], 4, 4)
    expect(bins.map((b) => b.upTo)).toEqual([1, 2, 3, 4])
    expect(bins.map((b) => b.count)).toEqual([1, 1, 1, 2])
  })

  it('is empty for no values', () => {
    expect(linearHistogram([], 10)).toEqual([])
  })
})

describe('ratio', () => {
  it('is a / b to two decimals, null when not comparable', () => {
    expect(ratio(3, 2)).toBe(1.5)
    expect(ratio(1, 3)).toBe(0.33)
    expect(ratio(1, 0)).toBeNull()
    expect(ratio(null, 2)).toBeNull()
    expect(ratio(2, undefined)).toBeNull()
  })
})

describe('BusyTracker', () => {
  it('counts overlapping calls once in busy time and fully in summed time', () => {
    let now = 0
    const t = new BusyTracker(() => now)
    const a = t.start() // [0, 10]
    now = 5
    const b = t.start() // [5, 15]
    now = 10
    a()
    now = 15
    b()
    now = 20
    const c = t.start() // [20, 22]
    now = 22
    c()
    c() // ending twice is harmless
    expect(t.calls).toBe(3)
    expect(t.sumMs).toBe(22)
    expect(t.busyMs).toBe(17)
  })

  it('includes a call still in flight in busyNow', () => {
    let now = 0
    const t = new BusyTracker(() => now)
    t.start()
    now = 7
    expect(t.busyNow()).toBe(7)
  })
})

describe('SampleBuffer', () => {
  it('keeps every sample below its cap and a bounded reservoir above it', () => {
    const small = new SampleBuffer(10)
    small.addAll([1, 2, 3])
    expect(Array.from(small.values())).toEqual([1, 2, 3])
    const capped = new SampleBuffer(100)
    for (let i = 0; i < 10_000; i++) capped.add(i)
    expect(capped.count).toBe(10_000)
    expect(capped.values().length).toBe(100)
    // A uniform reservoir of 0..9999 has values from well past the first hundred.
    expect(Math.max(...capped.values())).toBeGreaterThan(1000)
  })
})
