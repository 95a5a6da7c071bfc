/**
 * The text exposition parser: round trips with prom-client's own output (property-based over label values
 * and sample values), family grouping, and a typed error naming the line for every malformed input.
 */
import fc from 'fast-check'
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client'
import { ExpositionParseError, parseExposition, parseSampleValue } from '../../src/metrics/exposition.js'

describe('parseExposition', () => {
  it('reads back every metric type prom-client writes', async () => {
    const registry = new Registry()
    const c = new Counter({
      name: 'c_total',
      help: 'a counter\nwith a newline and a \\ backslash',
      labelNames: ['k'],
      registers: [registry],
    })
    const g = new Gauge({ name: 'g', help: 'a gauge', registers: [registry] })
    const h = new Histogram({
      name: 'h_seconds',
      help: 'h',
      buckets: [0.1, 1],
      labelNames: ['q'],
      registers: [registry],
    })
    const s = new Summary({ name: 's_bytes', help: 's', percentiles: [0.5], registers: [registry] })
    c.inc({ k: 'a "quoted" \\ value\nover lines' }, 2)
    g.set(-1.5e-7)
    h.observe({ q: 'x' }, 0.05)
    h.observe({ q: 'x' }, 5)
    s.observe(10)
    const families = parseExposition(await registry.metrics())

    expect(families.get('c_total')).toEqual({
      name: 'c_total',
      type: 'counter',
      help: 'a counter\nwith a newline and a \\ backslash',
      samples: [{ name: 'c_total', labels: { k: 'a "quoted" \\ value\nover lines' }, value: 2 }],
    })
    expect(families.get('g')?.samples).toEqual([{ name: 'g', labels: {}, value: -1.5e-7 }])
    const hist = families.get('h_seconds')
    expect(hist?.type).toBe('histogram')
    expect(hist?.samples.map((x) => [x.name, x.labels.le ?? '', x.value])).toEqual([
      ['h_seconds_bucket', '0.1', 1],
      ['h_seconds_bucket', '1', 1],
      ['h_seconds_bucket', '+Inf', 2],
      ['h_seconds_sum', '', 5.05],
      ['h_seconds_count', '', 2],
    ])
    expect(families.get('s_bytes')?.samples.map((x) => x.name)).toEqual([
      's_bytes',
      's_bytes_sum',
      's_bytes_count',
    ])
    expect([...families.keys()]).toEqual(['c_total', 'g', 'h_seconds', 's_bytes'])
  })

  it('round-trips arbitrary label values and sample values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 0, -0)),
        async (label, value) => {
          const registry = new Registry()
          new Gauge({ name: 'x', help: 'x', labelNames: ['l'], registers: [registry] }).set(
            { l: label },
            value,
          )
          const [sample] = parseExposition(await registry.metrics()).get('x')?.samples ?? []
          expect(sample?.labels).toEqual({ l: label })
          expect(Object.is(sample?.value, value === 0 ? 0 : value) || sample?.value === value).toBe(true)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('groups untyped samples, keeps timestamps, and ignores comments, blank lines, CRLF and # EOF', () => {
    const text = [
      '# a free comment',
      '',
      'plain{a="1",} 3 1700000000000\r',
      '# HELP plain ignored for grouping',
      'plain{a="2"} +Inf',
      'other_count 4',
      '# EOF',
    ].join('\n')
    const families = parseExposition(text)
    expect(families.get('plain')).toEqual({
      name: 'plain',
      type: 'untyped',
      help: 'ignored for grouping',
      samples: [
        { name: 'plain', labels: { a: '1' }, value: 3, timestampMs: 1700000000000 },
        { name: 'plain', labels: { a: '2' }, value: Infinity },
      ],
    })
    // Without a TYPE line `other_count` is its own family, not part of a histogram `other`.
    expect(families.get('other_count')?.type).toBe('untyped')
  })

  it.each([
    ['1bad 1', 1, 'expected a metric name'],
    ['m{a="1" 2', 1, 'expected "," or "}"'],
    ['m{a="unterminated} 2', 1, 'unterminated value'],
    ['m{a="\\t"} 2', 1, 'invalid escape'],
    ['m{a="1",a="2"} 2', 1, 'repeats'],
    ['m{1a="1"} 2', 1, 'expected a label name'],
    ['m{a=1} 2', 1, 'expected a quoted value'],
    ['ok 1\nm', 2, 'expected "<value> [timestamp]"'],
    ['m abc', 1, 'invalid value "abc"'],
    ['m 0x10', 1, 'invalid value "0x10"'],
    ['m 1 2.5', 1, 'invalid timestamp'],
    ['m 1 2 3', 1, 'expected "<value> [timestamp]"'],
    ['# TYPE m gauge\nm 1\n# TYPE m counter', 3, 'comes after its samples'],
    ['# TYPE m meter', 1, 'unknown metric type'],
    ['# HELP 9m help', 1, 'invalid metric name'],
  ])('rejects %j at line %i', (text, line, message) => {
    let caught: unknown
    try {
      parseExposition(text)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ExpositionParseError)
    expect((caught as ExpositionParseError).line).toBe(line)
    expect((caught as Error).message).toContain(message)
  })
})

describe('parseSampleValue', () => {
  it.each([
    ['1', 1],
    ['-2.5e3', -2500],
    ['.5', 0.5],
    ['+Inf', Infinity],
    ['-Inf', -Infinity],
    ['NaN', NaN],
    ['Nan', NaN],
  ])('%s', (text, value) => {
    expect(parseSampleValue(text)).toBe(value)
  })

  it.each(['', 'abc', '1,5', '0x1f', 'Infinity1', '1e'])('refuses %j', (text) => {
    expect(parseSampleValue(text)).toBeUndefined()
  })
})
