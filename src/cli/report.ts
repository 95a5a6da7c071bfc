/**
 * `spaceview report`: scrapes a running instance's /metrics a few times and writes a static HTML page of
 * charts (sync progress, lag, throughput, errors), for operators who would rather look than read.
 * Exit 0 with the page written, 1 when no scrape succeeded (nothing written), 2 on a usage error.
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { renderReport } from '../metrics/report-page.js'
import { isScrapeFailure, scrapeRepeatedly } from '../metrics/scrape.js'
import { parseCommandArgs, UsageError } from './args.js'

const DEFAULT_SAMPLES = 5
const DEFAULT_INTERVAL_SEC = 2
/** Keeps a typo from scraping for hours. */
const MAX_SAMPLES = 1000

export const REPORT_HELP = `Usage: spaceview report --url <metrics-url> [options]

Scrapes the Prometheus metrics of a running spaceview process a few times and writes a static HTML page
with charts: sync progress, throughput, lag, errors, queues and the API. The page has no scripts and loads
nothing, so it can be opened offline or attached to a ticket.

Options:
  --url <url>       the process's metrics endpoint, e.g. http://127.0.0.1:9464/metrics
  --out <file>      where to write the page (default report.html)
  --samples <n>     number of scrapes (default ${DEFAULT_SAMPLES}; rates and lag need at least 2)
  --interval <s>    seconds between scrapes (default ${DEFAULT_INTERVAL_SEC}; fractions allowed)

Exit status: 0 page written, 1 no scrape succeeded, 2 usage error.`

export async function reportCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommandArgs('report', argv, {
    url: { type: 'string' },
    out: { type: 'string' },
    samples: { type: 'string' },
    interval: { type: 'string' },
  })
  if (values.help) {
    out(REPORT_HELP)
    return 0
  }
  if (positionals.length > 0)
    throw new UsageError(`unexpected argument "${positionals[0]}"\n\n${REPORT_HELP}`)
  if (!values.url) throw new UsageError(`report needs --url.\n\n${REPORT_HELP}`)
  let url: URL
  try {
    url = new URL(values.url)
  } catch {
    throw new UsageError(`--url must be an absolute http(s) URL (got "${values.url}")`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url must be an http(s) URL (got "${values.url}")`)
  }
  const samples = values.samples === undefined ? DEFAULT_SAMPLES : Number(values.samples)
  if (!Number.isInteger(samples) || samples < 1 || samples > MAX_SAMPLES) {
    throw new UsageError(`--samples must be an integer from 1 to ${MAX_SAMPLES}`)
  }
  const interval = values.interval === undefined ? DEFAULT_INTERVAL_SEC : Number(values.interval)
  if (!Number.isFinite(interval) || interval < 0)
    throw new UsageError('--interval must be a number of seconds >= 0')
  const file = resolve(values.out ?? 'report.html')

  const results = await scrapeRepeatedly(url.href, { samples, intervalMs: interval * 1000 })
  const ok = results.filter((r) => !isScrapeFailure(r)).length
  if (ok === 0) {
    const reasons = [...new Set(results.filter(isScrapeFailure).map((r) => r.error))]
    out(`spaceview report: no scrape of ${url.href} succeeded (${reasons.join('; ')}); nothing written.`)
    return 1
  }
  await writeFile(file, renderReport({ url: url.href, results, generatedAt: new Date() }))
  out(`wrote ${file} (${ok} of ${samples} scrapes of ${url.href})`)
  return 0
}
