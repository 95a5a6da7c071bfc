/**
 * The load test's HTML report: one self-contained page (inline CSS and SVG, no script, a CSP that loads
 * nothing) with the targets, each scenario's figures next to the baseline, its charts (throughput over
 * time, latency histograms, memory), processes, time shares, errors, notes and the CPU profile summary.
 * Charts are drawn by src/metrics/svg-chart.ts, the same renderer as `spaceview report`.
 *
 * Invariant: every string from the run (labels, notes, error messages, function names) is escaped.
 */
import { escapeXml, renderLineChart } from '../../src/metrics/svg-chart.js'
import type { Figure, ScenarioResult } from './measurements.js'
import type { ProfileSummary } from './profile.js'
import type { LoadtestReport } from './report.js'

const e = escapeXml

function value(v: number | null, unit: string): string {
  if (v === null) return '—'
  const s = Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v)
  return unit === 'fraction' ? s : `${s} ${unit}`
}

function verdict(f: Figure): string {
  if (!f.target) return ''
  const cls = f.target.meets === null ? 'na' : f.target.meets ? 'met' : 'miss'
  const text = f.target.meets === null ? 'n/a' : f.target.meets ? 'met' : 'NOT met'
  return (
    `<span class="${cls}">${e(`${f.target.op} ${value(f.target.value, f.unit)}: ${text}`)}</span>` +
    (f.target.caveat ? `<br><small>${e(f.target.caveat)}</small>` : '')
  )
}

function figuresTable(figures: Figure[]): string {
  const rows = figures.map(
    (f) =>
      `<tr><td>${e(f.label)}${f.note ? `<br><small>${e(f.note)}</small>` : ''}</td><td class="n">${e(value(f.value, f.unit))}</td>` +
      `<td class="n">${e(value(f.baseline, f.unit))}</td><td class="n">${f.ratio === null ? '—' : e(`${f.ratio}×`)}</td>` +
      `<td>${verdict(f)}</td></tr>`,
  )
  return `<table><thead><tr><th>figure</th><th>spaceview</th><th>baseline</th><th>ratio</th><th>target</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
}

function profileSection(name: string, p: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const list = (items: Array<{ name: string; share: number; ms: number }>) =>
    items
      .map(
        (i) =>
          `<tr><td class="n">${pct(i.share)}</td><td class="n">${i.ms} ms</td><td>${e(i.name)}</td></tr>`,
      )
      .join('')
  return (
    `<h3>CPU profile of the spaceview process (${e(name)})</h3>` +
    `<p class="meta">${p.busyMs} ms busy of ${p.totalMs} ms sampled on the JavaScript main thread (native ClickHouse and libuv threads are in the process table instead)</p>` +
    `<div class="cols"><table><thead><tr><th>share</th><th>self</th><th>category</th></tr></thead><tbody>${list(p.categories)}</tbody></table>` +
    `<table><thead><tr><th>share</th><th>self</th><th>function</th></tr></thead><tbody>${list(p.functions)}</tbody></table></div>`
  )
}

function scenarioSection(s: ScenarioResult, profile: ProfileSummary | undefined): string {
  const sh = s.shape
  const charts = s.charts
    .map(
      (c) =>
        `<figure>${renderLineChart({ title: c.title, unit: c.unit, series: c.series, origin: 0 })}</figure>`,
    )
    .join('\n')
  const procs = s.processes
    .map(
      (p) =>
        `<tr><td>${e(p.system)}</td><td>${e(p.name)}</td><td class="n">${p.peakRssMiB} MiB</td><td class="n">${p.cpuSec} s</td>` +
        `<td class="n">${p.cores}</td><td>${e(p.threads.map((t) => `${t.group} ${t.cpuSec}s`).join(', '))}</td></tr>`,
    )
    .join('')
  const shares = Object.entries(s.shares)
    .map(
      ([system, x]) =>
        `<li><b>${e(system)}</b>: Redis ${(x.redis * 100).toFixed(1)}%, ClickHouse ${(x.clickhouse * 100).toFixed(1)}%, ` +
        `event loop ${(x.elu * 100).toFixed(1)}% of wall time${x.redisTop.length ? ` — Redis top: ${e(x.redisTop.map((t) => `${t.command} ×${t.calls} (${t.ms} ms)`).join(', '))}` : ''}` +
        ` — ClickHouse calls: ${e(
          Object.entries(x.clickhouseCalls)
            .filter(([, c]) => c.calls > 0)
            .map(([k, c]) => `${k} ×${c.calls}, mean ${c.meanMs} ms`)
            .join('; '),
        )}` +
        (x.clickhouseStatements.length
          ? `<table><thead><tr><th>share</th><th>calls</th><th>ms</th><th>ClickHouse statement</th></tr></thead><tbody>${x.clickhouseStatements
              .map(
                (st) =>
                  `<tr><td class="n">${(st.share * 100).toFixed(1)}%</td><td class="n">${st.calls}</td><td class="n">${st.ms}</td><td><code>${e(st.statement)}</code></td></tr>`,
              )
              .join('')}</tbody></table>`
          : '') +
        `</li>`,
    )
    .join('')
  const errors = Object.entries(s.errors)
    .map(([system, errs]) => {
      const list = Object.entries(errs)
      return `<li><b>${e(system)}</b>: ${list.length === 0 ? 'none' : e(list.map(([k, v]) => `${k}: ${v}`).join('; '))}</li>`
    })
    .join('')
  return `<section>
<h2>${e(s.scenario)}</h2>
<p class="meta">${sh.spaces} spaces × ${sh.writers} writers × ${sh.records} records = ${sh.totalRecords.toLocaleString('en-US')} records on ${sh.hosts} hosts ·
${s.seconds} s · load average ${e(s.loadavg.start.join(' '))} → ${e(s.loadavg.end.join(' '))} · ${e(JSON.stringify(s.params))}</p>
${figuresTable(s.figures)}
<div class="charts">
${charts}
</div>
<h3>Processes</h3>
<table><thead><tr><th>run</th><th>process</th><th>peak RSS</th><th>CPU</th><th>cores</th><th>CPU by thread</th></tr></thead><tbody>${procs}</tbody></table>
<h3>Where time went</h3><ul>${shares}</ul>
<h3>Errors</h3><ul>${errors}</ul>
${s.notes.length ? `<h3>Notes</h3><ul>${s.notes.map((n) => `<li>${e(n)}</li>`).join('')}</ul>` : ''}
${profile ? profileSection(s.scenario, profile) : ''}
</section>`
}

export function renderHtml(report: LoadtestReport): string {
  const m = report.machine
  const targets = report.targets
    .map((t) => {
      const cls = t.meets === null ? 'na' : t.meets ? 'met' : 'miss'
      const text = t.meets === null ? 'n/a' : t.meets ? 'met' : 'NOT met'
      return (
        `<tr><td class="${cls}">${text}</td><td>${e(t.scenario)}</td><td>${e(t.label)}</td>` +
        `<td class="n">${e(value(t.value, t.unit))}</td><td class="n">${e(`${t.op} ${value(t.target, t.unit)}`)}</td><td>${e(t.caveat ?? '')}</td></tr>`
      )
    })
    .join('')
  const failures = report.failures.map((f) => `<li>${e(f.scenario)}: ${e(f.error)}</li>`).join('')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>spaceview load test</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #f6f8fa; margin: 0; padding: 20px 28px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 30px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #57606a; margin: 0 0 12px; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 12px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
small { color: #57606a; }
.met { color: #1a7f37; font-weight: 600; }
.miss { color: #cf222e; font-weight: 600; }
.na { color: #57606a; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
.cols { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
figure svg { display: block; width: 100%; height: auto; }
figure { margin: 0; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px; }
</style>
</head>
<body>
<h1>spaceview load test</h1>
<p class="meta">${m.cpus} CPUs (${e(m.cpuModel)}) · ${m.memTotalMiB} MiB · Node ${e(m.node)} · started ${e(report.startedAt)} · ${report.seconds} s ·
load average ${e(m.loadavgStart.join(' '))} → ${e(m.loadavgEnd.join(' '))} · Redis ${e(report.options.redis)} · ratio = spaceview / baseline</p>
<h2>Targets</h2>
<table><thead><tr><th></th><th>scenario</th><th>figure</th><th>measured</th><th>target</th><th>caveat</th></tr></thead><tbody>${targets}</tbody></table>
${failures ? `<h2>Failures</h2><ul>${failures}</ul>` : ''}
${report.scenarios.map((s) => scenarioSection(s, report.profiles[s.scenario])).join('\n')}
</body>
</html>
`
}
