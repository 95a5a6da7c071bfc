/**
 * Scraping a /metrics endpoint a few times at a fixed interval, as Prometheus would, for `spaceview report`.
 *
 * Invariants:
 * - Every request is bounded by a timeout; a failed scrape (network, non-2xx, unparseable body) is kept
 *   as a failure with its reason instead of aborting the run, so one hiccup does not lose the others.
 * - Intervals are measured from the start of one scrape to the start of the next, so a slow endpoint does
 *   not stretch the run.
 */
import { parseExposition } from './exposition.js'
import type { Scrape } from './series.js'

export interface ScrapeFailure {
  at: number
  error: string
}

export type ScrapeResult = Scrape | ScrapeFailure

export function isScrapeFailure(r: ScrapeResult): r is ScrapeFailure {
  return 'error' in r
}

export interface ScrapeOptions {
  samples: number
  intervalMs: number
  timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 10_000

/** One scrape: GET the URL and parse the text exposition. */
export async function scrapeOnce(url: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ScrapeResult> {
  try {
    const res = await fetch(url, {
      headers: { accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' },
      signal: AbortSignal.timeout(timeoutMs),
    })
    const body = await res.text()
    if (!res.ok) return { at: Date.now(), error: `HTTP ${res.status} from ${url}` }
    return { at: Date.now(), families: parseExposition(body) }
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause?.code
    const why = err instanceof Error ? err.message : String(err)
    return { at: Date.now(), error: typeof cause === 'string' ? `${why} (${cause})` : why }
  }
}

/** `samples` scrapes, `intervalMs` apart. */
export async function scrapeRepeatedly(url: string, options: ScrapeOptions): Promise<ScrapeResult[]> {
  const results: ScrapeResult[] = []
  for (let i = 0; i < options.samples; i++) {
    const started = Date.now()
    results.push(await scrapeOnce(url, options.timeoutMs))
    if (i < options.samples - 1) {
      const wait = Math.max(0, options.intervalMs - (Date.now() - started))
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
  return results
}
