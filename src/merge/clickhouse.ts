/**
 * The one small interface the merge store talks to ClickHouse through, and its two transports:
 * - server: @clickhouse/client over HTTP, to one server or a cluster;
 * - embedded: chdb (ClickHouse in this process) behind @clickhouse/client's pluggable connection.
 * Both run the same SQL. They differ only in how a bulk insert reaches the engine, and on a cluster in
 * default settings that make Distributed tables behave like local ones (synchronous inserts, only the
 * owning shard is queried).
 *
 * Invariants:
 * - `insertTsv` inserts all its rows as ONE block, hence one part that becomes visible atomically (the
 *   merge store's commit protocol rests on this; see repo-writer.ts).
 * - Every statement names tables with their database (schema.ts tableRef), so one process can hold several
 *   databases in one embedded data directory (tests do) and the server client needs no default database.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import {
  createClient,
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  type ClickHouseSettings,
} from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import type { ClickHouseConfig } from './config.js'
import type { SchemaTarget } from './schema.js'

/** Values bound to `{name:Type}` placeholders. */
export type QueryParams = Record<string, string | number | readonly string[]>

export interface ClickHouse {
  readonly transport: 'embedded' | 'server'
  readonly target: SchemaTarget
  /** Runs a SELECT and returns its rows (JSONEachRow). */
  query<T>(sql: string, params?: QueryParams): Promise<T[]>
  /** Runs a statement that returns no rows (DDL, DELETE, INSERT … SELECT). */
  command(sql: string, params?: QueryParams): Promise<void>
  /**
   * Inserts `rows` TabSeparated lines (the concatenation of `body`) into `columns` of `table` as one block,
   * i.e. one part, visible all at once or not at all.
   */
  insertTsv(table: string, columns: readonly string[], body: readonly string[], rows: number): Promise<void>
  close(): Promise<void>
}

/** On a cluster: wait for shards to store inserted rows; send per-space queries to the owning shard only. */
const CLUSTER_SETTINGS: ClickHouseSettings = { insert_distributed_sync: 1, optimize_skip_unused_shards: 1 }

abstract class ClientTransport implements ClickHouse {
  abstract readonly transport: 'embedded' | 'server'

  constructor(
    readonly target: SchemaTarget,
    protected readonly client: ClickHouseClient,
  ) {}

  async query<T>(sql: string, params?: QueryParams): Promise<T[]> {
    const rs = await this.client.query({ query: sql, query_params: params, format: 'JSONEachRow' })
    return rs.json<T>()
  }

  async command(sql: string, params?: QueryParams): Promise<void> {
    await this.client.command({ query: sql, query_params: params })
  }

  abstract insertTsv(
    table: string,
    columns: readonly string[],
    body: readonly string[],
    rows: number,
  ): Promise<void>

  async close(): Promise<void> {
    await this.client.close()
  }
}

class ServerTransport extends ClientTransport {
  readonly transport = 'server'

  async insertTsv(
    table: string,
    columns: readonly string[],
    body: readonly string[],
    rows: number,
  ): Promise<void> {
    const [first, ...rest] = columns
    if (first === undefined) throw new Error('insertTsv needs at least one column')
    await this.client.insert({
      table,
      columns: [first, ...rest],
      format: 'TabSeparated',
      values: Readable.from(body),
      // One block: no parallel parsing (it cuts the input into chunks), block limits above the row count,
      // and no async-insert queue (it would decouple the acknowledgement from visibility).
      clickhouse_settings: {
        async_insert: 0,
        input_format_parallel_parsing: 0,
        max_insert_block_size: String(rows + 1),
        min_insert_block_size_rows: String(rows + 1),
        min_insert_block_size_bytes: '0',
      },
    })
  }
}

/**
 * Embedded inserts go through a file: chdb's inline-data insert pushes the whole payload through its query
 * path (several times slower than the engine's own parse), while `INSERT … SELECT FROM file()` lets the
 * engine read and parse the TSV natively. Squashing into a single block (min rows above the row count, one
 * insert thread) keeps the one-part guarantee. The files live in a directory of this process under the
 * data directory and are removed after each insert; directories of dead processes are removed at open.
 */
class EmbeddedTransport extends ClientTransport {
  readonly transport = 'embedded'
  private readonly structures = new Map<string, string>()

  constructor(
    target: SchemaTarget,
    client: ClickHouseClient,
    private readonly spool: string,
  ) {
    super(target, client)
  }

  private async structure(table: string, columns: readonly string[]): Promise<string> {
    const key = `${table}(${columns.join(',')})`
    const known = this.structures.get(key)
    if (known !== undefined) return known
    const [database, name] = table.split('.') as [string, string]
    const rows = await this.query<{ name: string; type: string }>(
      'SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}',
      { db: database, t: name },
    )
    const types = new Map(rows.map((r) => [r.name, r.type]))
    const structure = columns
      .map((c) => {
        const type = types.get(c)
        if (type === undefined) throw new Error(`${table} has no column ${c}; run the migrations`)
        return `${c} ${type}`
      })
      .join(', ')
    this.structures.set(key, structure)
    return structure
  }

  async insertTsv(
    table: string,
    columns: readonly string[],
    body: readonly string[],
    rows: number,
  ): Promise<void> {
    const structure = await this.structure(table, columns)
    const file = join(this.spool, `${randomUUID()}.tsv`)
    await writeFile(file, body)
    try {
      await this.command(
        `INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM file({file:String}, 'TabSeparated', {structure:String})
         SETTINGS max_insert_threads = 1, min_insert_block_size_rows = ${rows + 1}, min_insert_block_size_bytes = 0`,
        { file, structure },
      )
    } finally {
      await rm(file, { force: true })
    }
  }

  override async close(): Promise<void> {
    await super.close()
    rmSync(this.spool, { recursive: true, force: true })
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A fresh spool directory for this process; removes those left by processes that died. */
function openSpool(dataPath: string): string {
  const root = join(dataPath, 'spaceview-inserts')
  mkdirSync(root, { recursive: true })
  for (const name of readdirSync(root)) {
    const pid = Number(name.split('-')[0])
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) {
      rmSync(join(root, name), { recursive: true, force: true })
    }
  }
  return mkdtempSync(join(root, `${process.pid}-`))
}

export function openClickHouse(config: ClickHouseConfig): ClickHouse {
  if (config.transport === 'embedded') {
    mkdirSync(config.path, { recursive: true })
    const connection = createChdbConnection({ path: config.path })
    // chdb implements the client's Connection contract but is typed against a separately published copy
    // of @clickhouse/client-common; the shapes are the same (chdb's own docs show this exact call).
    const client = createClient({
      connection: connection as unknown as ClickHouseClientConfigOptions['connection'],
    })
    return new EmbeddedTransport({ database: config.database, cluster: null }, client, openSpool(config.path))
  }
  const cluster = config.cluster ?? null
  const client = createClient({
    url: config.url,
    username: config.username,
    password: config.password,
    clickhouse_settings: cluster === null ? {} : CLUSTER_SETTINGS,
    // Full-repo snapshots and space purges can take a while on a busy server.
    request_timeout: 300_000,
  })
  return new ServerTransport({ database: config.database, cluster }, client)
}
