/**
 * `spaceview report`: scrapes a live registry on 127.0.0.1 and writes a self-contained HTML page of
 * charts; usage errors, an unreachable endpoint and flaky scrapes are handled as the help says.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { reportCommand, REPORT_HELP } from '../../src/cli/report.js'
import { UsageError } from '../../src/cli/args.js'
import { REPORT_METRICS } from '../../src/metrics/report-page.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { exposedSeriesNames } from '../metrics/promql-names.js'
import { startBusyInstance, type BusyInstance } from '../metrics/report-fixture.js'

const dir = mkdtempSync(join(tmpdir(), 'spaceview-report-'))

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = []
  const code = await reportCommand(argv, (s) => lines.push(s))
  return { code, out: lines.join('\n') }
}

describe('spaceview report', () => {
  let busy: BusyInstance
  beforeAll(async () => {
    busy = await startBusyInstance()
  })
  afterAll(async () => {
    await busy.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('writes a self-contained page with every chart drawn from the live metrics', async () => {
    const out = join(dir, 'report.html')
    const r = await run(['--url', busy.server.url, '--out', out, '--samples', '4', '--interval', '0.1'])
    expect(r.code).toBe(0)
    expect(r.out).toBe(`wrote ${out} (4 of 4 scrapes of ${busy.server.url})`)
    const html = readFileSync(out, 'utf8')
    expect(html.startsWith('<!doctype html>')).toBe(true)
    // Nothing runs and nothing loads: no scripts, no external references, a CSP that forbids both.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(/i)
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`)
    for (const heading of ['Sync progress', 'Throughput', 'Lag', 'Errors', 'API']) {
      expect(html).toContain(`<h2>${heading}</h2>`)
    }
    const charts = html.split('<svg ').length - 1
    expect(charts).toBe(13)
    // The fixture feeds every chart, so none may be empty.
    expect(html).not.toContain('no data')
    expect(html.split('<polyline').length - 1).toBeGreaterThanOrEqual(charts)
    for (const legend of [
      'stored: create',
      'index_hash_mismatch',
      'bad_signature',
      'http_5xx',
      'p99',
      'repo-sync',
    ]) {
      expect(html).toContain(legend)
    }
    expect(html).toContain('4 of 4 scrapes')
    expect(html).not.toContain('Failed scrapes')
  })

  it('reads only metrics the registry defines', () => {
    const known = exposedSeriesNames(createMetrics().registry)
    for (const name of Object.values(REPORT_METRICS)) {
      expect({ name, known: known.has(name) || known.has(`${name}_bucket`) }).toEqual({ name, known: true })
    }
  })

  it('keeps going past failed scrapes and lists them', async () => {
    let n = 0
    const upstream = busy.server.url
    const flaky = createServer(async (_req, res) => {
      n++
      if (n % 2 === 0) {
        res.writeHead(503).end('busy')
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(await (await fetch(upstream)).text())
    })
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/metrics?x=<b>`
    try {
      const out = join(dir, 'flaky.html')
      const r = await run(['--url', url, '--out', out, '--samples', '4', '--interval', '0.05'])
      expect(r.code).toBe(0)
      const html = readFileSync(out, 'utf8')
      expect(html).toContain('2 of 4 scrapes')
      expect(html).toContain('<h2>Failed scrapes</h2>')
      expect(html).toContain('HTTP 503')
      expect(html).toContain('x=%3Cb%3E') // the URL as parsed, never raw markup
      expect(html).not.toContain('<b>')
    } finally {
      await new Promise((resolve) => flaky.close(resolve))
    }
  })

  it('exits 1 and writes nothing when no scrape succeeds', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const out = join(dir, 'never.html')
    const r = await run([
      '--url',
      `http://127.0.0.1:${port}/metrics`,
      '--out',
      out,
      '--samples',
      '2',
      '--interval',
      '0',
    ])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/no scrape of .* succeeded \(.*ECONNREFUSED.*\); nothing written/)
    expect(existsSync(out)).toBe(false)
  })

  it('--help prints usage; bad arguments are usage errors', async () => {
    expect(await run(['--help'])).toEqual({ code: 0, out: REPORT_HELP })
    for (const argv of [
      [],
      ['--url', 'not a url'],
      ['--url', 'file:///etc/passwd'],
      ['--url', 'http://x/metrics', '--samples', '0'],
      ['--url', 'http://x/metrics', '--samples', '2.5'],
      ['--url', 'http://x/metrics', '--interval', '-1'],
      ['--url', 'http://x/metrics', 'extra'],
      ['--bogus'],
    ]) {
      await expect(run(argv)).rejects.toBeInstanceOf(UsageError)
    }
  })
})
