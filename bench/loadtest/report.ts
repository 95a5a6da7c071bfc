/**
 * The load test's output: the result document (one JSON object with every figure — printed as the LAST
 * line of stdout and written to --out) and the human table printed before it.
 *
 * Invariants: the document is JSON-safe (no NaN/Infinity: non-finite numbers become null), so the last
 * line always parses; the table shows exactly the document's figures, spaceview next to the baseline with
 * the ratio spaceview / baseline; every target appears once more in a summary with met / NOT met / n/a.
 */
import { cpus, loadavg, totalmem } from 'node:os'
import type { LoadtestOptions, LoadtestScenario } from '../../src/cli/loadtest.js'
import type { Figure, ScenarioResult } from './measurements.js'
import type { ProfileSummary } from './profile.js'

export interface TargetRow {
  scenario: LoadtestScenario
  key: string
  label: string
  op: '>=' | '<'
  target: number
  value: number | null
  unit: string
  meets: boolean | null
  caveat?: string
}

export interface LoadtestReport {
  bench: 'spaceview.loadtest'
  version: 1
  startedAt: string
  finishedAt: string
  seconds: number
  machine: {
    cpus: number
    cpuModel: string
    memTotalMiB: number
    node: string
    loadavgStart: number[]
    loadavgEnd: number[]
  }
  options: Omit<LoadtestOptions, 'redisUrl'> & { redis: string }
  scenarios: ScenarioResult[]
  targets: TargetRow[]
  profiles: Partial<Record<LoadtestScenario, ProfileSummary>>
  failures: Array<{ scenario: LoadtestScenario; error: string }>
}

export function machineInfo(loadStart: number[]): LoadtestReport['machine'] {
  const c = cpus()
  const r = (x: number) => Math.round(x * 100) / 100
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memTotalMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    loadavgStart: loadStart.map(r),
    loadavgEnd: loadavg().map(r),
  }
}

export function collectTargets(scenarios: ScenarioResult[]): TargetRow[] {
  const rows: TargetRow[] = []
  for (const s of scenarios) {
    for (const f of s.figures) {
      if (!f.target) continue
      rows.push({
        scenario: s.scenario,
        key: f.key,
        label: f.label,
        op: f.target.op,
        target: f.target.value,
        value: f.value,
        unit: f.unit,
        meets: f.target.meets,
        ...(f.target.caveat ? { caveat: f.target.caveat } : {}),
      })
    }
  }
  return rows
}

/** JSON with non-finite numbers as null (JSON.stringify would write null anyway, but explicitly). */
export function toJsonLine(report: LoadtestReport): string {
  return JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))
}

const num = (v: number | null, unit = ''): string => {
  if (v === null) return '—'
  const s = Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v)
  return unit === '' || unit === 'fraction' ? s : `${s} ${unit}`
}

function pad(s: string, n: number, right = false): string {
  if (s.length >= n) return s
  return right ? s.padEnd(n) : s.padStart(n)
}

function targetText(f: Figure): string {
  if (!f.target) return ''
  const verdict = f.target.meets === null ? 'n/a' : f.target.meets ? 'met' : 'NOT met'
  return `${f.target.op} ${num(f.target.value)} ${verdict}${f.target.caveat ? ` (${f.target.caveat})` : ''}`
}

export function renderScenarioTable(s: ScenarioResult): string[] {
  const lines: string[] = []
  const sh = s.shape
  lines.push(
    '',
    `== ${s.scenario}: ${sh.spaces} spaces x ${sh.writers} writers x ${sh.records} records = ` +
      `${sh.totalRecords.toLocaleString('en-US')} records, ${sh.hosts} hosts  (${s.seconds} s, load ${s.loadavg.start.join('/')} → ${s.loadavg.end.join('/')})`,
  )
  const labelWidth = Math.min(64, Math.max(...s.figures.map((f) => f.label.length), 10))
  lines.push(
    `${pad('figure', labelWidth, true)}  ${pad('spaceview', 18)}  ${pad('baseline', 18)}  ${pad('ratio', 8)}  target`,
  )
  for (const f of s.figures) {
    const label = f.label.length > labelWidth ? `${f.label.slice(0, labelWidth - 1)}…` : f.label
    lines.push(
      `${pad(label, labelWidth, true)}  ${pad(num(f.value, f.unit), 18)}  ${pad(num(f.baseline, f.unit), 18)}  ` +
        `${pad(f.ratio === null ? '—' : `${f.ratio}x`, 8)}  ${targetText(f)}`,
    )
  }
  for (const p of s.processes) {
    const threads = p.threads
      .slice(0, 4)
      .map((t) => `${t.group} ${t.cpuSec}s`)
      .join(', ')
    lines.push(
      `  process [${p.system}] ${p.name}: peak ${p.peakRssMiB} MiB, ${p.cpuSec} CPU-s (${p.cores} cores)${threads ? ` — ${threads}` : ''}`,
    )
  }
  for (const [system, sh2] of Object.entries(s.shares)) {
    const top = sh2.redisTop.map((t) => `${t.command} ${t.calls}`).join(', ')
    const ch = Object.entries(sh2.clickhouseCalls)
      .filter(([, c]) => c.calls > 0)
      .map(([k, c]) => `${k} ${c.calls} x ${c.meanMs} ms`)
      .join(', ')
    lines.push(
      `  time shares [${system}]: Redis ${(sh2.redis * 100).toFixed(1)}%, ClickHouse ${(sh2.clickhouse * 100).toFixed(1)}%, ` +
        `event loop ${(sh2.elu * 100).toFixed(1)}% of wall time${top ? ` (Redis top: ${top})` : ''}${ch ? ` (ClickHouse: ${ch})` : ''}`,
    )
    for (const st of sh2.clickhouseStatements.slice(0, 5))
      lines.push(
        `    ClickHouse ${(st.share * 100).toFixed(0)}% (${st.calls} calls, ${st.ms} ms): ${st.statement}`,
      )
  }
  for (const [system, errs] of Object.entries(s.errors)) {
    const entries = Object.entries(errs)
    lines.push(
      `  errors [${system}]: ${entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k}: ${v}`).join('; ')}`,
    )
  }
  for (const n of s.notes) lines.push(`  note: ${n}`)
  return lines
}

export function renderProfile(scenario: string, p: ProfileSummary): string[] {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  return [
    '',
    `== CPU profile of the spaceview process (${scenario}): ${p.busyMs} ms busy of ${p.totalMs} ms sampled (main JS thread only)`,
    ...p.categories.slice(0, 12).map((c) => `  ${pad(pct(c.share), 6)}  ${c.name}`),
    '  top functions (self time):',
    ...p.functions.slice(0, 12).map((f) => `  ${pad(pct(f.share), 6)}  ${f.name}`),
    '  node core + native self time by the package or spaceview source that called it:',
    ...p.callers.slice(0, 8).map((c) => `  ${pad(pct(c.share), 6)}  ${c.name}`),
  ]
}

export function renderTable(report: LoadtestReport): string {
  const lines: string[] = [
    `spaceview loadtest — ${report.machine.cpus} CPUs (${report.machine.cpuModel}), ${report.machine.memTotalMiB} MiB, Node ${report.machine.node}`,
    `load average ${report.machine.loadavgStart.join(' ')} at start, ${report.machine.loadavgEnd.join(' ')} at end; ` +
      `Redis ${report.options.redis}; ratio = spaceview / baseline`,
  ]
  for (const s of report.scenarios) lines.push(...renderScenarioTable(s))
  for (const [scenario, p] of Object.entries(report.profiles))
    if (p) lines.push(...renderProfile(scenario, p))
  for (const f of report.failures) lines.push('', `!! ${f.scenario} failed: ${f.error}`)
  lines.push('', '== targets')
  for (const t of report.targets) {
    const verdict = t.meets === null ? 'n/a    ' : t.meets ? 'met    ' : 'NOT met'
    lines.push(
      `  ${verdict}  ${pad(t.scenario, 12, true)} ${t.label}: ${num(t.value, t.unit)} (target ${t.op} ${num(t.target, t.unit)})` +
        `${t.caveat ? ` — ${t.caveat}` : ''}`,
    )
  }
  return lines.join('\n')
}
