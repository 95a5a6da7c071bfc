/**
 * Times every call a merge store makes into ClickHouse (queries, commands, inserts), from the outside.
 *
 * Why from the outside: spaceview defines `clickhouse_*_duration_seconds` histograms but, at the time of
 * writing, nothing observes them, so the load test wraps the store's ClickHouse handle instead. The handle
 * is shared by the store's writer and reader, so wrapping its methods on the instance sees every call.
 *
 * Figures: `busyMs` is wall time with at least one ClickHouse call in flight (its share of the window is
 * "how much of the time was ClickHouse the thing being waited on"); `sumMs` adds overlapping calls.
 */
import type { ClickHouse } from '../../src/merge/clickhouse.js'
import { BusyTracker } from './stats.js'

export interface ClickHouseTiming {
  calls: number
  busyMs: number
  sumMs: number
  byKind: Record<'query' | 'command' | 'insert', { calls: number; ms: number }>
  /** Cumulative calls and ms per statement shape (see `statementShape`), the 40 most expensive. */
  byStatement: Array<{ statement: string; calls: number; ms: number }>
}

/**
 * A statement's shape: whitespace collapsed, database names and literals dropped, cut to 140 characters —
 * enough to tell the store's few statements apart (they are fixed strings with bound parameters).
 */
export function statementShape(sql: string): string {
  return sql
    .replace(/\s+/g, ' ')
    .replace(/\b\w+\.(records|spaces|accounts|space_acl|schema_migrations)\b/g, '$1')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\d+/g, 'N')
    .trim()
    .slice(0, 140)
}

export class ClickHouseTimer {
  private readonly all = new BusyTracker()
  private readonly statements = new Map<string, { calls: number; ms: number }>()
  private readonly kinds = {
    query: { calls: 0, ms: 0 },
    command: { calls: 0, ms: 0 },
    insert: { calls: 0, ms: 0 },
  }

  /** Wraps `ch`'s methods in place. */
  instrument(ch: ClickHouse): void {
    const mutable = ch as { -readonly [K in keyof ClickHouse]: ClickHouse[K] }
    const wrap =
      <A extends unknown[], R>(kind: keyof ClickHouseTimer['kinds'], fn: (...a: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        const t0 = performance.now()
        const end = this.all.start()
        try {
          return await fn(...args)
        } finally {
          end()
          const ms = performance.now() - t0
          this.kinds[kind].calls++
          this.kinds[kind].ms += ms
          // query/command take the SQL first; an insert is named by its table.
          const shape =
            kind === 'insert'
              ? `INSERT INTO ${String(args[0]).replace(/^\w+\./, '')}`
              : statementShape(String(args[0]))
          const st = this.statements.get(shape) ?? { calls: 0, ms: 0 }
          st.calls++
          st.ms += ms
          this.statements.set(shape, st)
        }
      }
    mutable.query = wrap('query', ch.query.bind(ch)) as ClickHouse['query']
    mutable.queryOnWriter = wrap('query', ch.queryOnWriter.bind(ch)) as ClickHouse['queryOnWriter']
    mutable.command = wrap('command', ch.command.bind(ch))
    mutable.insertTsv = wrap('insert', ch.insertTsv.bind(ch))
    mutable.insertRowBinary = wrap('insert', ch.insertRowBinary.bind(ch))
  }

  snapshot(): ClickHouseTiming {
    const r = (n: number) => Math.round(n)
    return {
      calls: this.all.calls,
      busyMs: r(this.all.busyNow()),
      sumMs: r(this.all.sumMs),
      byKind: {
        query: { calls: this.kinds.query.calls, ms: r(this.kinds.query.ms) },
        command: { calls: this.kinds.command.calls, ms: r(this.kinds.command.ms) },
        insert: { calls: this.kinds.insert.calls, ms: r(this.kinds.insert.ms) },
      },
      byStatement: [...this.statements.entries()]
        .map(([statement, v]) => ({ statement, calls: v.calls, ms: r(v.ms) }))
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 40),
    }
  }
}
