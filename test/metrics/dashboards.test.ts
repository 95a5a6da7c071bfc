/**
 * Grafana dashboards and provisioning: every panel query and variable query names only metrics that the
 * registry defines (histograms through their `_bucket`/`_sum`/`_count` series), every defined metric is
 * on some dashboard, and the dashboards are wired to the provisioned datasource.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createMetrics } from '../../src/metrics/metrics.js'
import { loadYaml } from '../deploy/yaml.js'
import { baseMetricName, exposedSeriesNames, metricNamesIn, PROMETHEUS_SYNTHETIC } from './promql-names.js'

const GRAFANA = join(process.cwd(), 'grafana')
const DASHBOARDS = join(GRAFANA, 'dashboards')
const EXPECTED = [
  'api-acl.json',
  'hosts.json',
  'queues.json',
  'sync-overview.json',
  'verification-failures.json',
]

interface Target {
  expr?: string
  datasource?: { uid?: string }
}
interface Panel {
  id: number
  type: string
  title: string
  datasource?: { uid?: string }
  gridPos: { x: number; y: number; w: number; h: number }
  targets?: Target[]
  panels?: Panel[]
}
interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
  templating?: { list: Array<{ name: string; query?: string | { query?: string } }> }
}

const registry = createMetrics().registry
const known = exposedSeriesNames(registry)
const dashboards = EXPECTED.map((file) => ({
  file,
  json: JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard,
}))

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
}

/** Every query of a dashboard with where it came from. */
function queries(d: Dashboard): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = []
  for (const p of allPanels(d.panels)) {
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr ?? '' })
  }
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '')
    if (q) out.push({ where: `variable $${v.name}`, expr: q })
  }
  return out
}

describe('promql metric name extraction', () => {
  it.each([
    ['sum(rate(spaceview_records_verified_total[$__rate_interval]))', ['spaceview_records_verified_total']],
    [
      'histogram_quantile(0.99, sum by (le, queue) (rate(spaceview_job_duration_seconds_bucket{queue=~"$queue"}[5m])))',
      ['spaceview_job_duration_seconds_bucket'],
    ],
    ['max by (state) (spaceview_repos) > 0 and on() vector(1)', ['spaceview_repos']],
    ['a_total / ignoring(x) group_left b_total offset 5m > bool 1e-9', ['a_total', 'b_total']],
    ['topk(10, sum without (instance) (increase(x_total{reason!="by"}[$__range])))', ['x_total']],
    ['label_values(spaceview_jobs, queue)', ['spaceview_jobs']],
    ['label_values(queue)', []],
    ['up{job=~"spaceview-.*"} == 0', ['up']],
  ])('%s', (expr, names) => {
    expect(metricNamesIn(expr).sort()).toEqual([...names].sort())
  })
})

describe('grafana dashboards', () => {
  it('are exactly the five expected files', () => {
    expect(readdirSync(DASHBOARDS).sort()).toEqual(EXPECTED)
  })

  it.each(EXPECTED)('%s references only metrics the registry defines', (file) => {
    const d = dashboards.find((x) => x.file === file)?.json as Dashboard
    const qs = queries(d)
    expect(qs.length).toBeGreaterThan(0)
    const unknown = qs.flatMap(({ where, expr }) =>
      metricNamesIn(expr)
        .filter((n) => !known.has(n) && !PROMETHEUS_SYNTHETIC.includes(n))
        .map((n) => `${where}: ${n} (in ${expr})`),
    )
    expect(unknown).toEqual([])
  })

  it('show every spaceview metric somewhere (default process metrics excepted)', () => {
    const used = new Set(
      dashboards
        .flatMap(({ json }) => queries(json).flatMap((q) => metricNamesIn(q.expr)))
        .map((n) => baseMetricName(n, registry)),
    )
    const own = registry
      .getMetricsAsArray()
      .map((m) => m.name)
      .filter((n) => !/^spaceview_(process|nodejs)_/.test(n))
    expect(own.filter((n) => !used.has(n))).toEqual([])
  })

  it('use the provisioned datasource, unique ids and a 24-column grid', () => {
    const provisioning = loadYaml(join(GRAFANA, 'provisioning', 'datasources', 'prometheus.yml')) as {
      datasources: Array<{ uid: string; type: string; url: string }>
    }
    const ds = provisioning.datasources[0]
    expect(ds).toMatchObject({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' })
    const uids = dashboards.map((d) => d.json.uid)
    expect(new Set(uids).size).toBe(uids.length)
    for (const { file, json } of dashboards) {
      const panels = allPanels(json.panels)
      const ids = panels.map((p) => p.id)
      expect({ file, duplicateIds: ids.filter((id, i) => ids.indexOf(id) !== i) }).toEqual({
        file,
        duplicateIds: [],
      })
      for (const p of panels) {
        expect({
          file,
          panel: p.title,
          fits: p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24,
        }).toMatchObject({
          fits: true,
        })
        if (p.type === 'row') continue
        expect({ file, panel: p.title, uid: p.datasource?.uid }).toEqual({
          file,
          panel: p.title,
          uid: ds?.uid,
        })
        expect((p.targets ?? []).length).toBeGreaterThan(0)
        for (const t of p.targets ?? []) {
          expect(t.expr?.trim()).toBeTruthy()
          expect(t.datasource?.uid).toBe(ds?.uid)
        }
      }
    }
  })

  it('are loaded by the dashboard provider from the folder compose mounts', () => {
    const provider = loadYaml(join(GRAFANA, 'provisioning', 'dashboards', 'spaceview.yml')) as {
      providers: Array<{ type: string; options: { path: string } }>
    }
    expect(provider.providers).toEqual([
      expect.objectContaining({ type: 'file', options: { path: '/var/lib/grafana/dashboards' } }),
    ])
  })
})
