/**
 * Series derived from scrapes: Prometheus' histogram_quantile semantics, counter rates across restarts,
 * and gaps (never zeros) where a scrape has no data.
 */
import { parseExposition } from '../../src/metrics/exposition.js'
import {
  histogramQuantile,
  increaseByGroup,
  quantileSeries,
  rateSeries,
  valueSeries,
  type Scrape,
} from '../../src/metrics/series.js'

const scrape = (at: number, text: string): Scrape => ({ at, families: parseExposition(text) })

describe('histogramQuantile', () => {
  const buckets = [
    { le: 1, count: 10 },
    { le: 2, count: 20 },
    { le: Infinity, count: 20 },
  ]
  it.each([
    [0.5, 1],
    [0.75, 1.5],
    [0.25, 0.5],
    [1, 2],
  ])('q=%d → %d (linear inside the bucket, lower bound 0)', (q, v) => {
    expect(histogramQuantile(q, buckets)).toBeCloseTo(v)
  })

  it('answers the highest finite bound for a rank in +Inf, and nothing without observations', () => {
    expect(
      histogramQuantile(0.99, [
        { le: 1, count: 1 },
        { le: Infinity, count: 10 },
      ]),
    ).toBe(1)
    expect(histogramQuantile(0.5, [{ le: Infinity, count: 0 }])).toBeUndefined()
    expect(histogramQuantile(0.5, [{ le: 1, count: 3 }])).toBeUndefined() // no +Inf bucket: not a histogram
  })
})

describe('series from scrapes', () => {
  const counter = (v: number, op = 'create') =>
    `# TYPE c_total counter\nc_total{op="${op}"} ${v}\nc_total{op="delete"} 1\n`
  const scrapes = [
    scrape(0, counter(10)),
    scrape(1000, counter(30)),
    scrape(2000, counter(5)),
    scrape(4000, counter(25)),
  ]

  it('rates are per second and treat a decrease as a restart', () => {
    const [create] = rateSeries(scrapes, 'c_total', 'op', (l) => l.op === 'create')
    expect(create?.points).toEqual([
      { t: 1000, v: 20 },
      { t: 2000, v: 5 },
      { t: 4000, v: 10 },
    ])
    expect(increaseByGroup(scrapes, 'c_total', 'op')).toEqual(
      new Map([
        ['create', 20 + 5 + 20],
        ['delete', 0],
      ]),
    )
  })

  it('values sum within a group; a scrape without the metric is a gap', () => {
    const withGap = [
      scrape(0, counter(1)),
      scrape(1000, '# TYPE other gauge\nother 1\n'),
      scrape(2000, counter(3)),
    ]
    expect(valueSeries(withGap, 'c_total')).toEqual([
      {
        name: 'total',
        points: [
          { t: 0, v: 2 },
          { t: 2000, v: 4 },
        ],
      },
    ])
  })

  it('quantiles cover each interval, summed over other labels, with gaps for empty intervals', () => {
    const hist = (a: number, b: number) =>
      [
        '# TYPE h_seconds histogram',
        `h_seconds_bucket{q="x",le="1"} ${a}`,
        `h_seconds_bucket{q="x",le="2"} ${b}`,
        `h_seconds_bucket{q="x",le="+Inf"} ${b}`,
        `h_seconds_bucket{q="y",le="1"} 0`,
        `h_seconds_bucket{q="y",le="2"} 0`,
        `h_seconds_bucket{q="y",le="+Inf"} 0`,
      ].join('\n')
    const s = [
      scrape(0, hist(0, 0)),
      scrape(1000, hist(10, 20)),
      scrape(2000, hist(10, 20)),
      scrape(3000, hist(10, 30)),
    ]
    const [p50, p99] = quantileSeries(s, 'h_seconds', [0.5, 0.99])
    expect(p50?.name).toBe('p50')
    expect(p99?.name).toBe('p99')
    expect(p50?.points).toEqual([
      { t: 1000, v: 1 },
      { t: 3000, v: 1.5 },
    ])
  })
})
