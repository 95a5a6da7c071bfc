/**
 * Inline SVG charts: escaped text, "no data" instead of an empty frame, broken lines at gaps, and axis
 * numbers that read well.
 */
import {
  compactNumber,
  formatValue,
  niceStep,
  niceStepFor,
  renderLineChart,
} from '../../src/metrics/svg-chart.js'

const count = (text: string, needle: string) => text.split(needle).length - 1

describe('renderLineChart', () => {
  it('draws one line and one dot per point per series, with escaped text', () => {
    const svg = renderLineChart({
      title: 'Lag <p99> & "more"',
      unit: 'seconds',
      series: [
        {
          name: '<script>alert(1)</script>',
          points: [
            { t: 0, v: 1 },
            { t: 1000, v: 2 },
            { t: 2000, v: 1.5 },
          ],
        },
        {
          name: 'b',
          points: [
            { t: 0, v: 0.5 },
            { t: 2000, v: NaN },
          ],
        },
      ],
    })
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg).not.toContain('<script>')
    expect(svg).toContain('&#60;script&#62;')
    expect(svg).toContain('Lag &#60;p99&#62; &#38; &#34;more&#34;')
    expect(count(svg, '<polyline')).toBe(1) // b has a single finite point: a dot, no line
    expect(count(svg, '<circle')).toBe(4)
    expect(svg).not.toContain('no data')
    expect(svg).not.toContain('NaN')
  })

  it('says "no data" when nothing is drawable', () => {
    for (const series of [
      [],
      [{ name: 'x', points: [] }],
      [{ name: 'x', points: [{ t: 0, v: Infinity }] }],
    ]) {
      const svg = renderLineChart({ title: 't', unit: 'count', series })
      expect(svg).toContain('no data')
      expect(svg).not.toContain('<polyline')
    }
  })

  it('breaks a line where points are much further apart than usual', () => {
    const points = [0, 1000, 2000, 3000, 9000, 10000].map((t) => ({ t, v: 1 }))
    const svg = renderLineChart({ title: 't', unit: 'count', series: [{ name: 'x', points }] })
    expect(count(svg, '<polyline')).toBe(2)
  })
})

describe('axis numbers', () => {
  it.each([
    [0.0004, 'seconds', '400 µs'],
    [0.25, 'seconds', '250 ms'],
    [42, 'seconds', '42 s'],
    [900, 'seconds', '15 min'],
    [10800, 'seconds', '3 h'],
    [1234, 'per_second', '1.23k/s'],
    [2500000, 'count', '2.5M'],
    [0, 'count', '0'],
  ] as const)('%d %s → %s', (v, unit, text) => {
    expect(formatValue(v, unit)).toBe(text)
  })

  it('steps are 1, 2 or 5 × 10^k, and whole minutes/hours for long durations', () => {
    expect(niceStep(97, 4)).toBe(50)
    expect(niceStep(0.9, 4)).toBe(0.5)
    expect(niceStep(0, 4)).toBe(1)
    expect(niceStepFor('seconds', 4000, 4)).toBe(1800)
    expect(niceStepFor('seconds', 30, 4)).toBe(10)
    expect(niceStepFor('count', 4000, 4)).toBe(1000)
    expect(compactNumber(999)).toBe('999')
  })
})
