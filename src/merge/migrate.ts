/**
 * Versioned schema migrations, applied at start-up.
 *
 * A migration is a file in ./migrations exporting table specs to create and settings to change on existing
 * tables; schema.ts renders them for one node or a cluster. Applied versions are recorded in
 * `schema_migrations`. Every statement is idempotent (IF NOT EXISTS, MODIFY SETTING) and the version is
 * recorded only after all its statements ran, so a start-up that dies halfway simply re-runs the unfinished
 * migration next time. Several processes may migrate at once for the same reason.
 */
import type { Logger } from 'pino'
import type { ClickHouse } from './clickhouse.js'
import { MergeError } from './errors.js'
import { MIGRATIONS } from './migrations/index.js'
import {
  renderCreateDatabase,
  renderCreateTable,
  renderModifySettings,
  tableRef,
  type SchemaTarget,
  type TableSettingsChange,
  type TableSpec,
} from './schema.js'
import { SCHEMA_MIGRATIONS } from './tables.js'

export interface Migration {
  /** Strictly increasing, never reused. */
  version: number
  name: string
  tables: readonly TableSpec[]
  /** Settings of tables created by earlier migrations, changed after this one's tables are created. */
  settings?: readonly TableSettingsChange[]
}

/** The DDL of one migration on `target`, in execution order. */
function migrationStatements(m: Migration, target: SchemaTarget): string[] {
  return [
    ...m.tables.flatMap((t) => renderCreateTable(t, target)),
    ...(m.settings ?? []).map((c) => renderModifySettings(c, target)),
  ]
}

const MIGRATIONS_TABLE: TableSpec = {
  ...SCHEMA_MIGRATIONS,
  columns: ['version UInt32', 'name String', "applied_at DateTime64(3, 'UTC')"],
  replacing: ['applied_at'],
  orderBy: ['version'],
}

/** Every DDL statement that creates the schema on `target`, in order (bootstrap table first). */
export function renderSchema(target: SchemaTarget, migrations: readonly Migration[] = MIGRATIONS): string[] {
  return [
    renderCreateDatabase(target),
    ...renderCreateTable(MIGRATIONS_TABLE, target),
    ...migrations.flatMap((m) => migrationStatements(m, target)),
  ]
}

/** Applies the migrations `ch` has not seen yet; returns the versions applied now. */
export async function migrate(
  ch: ClickHouse,
  logger: Logger,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  migrations.forEach((m, i) => {
    const prev = migrations[i - 1]
    if (prev !== undefined && m.version <= prev.version) {
      throw new MergeError(
        'config',
        `migration ${m.name} (version ${m.version}) is out of order after ${prev.version}`,
      )
    }
  })
  const target = ch.target
  await ch.command(renderCreateDatabase(target))
  for (const stmt of renderCreateTable(MIGRATIONS_TABLE, target)) await ch.command(stmt)
  const table = tableRef(target, MIGRATIONS_TABLE.name)
  const rows = await ch.query<{ version: number | string }>(`SELECT version FROM ${table} FINAL`)
  const applied = new Set(rows.map((r) => Number(r.version)))
  const known = new Set(migrations.map((m) => m.version))
  const unknown = [...applied].filter((v) => !known.has(v))
  if (unknown.length > 0) {
    logger.warn(
      { database: target.database, unknown },
      'database has migrations this build does not know; it was migrated by a newer build — deploy that one',
    )
  }
  const done: number[] = []
  for (const m of migrations) {
    if (applied.has(m.version)) continue
    logger.info({ database: target.database, version: m.version, name: m.name }, 'applying migration')
    for (const stmt of migrationStatements(m, target)) await ch.command(stmt)
    await ch.command(
      `INSERT INTO ${table} (version, name, applied_at) SELECT {v:UInt32}, {n:String}, now64(3)`,
      {
        v: m.version,
        n: m.name,
      },
    )
    done.push(m.version)
  }
  return done
}
