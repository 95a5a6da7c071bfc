/**
 * The load test's result document and its renderings: the JSON shape (one parseable line, every figure
 * with its baseline and ratio, targets judged only on measured values), the text table and the HTML page
 * (self-contained, escaped).
 */
import { renderHtml } from '../../bench/loadtest/html.js'
import { figure, type ScenarioResult } from '../../bench/loadtest/measurements.js'
import { collectTargets, renderTable, toJsonLine, type LoadtestReport } from '../../bench/loadtest/report.js'
import { parseLoadtestOptions, type LoadtestOptions } from '../../src/cli/loadtest.js'

function scenario(): ScenarioResult {
  return {
    scenario: 'backfill',
    shape: { spaces: 2, writers: 2, records: 5, hosts: 1, totalRecords: 20 },
    params: { hosts: 1 },
    startedAt: '2026-01-01T00:00:00.000Z',
    seconds: 12.3,
    figures: [
      figure('records_per_s', 'verified records/s <end to end>', 'rec/s', 31_234.4, 1_000, 'higher', {
        target: { op: '>=', value: 30_000 },
        digits: 0,
      }),
      figure('api_p99_ms', 'listRecords p99', 'ms', null, 4, 'lower', {
        target: { op: '<', value: 20, caveat: 'offered 10 req/s' },
      }),
      figure('peak_rss_mib', 'peak RSS', 'MiB', 2048, 400, 'lower', {
        target: { op: '<', value: 1024 },
        digits: 0,
      }),
      figure('nan', 'not finite', 'ms', Number.NaN, Number.POSITIVE_INFINITY, 'lower'),
    ],
    processes: [
      {
        system: 'spaceview',
        name: 'spaceview',
        peakRssMiB: 2048,
        cpuSec: 3,
        cores: 1.5,
        threads: [{ group: 'main thread', cpuSec: 2 }],
      },
    ],
    shares: {
      spaceview: {
        redis: 0.1,
        clickhouse: 0.5,
        elu: 0.9,
        redisTop: [{ command: 'evalsha', calls: 10, ms: 1 }],
        clickhouseCalls: { query: { calls: 2, ms: 20, meanMs: 10 } },
        clickhouseStatements: [{ statement: 'SELECT … FROM records FINAL', calls: 2, ms: 20, share: 1 }],
      },
    },
    errors: { spaceview: { 'job retries': 2 }, baseline: {} },
    latency: {},
    histograms: { x: [{ upTo: 1, count: 2 }] },
    charts: [
      {
        title: 'Backfill <throughput>',
        kind: 'time',
        unit: 'per_second',
        series: [
          {
            name: 'spaceview',
            points: [
              { t: 0, v: 1 },
              { t: 1000, v: 2 },
            ],
          },
        ],
      },
      { title: 'latency', kind: 'latency', unit: 'count', series: [] },
    ],
    loadavg: { start: [1, 1, 1], end: [2, 2, 2] },
    notes: ['a note with <html> & "quotes"'],
  }
}

function report(): LoadtestReport {
  const parsed = parseLoadtestOptions(['--scenario', 'backfill'])
  if (parsed.help) throw new Error('unexpected help')
  const { redisUrl: _url, ...options } = parsed.options as LoadtestOptions
  const scenarios = [scenario()]
  return {
    bench: 'spaceview.loadtest',
    version: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    seconds: 60,
    machine: {
      cpus: 2,
      cpuModel: 'test',
      memTotalMiB: 1024,
      node: 'v22',
      loadavgStart: [1, 1, 1],
      loadavgEnd: [2, 2, 2],
    },
    options: { ...options, redis: 'private' },
    scenarios,
    targets: collectTargets(scenarios),
    profiles: {},
    failures: [],
  }
}

describe('figures', () => {
  it('carry value, baseline, ratio (spaceview / baseline) and a judged target', () => {
    const f = figure('x', 'x', 'rec/s', 300, 100, 'higher', { target: { op: '>=', value: 200 } })
    expect(f).toEqual({
      key: 'x',
      label: 'x',
      unit: 'rec/s',
      value: 300,
      baseline: 100,
      ratio: 3,
      better: 'higher',
      target: { op: '>=', value: 200, meets: true },
    })
  })

  it('never pass a target without a measurement, and turn non-finite numbers into null', () => {
    const [, missing, , nan] = scenario().figures
    expect(missing?.target?.meets).toBeNull()
    expect(nan?.value).toBeNull()
    expect(nan?.baseline).toBeNull()
    expect(nan?.ratio).toBeNull()
  })
})

describe('the result document', () => {
  it('is one line of JSON holding every figure, scenario and target', () => {
    const line = toJsonLine(report())
    expect(line).not.toContain('\n')
    const doc = JSON.parse(line) as LoadtestReport
    expect(doc).toMatchObject({ bench: 'spaceview.loadtest', version: 1, machine: { cpus: 2 } })
    expect(doc.scenarios).toHaveLength(1)
    const s = doc.scenarios[0] as ScenarioResult
    expect(Object.keys(s).sort()).toEqual(
      [
        'charts',
        'errors',
        'figures',
        'histograms',
        'latency',
        'loadavg',
        'notes',
        'params',
        'processes',
        'scenario',
        'seconds',
        'shape',
        'shares',
        'startedAt',
      ].sort(),
    )
    for (const f of s.figures) {
      expect(f).toEqual(
        expect.objectContaining({
          key: expect.any(String),
          unit: expect.any(String),
          better: expect.stringMatching(/^(higher|lower)$/),
        }),
      )
      expect('value' in f && 'baseline' in f && 'ratio' in f).toBe(true)
    }
    expect(doc.targets.map((t) => [t.key, t.meets])).toEqual([
      ['records_per_s', true],
      ['api_p99_ms', null],
      ['peak_rss_mib', false],
    ])
    expect(doc.options).not.toHaveProperty('redisUrl')
  })

  it('renders a table with spaceview, baseline, ratio and a targets summary', () => {
    const text = renderTable(report())
    expect(text).toContain('== backfill: 2 spaces x 2 writers x 5 records = 20 records')
    expect(text).toMatch(/31,234 rec\/s\s+1,000 rec\/s\s+31\.23x\s+>= 30,000 met/)
    expect(text).toContain('NOT met  backfill     peak RSS')
    expect(text).toContain('n/a')
    expect(text).toContain('time shares [spaceview]: Redis 10.0%, ClickHouse 50.0%')
    expect(text).toContain('errors [baseline]: none')
  })

  it('renders a self-contained, escaped HTML page with the charts', () => {
    const html = renderHtml(report())
    expect(html).toContain('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'')
    expect(html).not.toContain('<script')
    expect(html).not.toContain('<end to end>')
    expect(html).toContain('&#60;end to end&#62;')
    expect(html).not.toContain('<html> &')
    expect((html.match(/<svg /g) ?? []).length).toBe(2)
    expect(html).toContain('no data')
  })
})
