/**
 * Schema rendering: turns engine-neutral table specs (from the migration files) into DDL for one node or
 * for a cluster, and names the tables queries must use. Both variants come from the same specs, so the
 * single-node schema (embedded engine, single server) and the cluster schema cannot drift apart.
 *
 * Cluster variant (`CLICKHOUSE_CLUSTER=name`):
 * - 'sharded' tables hold per-space data. Each shard has `{name}_local` (ReplicatedReplacingMergeTree) and
 *   every node has `{name}`, a Distributed table sharded by sipHash64(space). All rows of a space live on one
 *   shard, so FINAL, the atomic one-insert-per-batch commit and per-space reads behave exactly as on one node.
 * - 'replicated' tables are small and needed by every shard inside queries (account status, space epochs):
 *   one replication group across all nodes, so each node answers IN-subqueries from its own full copy.
 * Queries and inserts always use `{name}`; only DDL and DELETE address `{name}_local`.
 * Macros {shard} and {replica} must be defined on every server, {replica} unique across the whole cluster.
 */
import type { TableRef } from './tables.js'

export interface SchemaTarget {
  database: string
  /** Cluster name, or null for a single node (embedded engine or one server). */
  cluster: string | null
}

export interface TableSpec extends TableRef {
  /** Column definitions, e.g. "space String". Sharded tables must have a `space` column. */
  columns: readonly string[]
  /** ReplacingMergeTree parameters (version column, optionally is_deleted column). */
  replacing: readonly string[]
  orderBy: readonly string[]
  settings?: Readonly<Record<string, number>>
}

/** New values for settings of an existing table (a later migration's change of a TableSpec's settings). */
export interface TableSettingsChange {
  table: TableRef
  settings: Readonly<Record<string, number>>
}

/** Expression that places a space's rows on one shard. */
export const SHARD_KEY = 'sipHash64(space)'

/** Name queries and inserts use (the Distributed table on a cluster). */
export function tableRef(target: SchemaTarget, name: string): string {
  return `${target.database}.${name}`
}

function onCluster(target: SchemaTarget): string {
  return target.cluster === null ? '' : ` ON CLUSTER ${target.cluster}`
}

/** `DELETE FROM` clause for a sharded table: on a cluster the mutation must run on every shard's local table. */
export function deleteFrom(target: SchemaTarget, spec: TableRef): string {
  if (target.cluster === null) return `DELETE FROM ${tableRef(target, spec.name)}`
  if (spec.placement === 'replicated') {
    // One replication group: a mutation on any replica reaches all of them.
    return `DELETE FROM ${tableRef(target, spec.name)}`
  }
  return `DELETE FROM ${tableRef(target, `${spec.name}_local`)}${onCluster(target)}`
}

export function renderCreateDatabase(target: SchemaTarget): string {
  return `CREATE DATABASE IF NOT EXISTS ${target.database}${onCluster(target)}`
}

function engineClause(spec: TableSpec, zooKeeperPath: string | null): string {
  const args = [...spec.replacing]
  if (zooKeeperPath === null) return `ReplacingMergeTree(${args.join(', ')})`
  return `ReplicatedReplacingMergeTree(${[`'${zooKeeperPath}'`, `'{replica}'`, ...args].join(', ')})`
}

function body(spec: TableSpec, engine: string): string {
  const settings = Object.entries(spec.settings ?? {})
  return (
    `(\n  ${spec.columns.join(',\n  ')}\n)\nENGINE = ${engine}\nORDER BY (${spec.orderBy.join(', ')})` +
    (settings.length > 0 ? `\nSETTINGS ${settings.map(([k, v]) => `${k} = ${v}`).join(', ')}` : '')
  )
}

/** DDL statements (idempotent: IF NOT EXISTS) creating `spec` on `target`, in execution order. */
export function renderCreateTable(spec: TableSpec, target: SchemaTarget): string[] {
  if (spec.placement === 'sharded' && !spec.columns.some((c) => c.startsWith('space '))) {
    throw new Error(`sharded table ${spec.name} has no space column to shard by`)
  }
  const name = tableRef(target, spec.name)
  if (target.cluster === null) {
    return [`CREATE TABLE IF NOT EXISTS ${name}\n${body(spec, engineClause(spec, null))}`]
  }
  if (spec.placement === 'replicated') {
    const engine = engineClause(spec, '/clickhouse/tables/all/{database}/{table}')
    return [`CREATE TABLE IF NOT EXISTS ${name}${onCluster(target)}\n${body(spec, engine)}`]
  }
  const local = tableRef(target, `${spec.name}_local`)
  const engine = engineClause(spec, '/clickhouse/tables/{shard}/{database}/{table}')
  return [
    `CREATE TABLE IF NOT EXISTS ${local}${onCluster(target)}\n${body(spec, engine)}`,
    `CREATE TABLE IF NOT EXISTS ${name}${onCluster(target)} AS ${local}\n` +
      `ENGINE = Distributed(${target.cluster}, ${target.database}, ${spec.name}_local, ${SHARD_KEY})`,
  ]
}

/**
 * DDL changing the settings of an existing table on `target` (idempotent: MODIFY SETTING). On a cluster a
 * sharded table's settings belong to its local tables on every shard (the Distributed table has none).
 */
export function renderModifySettings(change: TableSettingsChange, target: SchemaTarget): string {
  const { table, settings } = change
  const name =
    target.cluster !== null && table.placement === 'sharded'
      ? tableRef(target, `${table.name}_local`)
      : tableRef(target, table.name)
  const list = Object.entries(settings).map(([k, v]) => `${k} = ${v}`)
  return `ALTER TABLE ${name}${onCluster(target)} MODIFY SETTING ${list.join(', ')}`
}
