/**
 * Which metric names a PromQL expression (or a Grafana variable query) selects, and which names a
 * prom-client registry exposes, so tests can check dashboards, alert rules and the report page against
 * the one definition in src/metrics/metrics.ts.
 *
 * The extraction is lexical, not a full PromQL parser: strings, label matchers, range selectors,
 * grouping clauses and Grafana variables are blanked first, then every identifier that is not a
 * function/aggregation call or a keyword is a metric name. Good enough for every expression we write,
 * and the tests of this file pin the cases that matter.
 */
import type { Registry } from 'prom-client'

const KEYWORDS = new Set([
  ...['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'],
  ...['bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan'],
])

/** Series Prometheus adds to every scrape target itself. */
export const PROMETHEUS_SYNTHETIC = [
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_series_added',
]

export function metricNamesIn(expr: string): string[] {
  const variableQuery = /^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{[^}]*\})?\s*,/.exec(expr)
  if (variableQuery) return [variableQuery[1] as string]
  if (/^\s*label_values\(/.test(expr)) return [] // label_values(label): no metric named
  const blanked = expr
    .replace(/"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
  const names = new Set<string>()
  for (const m of blanked.matchAll(/[A-Za-z0-9_:.]+/g)) {
    const word = m[0]
    if (!/^[A-Za-z_:][A-Za-z0-9_:]*$/.test(word) || KEYWORDS.has(word.toLowerCase())) continue
    const after = blanked.slice((m.index ?? 0) + word.length)
    if (/^\s*\(/.test(after)) continue // a function or aggregation call
    names.add(word)
  }
  return [...names]
}

/** Every series name the registry exposes: histograms as `_bucket`, `_sum` and `_count`. */
export function exposedSeriesNames(registry: Registry): Set<string> {
  const names = new Set<string>()
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string }
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s)
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(name + s)
    else names.add(name)
  }
  return names
}

/** The histogram or counter a series name belongs to (strips `_bucket`/`_sum`/`_count`). */
export function baseMetricName(series: string, registry: Registry): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = series.slice(0, -suffix.length)
    if (series.endsWith(suffix) && registry.getSingleMetric(base)) return base
  }
  return series
}
