/**
 * TabSeparated encoding for inserts. TSV is the cheapest format for both sides: values are written as-is
 * except for four escapes, and the engine parses it without building JSON trees.
 *
 * Invariant: every string field goes through `tsv()`, so no input (an rkey, a reason, a record value) can
 * break a line and forge another row.
 */

const NEEDS_ESCAPE = /[\\\t\n\r\0]/
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' }

/** Escapes a string field. Most fields (DIDs, NSIDs, TIDs, CIDs, JSON text) need nothing, so test first. */
export function tsv(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/[\\\t\n\r\0]/g, (c) => ESCAPES[c]!) : s
}

/** DateTime64(3) literal in UTC: "YYYY-MM-DD hh:mm:ss.sss". */
export function tsvTime(d: Date): string {
  return d.toISOString().slice(0, 23).replace('T', ' ')
}

/** Inverse of tsvTime as ClickHouse prints it back: ISO-8601 UTC. */
export function isoFromClickHouse(s: string): string {
  return `${s.replace(' ', 'T')}Z`
}

/**
 * Joins TSV lines (or groups of whole lines) into chunks of bounded size, so huge inserts never build one
 * giant JS string.
 */
export function tsvBody(lines: readonly string[], maxChunkChars = 8 << 20): string[] {
  const out: string[] = []
  let start = 0
  let chars = 0
  for (let i = 0; i < lines.length; i++) {
    chars += lines[i]!.length + 1
    if (chars >= maxChunkChars || i === lines.length - 1) {
      out.push(lines.slice(start, i + 1).join('\n') + '\n')
      start = i + 1
      chars = 0
    }
  }
  return out
}
