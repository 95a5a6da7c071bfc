/**
 * Prometheus configuration and alert rules: promtool's own checks and rule unit tests (when Debian's
 * `prometheus` package is installed), and, always, that every metric the rules and their tests name is
 * defined in the registry and that every alert has a test that makes it fire.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { createMetrics } from '../../src/metrics/metrics.js'
import { exposedSeriesNames, metricNamesIn, PROMETHEUS_SYNTHETIC } from '../metrics/promql-names.js'
import { loadYaml } from './yaml.js'

const DIR = join(process.cwd(), 'prometheus')
const known = exposedSeriesNames(createMetrics().registry)
const isKnown = (name: string) => known.has(name) || PROMETHEUS_SYNTHETIC.includes(name)

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface RuleTests {
  rule_files: string[]
  tests: Array<{
    input_series: Array<{ series: string }>
    alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }>
  }>
}

const rules = (loadYaml(join(DIR, 'alerts.yml')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups
const ruleTests = loadYaml(join(DIR, 'alerts.test.yml')) as RuleTests

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0
if (!promtool) {
  console.warn(
    'SKIPPED promtool checks: promtool is not installed. Install it with ' +
      '`apt-get update && apt-get install -y prometheus` (CI must do the same); the JS-side checks still run.',
  )
}

describe('promtool', () => {
  const run = (...args: string[]) => spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' })
  ;(promtool ? it : it.skip)('check config passes (and loads the rule file)', () => {
    const r = run('check', 'config', 'prometheus.yml')
    expect({ status: r.status, output: r.stdout + r.stderr }).toMatchObject({ status: 0 })
  })
  ;(promtool ? it : it.skip)('check rules passes', () => {
    const r = run('check', 'rules', 'alerts.yml')
    expect({ status: r.status, output: r.stdout + r.stderr }).toMatchObject({ status: 0 })
  })
  ;(promtool ? it : it.skip)('the rule unit tests pass (alerts fire on bad data, stay quiet on good)', () => {
    const r = run('test', 'rules', 'alerts.test.yml')
    expect({ status: r.status, output: r.stdout + r.stderr }).toMatchObject({ status: 0 })
  })
})

describe('alert rules', () => {
  const alerts = rules.flatMap((g) => g.rules)

  it('cover lag, verification failures, dead letters and credential failures', () => {
    const exprs = alerts.map((a) => a.expr).join('\n')
    for (const metric of [
      'spaceview_sync_notify_to_visible_seconds_bucket',
      'spaceview_verification_failures_total',
      'spaceview_job_dead_letters_total',
      'spaceview_credential_refresh_failures_total',
    ]) {
      expect(exprs).toContain(metric)
    }
  })

  it('name only metrics the registry defines', () => {
    const unknown = alerts.flatMap((a) =>
      metricNamesIn(a.expr)
        .filter((n) => !isKnown(n))
        .map((n) => `${a.alert}: ${n}`),
    )
    expect(unknown).toEqual([])
  })

  it('each have a severity, a summary and a description', () => {
    for (const a of alerts) {
      expect({
        alert: a.alert,
        severity: ['info', 'warning', 'critical'].includes(a.labels?.severity ?? ''),
      }).toEqual({
        alert: a.alert,
        severity: true,
      })
      expect(a.annotations?.summary).toBeTruthy()
      expect(a.annotations?.description).toBeTruthy()
    }
    const names = alerts.map((a) => a.alert)
    expect(new Set(names).size).toBe(names.length)
  })

  it('each fire in at least one unit test, on series of real metrics', () => {
    expect(ruleTests.rule_files).toEqual(['alerts.yml'])
    const fired = new Set(
      ruleTests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((x) => x.exp_alerts.length > 0).map((x) => x.alertname),
      ),
    )
    expect(alerts.map((a) => a.alert).filter((a) => !fired.has(a ?? ''))).toEqual([])
    const series = ruleTests.tests.flatMap((t) =>
      t.input_series.map((s) => s.series.split('{')[0]?.trim() ?? ''),
    )
    expect(series.filter((s) => !isKnown(s))).toEqual([])
  })
})

describe('prometheus.yml', () => {
  it('loads the alert rules and scrapes often enough for the rules and dashboards', () => {
    const config = loadYaml(join(DIR, 'prometheus.yml')) as {
      global: { scrape_interval: string; evaluation_interval: string }
      rule_files: string[]
    }
    expect(config.rule_files).toEqual(['alerts.yml'])
    // Grafana's datasource timeInterval and $__rate_interval assume 15 s.
    expect(config.global.scrape_interval).toBe('15s')
    expect(config.global.evaluation_interval).toBe('15s')
  })
})
