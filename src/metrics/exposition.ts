/**
 * A parser for the Prometheus text exposition format (version 0.0.4), which is what prom-client serves and
 * what `spaceview report` reads back.
 *
 * Invariants:
 * - Strict where the format is strict: metric and label names must match the format's grammar, label
 *   values must be quoted, escapes are only `\\` and `\n` (plus `\"` in label values), a label may not
 *   repeat, and a value must be a float, `NaN`, `+Inf` or `-Inf` (any case, as Go's ParseFloat reads
 *   them; prom-client writes `Nan`). Any violation throws `ExpositionParseError` naming the line.
 * - Samples are grouped into families by their `# TYPE` line: `x_bucket`, `x_sum` and `x_count` belong to
 *   histogram `x`, `x_sum` and `x_count` to summary `x`. A sample with no TYPE is its own `untyped` family.
 * - Comments other than HELP and TYPE, blank lines and a trailing `# EOF` are ignored.
 */

export const METRIC_TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'] as const
export type MetricType = (typeof METRIC_TYPES)[number]

export interface Sample {
  /** The sample's own name (e.g. `x_bucket`), which may differ from its family's. */
  name: string
  labels: Record<string, string>
  value: number
  timestampMs?: number
}

export interface MetricFamily {
  name: string
  type: MetricType
  help: string
  samples: Sample[]
}

export class ExpositionParseError extends Error {
  override readonly name = 'ExpositionParseError'
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`)
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const INTEGER = /^-?\d+$/

/** Suffixes by which a sample joins a family of the given type. */
const FAMILY_SUFFIXES: Partial<Record<MetricType, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
}

/** Parses a sample value as the format defines it (Go's ParseFloat spellings of the specials). */
export function parseSampleValue(text: string): number | undefined {
  if (/^nan$/i.test(text)) return NaN
  if (/^\+?Inf$/i.test(text)) return Infinity
  if (/^-Inf$/i.test(text)) return -Infinity
  return FLOAT.test(text) ? Number(text) : undefined
}

/** Parses a whole exposition into families keyed by family name, in order of first appearance. */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>()
  const family = (name: string, type: MetricType = 'untyped'): MetricFamily => {
    let f = families.get(name)
    if (!f) {
      f = { name, type, help: '', samples: [] }
      families.set(name, f)
    }
    return f
  }
  const lines = text.split('\n')
  lines.forEach((raw, i) => {
    const lineNo = i + 1
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      parseComment(line, lineNo, families, family)
      return
    }
    const sample = parseSampleLine(line, lineNo)
    familyOf(sample.name, families, family).samples.push(sample)
  })
  return families
}

function parseComment(
  line: string,
  lineNo: number,
  families: Map<string, MetricFamily>,
  family: (name: string, type?: MetricType) => MetricFamily,
): void {
  const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line)
  if (!m) return // a plain comment (or `# EOF`)
  const [, keyword, name = '', rest = ''] = m
  if (METRIC_NAME.exec(name)?.[0] !== name)
    throw new ExpositionParseError(lineNo, `invalid metric name "${name}"`)
  if (keyword === 'HELP') {
    family(name).help = unescape(rest, lineNo, false)
    return
  }
  const type = rest.trim()
  if (!(METRIC_TYPES as readonly string[]).includes(type)) {
    throw new ExpositionParseError(lineNo, `unknown metric type "${type}" for ${name}`)
  }
  const existing = families.get(name)
  if (existing && existing.samples.length > 0) {
    throw new ExpositionParseError(lineNo, `TYPE for ${name} comes after its samples`)
  }
  family(name).type = type as MetricType
}

function familyOf(
  sampleName: string,
  families: Map<string, MetricFamily>,
  family: (name: string, type?: MetricType) => MetricFamily,
): MetricFamily {
  const own = families.get(sampleName)
  if (own) return own
  for (const [type, suffixes] of Object.entries(FAMILY_SUFFIXES)) {
    for (const suffix of suffixes) {
      if (!sampleName.endsWith(suffix)) continue
      const base = families.get(sampleName.slice(0, -suffix.length))
      if (base?.type === type) return base
    }
  }
  return family(sampleName)
}

function parseSampleLine(line: string, lineNo: number): Sample {
  const name = METRIC_NAME.exec(line)?.[0]
  if (!name) throw new ExpositionParseError(lineNo, `expected a metric name, got "${line.slice(0, 40)}"`)
  let pos = name.length
  const labels: Record<string, string> = {}
  if (line[pos] === '{') pos = parseLabels(line, pos + 1, labels, lineNo)
  const rest = line.slice(pos).trim().split(/\s+/)
  const [valueText, timestampText, extra] = rest
  if (valueText === undefined || valueText === '' || extra !== undefined) {
    throw new ExpositionParseError(lineNo, `expected "<value> [timestamp]" after ${name}`)
  }
  const value = parseSampleValue(valueText)
  if (value === undefined) throw new ExpositionParseError(lineNo, `invalid value "${valueText}" for ${name}`)
  const sample: Sample = { name, labels, value }
  if (timestampText !== undefined) {
    if (!INTEGER.test(timestampText)) {
      throw new ExpositionParseError(lineNo, `invalid timestamp "${timestampText}" for ${name}`)
    }
    sample.timestampMs = Number(timestampText)
  }
  return sample
}

/** Parses `name="value",...}` from `pos` (just after `{`); returns the position after `}`. */
function parseLabels(line: string, pos: number, into: Record<string, string>, lineNo: number): number {
  const skipSpace = () => {
    while (line[pos] === ' ' || line[pos] === '\t') pos++
  }
  for (;;) {
    skipSpace()
    if (line[pos] === '}') return pos + 1
    const label = LABEL_NAME.exec(line.slice(pos))?.[0]
    if (!label) throw new ExpositionParseError(lineNo, `expected a label name at column ${pos + 1}`)
    if (Object.hasOwn(into, label)) throw new ExpositionParseError(lineNo, `label "${label}" repeats`)
    pos += label.length
    skipSpace()
    if (line[pos] !== '=') throw new ExpositionParseError(lineNo, `expected "=" after label "${label}"`)
    pos++
    skipSpace()
    if (line[pos] !== '"')
      throw new ExpositionParseError(lineNo, `expected a quoted value for label "${label}"`)
    const end = closingQuote(line, pos + 1)
    if (end < 0) throw new ExpositionParseError(lineNo, `unterminated value for label "${label}"`)
    into[label] = unescape(line.slice(pos + 1, end), lineNo, true)
    pos = end + 1
    skipSpace()
    if (line[pos] === ',') pos++
    else if (line[pos] !== '}')
      throw new ExpositionParseError(lineNo, `expected "," or "}" after label "${label}"`)
  }
}

/** Index of the unescaped `"` that closes a label value starting at `from`, or -1. */
function closingQuote(line: string, from: number): number {
  for (let i = from; i < line.length; i++) {
    if (line[i] === '\\') i++
    else if (line[i] === '"') return i
  }
  return -1
}

/** Resolves `\\` and `\n` (HELP text and label values) and `\"` (label values only). */
function unescape(text: string, lineNo: number, labelValue: boolean): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\'
    if (c === 'n') return '\n'
    if (c === '"' && labelValue) return '"'
    throw new ExpositionParseError(lineNo, `invalid escape "\\${c}"`)
  })
}
