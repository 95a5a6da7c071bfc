/**
 * The `spaceview report` page: one static HTML document with summary figures and inline SVG charts of
 * sync progress, throughput, lag, errors, queues and the API, built from repeated scrapes of /metrics.
 *
 * Invariants:
 * - The page is self-contained: inline CSS and SVG only, no script, and a Content-Security-Policy that
 *   forbids loading anything, so it renders the same offline, from a file, or attached to a ticket.
 * - Everything taken from the scraped data or the command line is HTML-escaped.
 * - Rates and quantiles cover the observed window (first to last successful scrape), not the process's
 *   lifetime; running totals are the counters' values as scraped.
 * - Failure charts show a flat zero when the counter exists and did not move, and "no data" only when
 *   the metric is absent, so good news and a missing instrument look different.
 */
import { isScrapeFailure, type ScrapeResult } from './scrape.js'
import {
  bucketsOf,
  histogramQuantile,
  increaseByGroup,
  quantileSeries,
  rateSeries,
  samplesNamed,
  valueSeries,
  type Bucket,
  type Scrape,
  type Series,
} from './series.js'
import { escapeXml, formatValue, renderLineChart, type Unit } from './svg-chart.js'

/** Every metric the page reads (a test checks each against the registry). */
export const REPORT_METRICS = {
  recordsVerified: 'spaceview_records_verified_total',
  recordsStored: 'spaceview_records_stored_total',
  verificationFailures: 'spaceview_verification_failures_total',
  notifyToVisible: 'spaceview_sync_notify_to_visible_seconds',
  commitAge: 'spaceview_sync_commit_age_seconds',
  spaces: 'spaceview_spaces',
  repos: 'spaceview_repos',
  jobs: 'spaceview_jobs',
  jobDuration: 'spaceview_job_duration_seconds',
  jobRetries: 'spaceview_job_retries_total',
  jobDeadLetters: 'spaceview_job_dead_letters_total',
  hostErrors: 'spaceview_host_errors_total',
  apiDuration: 'spaceview_api_request_duration_seconds',
  processStart: 'spaceview_process_start_time_seconds',
} as const

export interface ReportInput {
  /** The scraped endpoint, as given on the command line. */
  url: string
  results: readonly ScrapeResult[]
  generatedAt: Date
}

interface Chart {
  title: string
  unit: Unit
  series: Series[]
}

/** Most failing groups to chart separately; the rest are not drawn. */
const TOP_FAILURES = 6

export function renderReport(input: ReportInput): string {
  const scrapes = input.results.filter((r): r is Scrape => !isScrapeFailure(r))
  const failures = input.results.filter(isScrapeFailure)
  const first = scrapes[0]
  const last = scrapes.at(-1)
  const origin = first?.at
  const windowSec = first && last ? (last.at - first.at) / 1000 : 0

  const sections: Array<{ heading: string; charts: Chart[] }> = [
    {
      heading: 'Sync progress',
      charts: [
        {
          title: 'Records (running totals)',
          unit: 'count',
          series: [
            ...rename(valueSeries(scrapes, REPORT_METRICS.recordsVerified), () => 'verified'),
            ...rename(valueSeries(scrapes, REPORT_METRICS.recordsStored, 'op'), (op) => `stored: ${op}`),
          ],
        },
        {
          title: 'Repos by state',
          unit: 'count',
          series: valueSeries(scrapes, REPORT_METRICS.repos, 'state'),
        },
        {
          title: 'Spaces by status',
          unit: 'count',
          series: valueSeries(scrapes, REPORT_METRICS.spaces, 'status'),
        },
        {
          title: 'Jobs by state (all queues)',
          unit: 'count',
          series: valueSeries(scrapes, REPORT_METRICS.jobs, 'state', (l) => l.state !== 'completed'),
        },
      ],
    },
    {
      heading: 'Throughput',
      charts: [
        {
          title: 'Records per second',
          unit: 'per_second',
          series: [
            ...rename(rateSeries(scrapes, REPORT_METRICS.recordsVerified), () => 'verified'),
            ...rename(rateSeries(scrapes, REPORT_METRICS.recordsStored, 'op'), (op) => `stored: ${op}`),
          ],
        },
        {
          title: 'Completed jobs per second, by queue',
          unit: 'per_second',
          series: rateSeries(
            scrapes,
            `${REPORT_METRICS.jobDuration}_count`,
            'queue',
            (l) => l.outcome === 'completed',
          ),
        },
      ],
    },
    {
      heading: 'Lag',
      charts: [
        {
          title: 'Notify → visible',
          unit: 'seconds',
          series: quantileSeries(scrapes, REPORT_METRICS.notifyToVisible, [0.5, 0.9, 0.99]),
        },
        {
          title: 'Commit rev age when visible',
          unit: 'seconds',
          series: quantileSeries(scrapes, REPORT_METRICS.commitAge, [0.5, 0.99]),
        },
      ],
    },
    {
      heading: 'Errors',
      charts: [
        {
          title: 'Verification failures per second, by reason',
          unit: 'per_second',
          series: failureRates(scrapes, REPORT_METRICS.verificationFailures, 'reason'),
        },
        {
          title: 'Host errors per second, by class',
          unit: 'per_second',
          series: failureRates(scrapes, REPORT_METRICS.hostErrors, 'class'),
        },
        {
          title: 'Job retries and dead letters per second',
          unit: 'per_second',
          series: [
            ...rename(rateSeries(scrapes, REPORT_METRICS.jobRetries), () => 'retries'),
            ...rename(rateSeries(scrapes, REPORT_METRICS.jobDeadLetters), () => 'dead letters'),
          ],
        },
      ],
    },
    {
      heading: 'API',
      charts: [
        {
          title: 'Requests per second, by status',
          unit: 'per_second',
          series: rateSeries(scrapes, `${REPORT_METRICS.apiDuration}_count`, 'status'),
        },
        {
          title: 'Request duration',
          unit: 'seconds',
          series: quantileSeries(scrapes, REPORT_METRICS.apiDuration, [0.5, 0.99]),
        },
      ],
    },
  ]

  const body = sections
    .map(
      (s) =>
        `<section>\n<h2>${escapeXml(s.heading)}</h2>\n<div class="charts">\n` +
        s.charts.map((c) => `<figure>${renderLineChart({ ...c, origin })}</figure>`).join('\n') +
        '\n</div>\n</section>',
    )
    .join('\n')

  const notes = failures.map(
    (f) => `<li>${escapeXml(new Date(f.at).toISOString())}: ${escapeXml(f.error)}</li>`,
  )
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>spaceview report</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #f6f8fa; margin: 0; padding: 20px 28px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 26px 0 10px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.meta { color: #57606a; margin: 0 0 14px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.tile { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 12px; }
.tile .value { font-size: 22px; font-weight: 600; }
.tile .label { color: #57606a; font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 12px; }
figure svg { display: block; width: 100%; height: auto; }
figure { margin: 0; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px; }
.failures { color: #cf222e; }
</style>
</head>
<body>
<h1>spaceview report</h1>
<p class="meta">${escapeXml(input.url)} · ${scrapes.length} of ${input.results.length} scrapes ·
window ${windowSec.toFixed(1)} s · generated ${escapeXml(input.generatedAt.toISOString())}</p>
<div class="tiles">
${summaryTiles(scrapes)
  .map(
    (t) =>
      `<div class="tile"><div class="value">${escapeXml(t.value)}</div><div class="label">${escapeXml(t.label)}</div></div>`,
  )
  .join('\n')}
</div>
${body}
${notes.length > 0 ? `<section class="failures">\n<h2>Failed scrapes</h2>\n<ul>\n${notes.join('\n')}\n</ul>\n</section>` : ''}
</body>
</html>
`
}

function rename(series: Series[], name: (group: string) => string): Series[] {
  return series.map((s) => ({ name: name(s.name), points: s.points }))
}

/** Rates of the groups that moved (largest first); a flat total when none did and the metric exists. */
function failureRates(scrapes: readonly Scrape[], metric: string, groupBy: string): Series[] {
  const moved = [...increaseByGroup(scrapes, metric, groupBy)]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP_FAILURES)
    .map(([group]) => group)
  if (moved.length === 0) return rename(rateSeries(scrapes, metric), () => 'all')
  const keep = new Set(moved)
  return rateSeries(scrapes, metric, groupBy, (l) => keep.has(l[groupBy] ?? ''))
    .filter((s) => keep.has(s.name))
    .sort((a, b) => moved.indexOf(a.name) - moved.indexOf(b.name))
}

function lastValue(
  scrapes: readonly Scrape[],
  metric: string,
  filter?: (l: Record<string, string>) => boolean,
) {
  const last = scrapes.at(-1)
  if (!last) return undefined
  const samples = samplesNamed(last, metric).filter((s) => !filter || filter(s.labels))
  return samples.length === 0 ? undefined : samples.reduce((sum, s) => sum + s.value, 0)
}

/** Quantile of the observations made during the whole window. */
function windowQuantile(scrapes: readonly Scrape[], histogram: string, q: number): number | undefined {
  const first = scrapes[0]
  const last = scrapes.at(-1)
  if (!first || !last || first === last) return undefined
  const before = new Map(bucketsOf(first, histogram).map((b) => [b.le, b.count]))
  const delta: Bucket[] = bucketsOf(last, histogram).map((b) => ({
    le: b.le,
    count: b.count - (before.get(b.le) ?? 0),
  }))
  return delta.some((b) => b.count < 0) ? undefined : histogramQuantile(q, delta)
}

function summaryTiles(scrapes: readonly Scrape[]): Array<{ value: string; label: string }> {
  const show = (v: number | undefined, unit: Unit) => (v === undefined ? '—' : formatValue(v, unit))
  const sumIncrease = (metric: string) =>
    scrapes.length > 1 ? [...increaseByGroup(scrapes, metric).values()].reduce((a, b) => a + b, 0) : undefined
  const started = lastValue(scrapes, REPORT_METRICS.processStart)
  const last = scrapes.at(-1)
  return [
    { value: show(lastValue(scrapes, REPORT_METRICS.recordsVerified), 'count'), label: 'records verified' },
    {
      value: show(lastValue(scrapes, REPORT_METRICS.recordsStored), 'count'),
      label: 'record changes stored',
    },
    {
      value: show(
        lastValue(scrapes, REPORT_METRICS.repos, (l) => l.state === 'synced'),
        'count',
      ),
      label: 'repos synced',
    },
    {
      value: show(
        lastValue(scrapes, REPORT_METRICS.spaces, (l) => l.status === 'active'),
        'count',
      ),
      label: 'spaces active',
    },
    {
      value: show(
        lastValue(scrapes, REPORT_METRICS.jobs, (l) =>
          ['waiting', 'prioritized', 'delayed'].includes(l.state ?? ''),
        ),
        'count',
      ),
      label: 'jobs waiting',
    },
    {
      value: show(windowQuantile(scrapes, REPORT_METRICS.notifyToVisible, 0.99), 'seconds'),
      label: 'notify → visible p99 (window)',
    },
    {
      value: show(sumIncrease(REPORT_METRICS.verificationFailures), 'count'),
      label: 'verification failures (window)',
    },
    {
      value: show(lastValue(scrapes, REPORT_METRICS.jobDeadLetters), 'count'),
      label: 'dead letters (total)',
    },
    {
      value: show(started === undefined || !last ? undefined : last.at / 1000 - started, 'seconds'),
      label: 'process uptime',
    },
  ]
}
