// Jest reporter for the hostile suite: after the run, reads the tally lines the scenarios wrote (see
// test/hostile/lib/tally.ts) and prints the summary table — faults injected and survived, bad inputs tried
// and rejected, records lost, forged records accepted, unauthorized reads — then one line per scenario.
// The assertions live in the tests; this only adds up what they recorded.
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const ENV = 'SPACEVIEW_HOSTILE_TALLY'

function readEntries(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.jsonl')) continue
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line.trim()) out.push(JSON.parse(line))
    }
  }
  return out
}

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)))
  const line = (r) => `| ${r.map((v, c) => String(v).padEnd(widths[c])).join(' | ')} |`
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n')
}

export default class HostileSummaryReporter {
  onRunComplete(_contexts, results) {
    const dir = process.env[ENV]
    if (!dir) return
    const entries = readEntries(dir)
    const of = (kind) => entries.filter((e) => e.kind === kind)
    const sum = (xs, f) => xs.reduce((n, x) => n + f(x), 0)
    const faults = of('fault')
    const bad = of('bad_input')
    const lost = sum(of('records_lost'), (e) => e.count)
    const forged = sum(of('forged_accepted'), (e) => e.count)
    const reads = of('unauthorized_reads')
    const unauthorized = sum(reads, (e) => e.count)
    const ok = (good) => (good ? 'ok' : 'FAIL')
    const summary = [
      ['measure', 'value', 'required', 'status'],
      [
        'fault scenarios run (faults injected)',
        `${faults.length} (${sum(faults, (e) => e.injected)})`,
        '-',
        '-',
      ],
      [
        'fault scenarios survived',
        faults.filter((e) => e.survived).length,
        `= ${faults.length}`,
        ok(faults.every((e) => e.survived)),
      ],
      ['bad inputs tried', bad.length, '-', '-'],
      [
        'bad inputs rejected',
        bad.filter((e) => e.rejected).length,
        `= ${bad.length}`,
        ok(bad.every((e) => e.rejected)),
      ],
      ['records lost', lost, '0', ok(lost === 0)],
      ['forged records accepted', forged, '0', ok(forged === 0)],
      [
        `unauthorized reads (of ${sum(reads, (e) => e.attempts)} attack requests)`,
        unauthorized,
        '0',
        ok(unauthorized === 0),
      ],
      ['test failures', results.numFailedTests, '0', ok(results.numFailedTests === 0)],
    ]
    const detail = [
      ['scenario', 'kind', 'injected / reason', 'outcome', 'evidence (metrics)'],
      ...faults.map((e) => [
        e.name,
        'fault',
        e.injected,
        e.survived ? 'survived' : 'NOT SURVIVED',
        e.evidence,
      ]),
      ...bad.map((e) => [e.name, 'bad input', e.reason, e.rejected ? 'rejected' : 'ACCEPTED', e.evidence]),
      ...reads.map((e) => [
        e.name,
        'access',
        `${e.attempts} requests`,
        e.count === 0 ? 'all refused' : `${e.count} LEAKED`,
        '',
      ]),
    ]
    process.stdout.write(`\nHostile network suite — summary\n\n${table(summary)}\n\n${table(detail)}\n\n`)
    if (process.env.SPACEVIEW_HOSTILE_TALLY_OWNED === '1') rmSync(dir, { recursive: true, force: true })
  }
}
