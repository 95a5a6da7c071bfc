/**
 * Line charts as self-contained inline SVG, for the static `spaceview report` page (no scripts, no fonts
 * or files from elsewhere: the page must render on a machine without network).
 *
 * Invariants:
 * - Every piece of text that comes from the data (series names, titles) is XML-escaped.
 * - Non-finite values are never drawn; a chart with nothing to draw says "no data" instead of an empty
 *   frame, so absence is not mistaken for zero.
 * - A line breaks where consecutive points are much further apart than the usual interval (a failed
 *   scrape, or an interval without observations), instead of drawing a straight line across the gap.
 * - The y axis starts at zero (all charted quantities are non-negative) and ends on a "nice" tick.
 */
import type { Point, Series } from './series.js'

export type Unit = 'seconds' | 'per_second' | 'count'

export interface ChartOptions {
  title: string
  unit: Unit
  series: readonly Series[]
  /** ms since the epoch shown as x = 0 (default: the earliest point). */
  origin?: number
  width?: number
  height?: number
}

/** Okabe-Ito: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = [
  '#0072b2',
  '#e69f00',
  '#009e73',
  '#d55e00',
  '#cc79a7',
  '#56b4e9',
  '#8c6d00',
  '#000000',
]

const MARGIN = { left: 64, right: 16, top: 30, bottom: 34 }
const LEGEND_ROW = 18
const CHAR_WIDTH = 6.6

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** A compact number: 3 significant digits, with k/M/G above a thousand. */
export function compactNumber(v: number): string {
  const abs = Math.abs(v)
  for (const [limit, suffix] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (abs >= limit) return `${trim(v / limit)}${suffix}`
  }
  return trim(v)
}

function trim(v: number): string {
  if (v === 0) return '0'
  return String(Number(v.toPrecision(3)))
}

/** A value in the chart's unit, for ticks and the legend. */
export function formatValue(v: number, unit: Unit): string {
  if (unit === 'per_second') return `${compactNumber(v)}/s`
  if (unit === 'count') return compactNumber(v)
  const abs = Math.abs(v)
  if (abs === 0) return '0 s'
  if (abs < 1e-3) return `${trim(v * 1e6)} µs`
  if (abs < 1) return `${trim(v * 1e3)} ms`
  if (abs < 120) return `${trim(v)} s`
  if (abs < 7200) return `${trim(v / 60)} min`
  return `${trim(v / 3600)} h`
}

/** Elapsed time for the x axis. */
function formatElapsed(ms: number): string {
  const s = ms / 1000
  return s < 120 ? `${trim(s)} s` : `${trim(s / 60)} min`
}

/** The smallest 1, 2 or 5 × 10^k step that covers `range` in at most `count` steps. */
export function niceStep(range: number, count: number): number {
  if (!(range > 0)) return 1
  const raw = range / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 5, 10]) if (m * magnitude >= raw) return m * magnitude
  return 10 * magnitude
}

/** Steps that read well on a time axis in seconds: whole minutes, hours and days past two minutes. */
const TIME_STEPS = [
  60,
  120,
  300,
  600,
  900,
  1800,
  3600,
  7200,
  4 * 3600,
  6 * 3600,
  12 * 3600,
  86400,
  2 * 86400,
  7 * 86400,
]

/** `niceStep` for values in `unit`; seconds above a minute step in minutes, hours or days. */
export function niceStepFor(unit: Unit, range: number, count: number): number {
  const step = niceStep(range, count)
  if (unit !== 'seconds' || step < 60) return step
  return TIME_STEPS.find((s) => s >= range / count) ?? niceStep(range / 86400, count) * 86400
}

/** Splits a series' points into runs, breaking where the gap is far above the typical interval. */
function runs(points: readonly Point[], typicalGap: number): Point[][] {
  const out: Point[][] = []
  let current: Point[] = []
  for (const p of points) {
    const prev = current[current.length - 1]
    if (prev && typicalGap > 0 && p.t - prev.t > typicalGap * 1.5) {
      out.push(current)
      current = []
    }
    current.push(p)
  }
  if (current.length > 0) out.push(current)
  return out
}

function medianGap(series: readonly Series[]): number {
  const gaps = series.flatMap((s) => s.points.slice(1).map((p, i) => p.t - (s.points[i] as Point).t))
  gaps.sort((a, b) => a - b)
  return gaps[Math.floor(gaps.length / 2)] ?? 0
}

export function renderLineChart(options: ChartOptions): string {
  const width = options.width ?? 560
  const series = options.series
    .map((s) => ({
      name: s.name,
      points: s.points.filter((p) => Number.isFinite(p.v) && Number.isFinite(p.t)),
    }))
    .filter((s) => s.points.length > 0)
  const all = series.flatMap((s) => s.points)

  // Legend entries wrap into rows under the plot.
  const plotWidth = width - MARGIN.left - MARGIN.right
  const legend: Array<{ text: string; color: string; x: number; row: number }> = []
  let lx = 0
  let row = 0
  series.forEach((s, i) => {
    const last = s.points[s.points.length - 1] as Point
    const text = `${s.name}: ${formatValue(last.v, options.unit)}`
    const w = 18 + text.length * CHAR_WIDTH + 14
    if (lx > 0 && lx + w > plotWidth) {
      row++
      lx = 0
    }
    legend.push({ text, color: PALETTE[i % PALETTE.length] as string, x: lx, row })
    lx += w
  })
  const legendHeight = legend.length > 0 ? (row + 1) * LEGEND_ROW + 4 : 0
  const plotHeight = (options.height ?? 240) - MARGIN.top - MARGIN.bottom
  const height = MARGIN.top + plotHeight + MARGIN.bottom + legendHeight

  const parts: string[] = []
  const title = escapeXml(options.title)
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}">`,
    `<title>${title}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="19" font-size="14" font-weight="600" fill="#1f2328">${title}</text>`,
  )
  const x0 = MARGIN.left
  const y0 = MARGIN.top + plotHeight

  if (all.length === 0) {
    parts.push(
      `<rect x="${x0}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="#f6f8fa" stroke="#d0d7de"/>`,
      `<text x="${x0 + plotWidth / 2}" y="${MARGIN.top + plotHeight / 2}" text-anchor="middle" ` +
        `font-size="13" fill="#57606a">no data</text>`,
      '</svg>',
    )
    return parts.join('\n')
  }

  const tMin = options.origin ?? Math.min(...all.map((p) => p.t))
  const tMaxRaw = Math.max(...all.map((p) => p.t))
  const tMax = tMaxRaw > tMin ? tMaxRaw : tMin + 1000
  const yStep = niceStepFor(options.unit, Math.max(...all.map((p) => p.v)), 4)
  const yMax = Math.max(yStep, Math.ceil(Math.max(...all.map((p) => p.v)) / yStep) * yStep)
  const sx = (t: number) => x0 + ((t - tMin) / (tMax - tMin)) * plotWidth
  const sy = (v: number) => y0 - (Math.max(0, v) / yMax) * plotHeight
  const f = (n: number) => n.toFixed(1)

  // Grid and y ticks.
  for (let v = 0; v <= yMax + yStep / 2; v += yStep) {
    const y = f(sy(v))
    parts.push(
      `<line x1="${x0}" y1="${y}" x2="${x0 + plotWidth}" y2="${y}" stroke="#d8dee4" stroke-width="1"/>`,
      `<text x="${x0 - 6}" y="${y}" dy="4" text-anchor="end" font-size="11" fill="#57606a">` +
        `${escapeXml(formatValue(v, options.unit))}</text>`,
    )
  }
  // X ticks: elapsed time since the origin.
  const xStep = niceStepFor('seconds', (tMax - tMin) / 1000, 5) * 1000
  for (let t = 0; t <= tMax - tMin + 1e-9; t += xStep) {
    const x = f(sx(tMin + t))
    parts.push(
      `<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 4}" stroke="#57606a"/>`,
      `<text x="${x}" y="${y0 + 17}" text-anchor="middle" font-size="11" fill="#57606a">${formatElapsed(t)}</text>`,
    )
  }
  parts.push(`<line x1="${x0}" y1="${y0}" x2="${x0 + plotWidth}" y2="${y0}" stroke="#57606a"/>`)

  const gap = medianGap(series)
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] as string
    for (const run of runs(s.points, gap)) {
      if (run.length > 1) {
        const pts = run.map((p) => `${f(sx(p.t))},${f(sy(p.v))}`).join(' ')
        parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`)
      }
    }
    for (const p of s.points)
      parts.push(`<circle cx="${f(sx(p.t))}" cy="${f(sy(p.v))}" r="2.5" fill="${color}"/>`)
  })

  for (const item of legend) {
    const lx0 = x0 + item.x
    const ly = y0 + MARGIN.bottom + item.row * LEGEND_ROW
    parts.push(
      `<rect x="${f(lx0)}" y="${ly - 9}" width="12" height="12" fill="${item.color}"/>`,
      `<text x="${f(lx0 + 18)}" y="${ly + 1}" font-size="12" fill="#1f2328">${escapeXml(item.text)}</text>`,
    )
  }
  parts.push('</svg>')
  return parts.join('\n')
}
