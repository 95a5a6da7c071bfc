/**
 * SQL literals for values that cannot travel as bound parameters, and the inlining of `{name:Type}`
 * placeholders into SQL text.
 *
 * Why inline at all: chdb's Node binding runs every parameterized statement on ONE process-wide chain (its
 * parameter state is not isolated per connection), so with bound parameters a 2 ms read waits behind a
 * 200 ms insert of another connection. Inlined literals run on their own connection, in parallel.
 * Statements that are forwarded as text (DELETE … ON CLUSTER) need literals for the same reason.
 *
 * Invariant: every value spliced into SQL goes through `sqlString` (strings: backslash and quote escaped, so
 * any input stays one literal) or is checked to be a non-negative safe integer; nothing else is accepted.
 * Substitution is one pass over the statement, so a value that itself looks like a placeholder is never
 * expanded.
 */
import type { QueryParams } from './clickhouse.js'

const STRING_ESCAPES: Record<string, string> = { '\\': '\\\\', "'": "\\'" }

/** A ClickHouse string literal holding exactly `s`. */
export function sqlString(s: string): string {
  if (typeof s !== 'string') throw new TypeError(`expected a string, got ${typeof s}`)
  return `'${s.replace(/[\\']/g, (c) => STRING_ESCAPES[c]!)}'`
}

function sqlUInt(n: unknown, type: string): string {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new TypeError(`expected a non-negative integer for ${type}, got ${String(n)}`)
  }
  return String(n)
}

function literal(value: QueryParams[string], type: string): string {
  switch (type) {
    case 'String':
      return sqlString(value as string)
    case 'UInt32':
    case 'UInt64':
      return sqlUInt(value, type)
    case 'Array(String)':
      if (!Array.isArray(value)) throw new TypeError(`expected an array for ${type}`)
      return `[${value.map((v: string) => sqlString(v)).join(', ')}]`
    default:
      throw new TypeError(`no literal rendering for parameter type ${type}`)
  }
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*):([A-Za-z0-9_(), ]+)\}/g

/** `sql` with every `{name:Type}` replaced by the literal of `params[name]`; unknown names throw. */
export function inlineParams(sql: string, params: QueryParams | undefined): string {
  return sql.replace(PLACEHOLDER, (_, name: string, type: string) => {
    if (params === undefined || !Object.hasOwn(params, name)) {
      throw new TypeError(`no value for query parameter ${name}`)
    }
    return literal(params[name]!, type.trim())
  })
}
