/**
 * The one small interface the merge store talks to ClickHouse through, and its two transports:
 * - server: @clickhouse/client over HTTP, to one server or a cluster;
 * - embedded: chdb (ClickHouse in this process) behind @clickhouse/client's pluggable connection.
 * Both run the same SQL. They differ in how a bulk insert reaches the engine, in how parameters reach it
 * (embedded: inlined as literals, see sql-literal.ts), in the embedded engine's separate read connections,
 * and on a cluster in default settings that make Distributed tables behave like local ones (synchronous
 * inserts, only the owning shard is queried).
 *
 * Invariants:
 * - An insert (`insertTsv`, `insertRowBinary`) puts all its rows into ONE block, hence one part that becomes
 *   visible atomically (the merge store's commit protocol rests on this; see repo-writer.ts).
 * - Every statement names tables with their database (schema.ts tableRef), so one process can hold several
 *   databases in one embedded data directory (tests do) and the server client needs no default database.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import {
  createClient,
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  type ClickHouseSettings,
} from '@clickhouse/client'
import { createChdbConnection, type ChdbExtension } from 'chdb/connection'
import type { ClickHouseConfig } from './config.js'
import type { SchemaTarget } from './schema.js'
import { inlineParams } from './sql-literal.js'
import { tsvFromRowBinary } from './tsv.js'

/** TSV text of an insert, in chunks of whole lines (strings or UTF-8 bytes). */
export type TsvBody = Iterable<string | Uint8Array>

/** RowBinary bytes of an insert, in chunks of whole rows. */
export type RowBinaryBody = Iterable<Uint8Array>

/** Formats an insert body can be in, and a body in either. */
type InsertFormat = 'TabSeparated' | 'RowBinary'
type InsertBody = TsvBody | RowBinaryBody

/** Values bound to `{name:Type}` placeholders. */
export type QueryParams = Record<string, string | number | readonly string[]>

export interface ClickHouse {
  readonly transport: 'embedded' | 'server'
  readonly target: SchemaTarget
  /** Runs a SELECT and returns its rows (JSONEachRow). */
  query<T>(sql: string, params?: QueryParams): Promise<T[]>
  /**
   * As `query`, on the connection that runs the inserts (embedded engine; the same as `query` on a server).
   * For the reads of the store's serial write lane (compare-and-set lookups, space upserts): they cannot
   * overlap the lane's own inserts anyway, and here they never queue behind page reads and sweeps on the
   * read connections, which under a burst of sweeps stalled every write behind them.
   */
  queryOnWriter<T>(sql: string, params?: QueryParams): Promise<T[]>
  /** Runs a statement that returns no rows (DDL, DELETE, INSERT … SELECT). */
  command(sql: string, params?: QueryParams): Promise<void>
  /**
   * Inserts `rows` TabSeparated lines (the concatenation of `body`, iterated once) into `columns` of `table`
   * as one block, i.e. one part, visible all at once or not at all.
   */
  insertTsv(table: string, columns: readonly string[], body: TsvBody, rows: number): Promise<void>
  /** As insertTsv, for `rows` rows in RowBinary (values in the order of `columns`). */
  insertRowBinary(table: string, columns: readonly string[], body: RowBinaryBody, rows: number): Promise<void>
  close(): Promise<void>
}

/**
 * Read connections of the embedded engine: two, so one slow read (a count over a big space, a batch's
 * lookup) does not hold up page reads; more would only split this machine's cores further.
 */
const EMBEDDED_READ_CONNECTIONS = 2

/** Embedded inserts up to this size go to chdb directly, larger ones through a file (see EmbeddedTransport). */
const RAW_INSERT_BYTES = 256 * 1024

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

  queryOnWriter<T>(sql: string, params?: QueryParams): Promise<T[]> {
    return this.query(sql, params)
  }

  async command(sql: string, params?: QueryParams): Promise<void> {
    await this.client.command({ query: sql, query_params: params })
  }

  insertTsv(table: string, columns: readonly string[], body: TsvBody, rows: number): Promise<void> {
    return this.insert(table, columns, body, rows, 'TabSeparated')
  }

  insertRowBinary(
    table: string,
    columns: readonly string[],
    body: RowBinaryBody,
    rows: number,
  ): Promise<void> {
    return this.insert(table, columns, body, rows, 'RowBinary')
  }

  protected abstract insert(
    table: string,
    columns: readonly string[],
    body: InsertBody,
    rows: number,
    format: InsertFormat,
  ): Promise<void>

  async close(): Promise<void> {
    await this.client.close()
  }
}

class ServerTransport extends ClientTransport {
  readonly transport = 'server'

  /**
   * The statement in the URL and the body streamed after it (`exec`: the client's `insert` only streams
   * text formats).
   */
  protected async insert(
    table: string,
    columns: readonly string[],
    body: InsertBody,
    rows: number,
    format: InsertFormat,
  ): Promise<void> {
    if (columns.length === 0) throw new Error('an insert needs at least one column')
    const { stream } = await this.client.exec({
      query: `INSERT INTO ${table} (${columns.join(', ')}) FORMAT ${format}`,
      values: Readable.from(body, { objectMode: false }),
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
    // An insert answers with an empty body; reading it to the end keeps the connection reusable.
    await finished(stream.resume())
  }
}

/** The JSONEachRow rows of a SELECT run on an embedded connection. */
async function rowsOf<T>(native: ChdbExtension, query: string): Promise<T[]> {
  const text = (await native.queryAsync(query, { format: 'JSONEachRow' })).text()
  return text === ''
    ? []
    : text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as T)
}

/**
 * Embedded engine: one connection for statements (inserts, DDL, DELETE) and a few for SELECTs.
 *
 * - A chdb connection runs one statement at a time, so reads get their own connections: a page read does not
 *   wait behind a 200 ms batch insert. All connections share the one in-process server, so a read issued
 *   after a write returned sees it.
 * - Parameters are inlined as literals (sql-literal.ts): chdb serializes parameterized statements
 *   process-wide, across connections, which would undo the separation above.
 * - Large inserts go through a file: chdb's inline-data insert pushes the whole payload through its query
 *   path (about twice the time of `INSERT … SELECT FROM file()`, measured on 50k-row batches), while file()
 *   lets the engine read and parse the rows natively. The files live in a directory of this process under
 *   the data directory and are removed after each insert; directories of dead processes are removed at open.
 *   Small inserts (up to RAW_INSERT_BYTES: a space group, an incremental batch of a few repos) hand their
 *   bytes to chdb directly (its raw insert): below ~500 KB that beats the file's fixed cost (write, two
 *   thread-pool hops, removal), 4.0 against 6.3 ms of CPU for 80 rows. The raw insert takes text formats
 *   only, so small RowBinary inserts are rewritten as TSV first (tsv.ts): for 7 rows that costs 0.1-0.2 ms
 *   of CPU over a TSV insert, where a RowBinary file costs 3 ms more. Large RowBinary inserts go through the
 *   file as RowBinary (its parse takes 13-17% less CPU than TSV's on 50k-row batches). Either way the insert
 *   is squashed into a single block (min rows above the row count, one insert thread, no parallel parsing),
 *   which keeps the one-part guarantee.
 */
/** An embedded connection: the client over it, and chdb's own surface of it (queries, raw inserts). */
interface Connected {
  client: ClickHouseClient
  native: ChdbExtension
}

class EmbeddedTransport extends ClientTransport {
  readonly transport = 'embedded'
  private readonly types = new Map<string, readonly string[]>()
  private readonly busy: number[]

  constructor(
    target: SchemaTarget,
    client: ClickHouseClient,
    /** chdb's own surface of `client`'s connection (raw inserts). */
    private readonly native: ChdbExtension,
    private readonly readers: readonly Connected[],
    private readonly spool: string,
  ) {
    super(target, client)
    this.busy = readers.map(() => 0)
  }

  /**
   * SELECTs go to the least busy read connection, through chdb's own query call: the client's result set
   * (a stream over the finished result, then line splitting) cost ~1 ms per query, a third of a bare
   * `SELECT 1` (measured on the bench data), for the same JSONEachRow text.
   */
  override async query<T>(sql: string, params?: QueryParams): Promise<T[]> {
    const query = inlineParams(sql, params)
    let i = 0
    for (let j = 1; j < this.readers.length; j++) if (this.busy[j]! < this.busy[i]!) i = j
    this.busy[i]!++
    try {
      return await rowsOf<T>(this.readers[i]!.native, query)
    } finally {
      this.busy[i]!--
    }
  }

  override queryOnWriter<T>(sql: string, params?: QueryParams): Promise<T[]> {
    return rowsOf<T>(this.native, inlineParams(sql, params))
  }

  override async command(sql: string, params?: QueryParams): Promise<void> {
    await this.client.command({ query: inlineParams(sql, params) })
  }

  /** The types of `columns` of `table`, as system.columns names them. */
  private async columnTypes(table: string, columns: readonly string[]): Promise<readonly string[]> {
    const key = `${table}(${columns.join(',')})`
    const known = this.types.get(key)
    if (known !== undefined) return known
    const [database, name] = table.split('.') as [string, string]
    const rows = await this.query<{ name: string; type: string }>(
      'SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}',
      { db: database, t: name },
    )
    const byName = new Map(rows.map((r) => [r.name, r.type]))
    const types = columns.map((c) => {
      const type = byName.get(c)
      if (type === undefined) throw new Error(`${table} has no column ${c}; run the migrations`)
      return type
    })
    this.types.set(key, types)
    return types
  }

  protected async insert(
    table: string,
    columns: readonly string[],
    body: InsertBody,
    rows: number,
    format: InsertFormat,
  ): Promise<void> {
    // Bytes are collected until the insert is known to be small; past RAW_INSERT_BYTES the rest streams to a file.
    const head: Uint8Array[] = []
    let size = 0
    const rest = body[Symbol.iterator]()
    for (let next = rest.next(); next.done !== true; next = rest.next()) {
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
      head.push(chunk)
      size += chunk.length
      if (size > RAW_INSERT_BYTES)
        return this.insertFile(table, columns, [head, { [Symbol.iterator]: () => rest }], rows, format)
    }
    if (size === 0) return
    const values = Buffer.concat(head)
    await this.native.rawInsert({
      table,
      columns,
      values:
        format === 'RowBinary' ? tsvFromRowBinary(await this.columnTypes(table, columns), values) : values,
      format: 'TabSeparated',
      settings: {
        async_insert: 0,
        input_format_parallel_parsing: 0,
        max_insert_threads: 1,
        max_insert_block_size: rows + 1,
        min_insert_block_size_rows: rows + 1,
        min_insert_block_size_bytes: 0,
      },
    })
  }

  private async insertFile(
    table: string,
    columns: readonly string[],
    parts: readonly Iterable<string | Uint8Array>[],
    rows: number,
    format: InsertFormat,
  ): Promise<void> {
    const types = await this.columnTypes(table, columns)
    const structure = columns.map((c, i) => `${c} ${types[i]}`).join(', ')
    const file = join(this.spool, randomUUID())
    await writeFile(
      file,
      (function* () {
        for (const part of parts) yield* part
      })(),
    )
    try {
      await this.command(
        `INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM file({file:String}, '${format}', {structure:String})
         SETTINGS max_insert_threads = 1, min_insert_block_size_rows = ${rows + 1}, min_insert_block_size_bytes = 0`,
        { file, structure },
      )
    } finally {
      await rm(file, { force: true })
    }
  }

  override async close(): Promise<void> {
    await Promise.all([super.close(), ...this.readers.map((r) => r.client.close())])
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
    // chdb implements the client's Connection contract but is typed against a separately published copy
    // of @clickhouse/client-common; the shapes are the same (chdb's own docs show this exact call).
    const connect = (): Connected => {
      const connection = createChdbConnection({ path: config.path })
      const client = createClient({
        connection: connection as unknown as ClickHouseClientConfigOptions['connection'],
      })
      return { client, native: connection.chdb }
    }
    const readers = Array.from({ length: EMBEDDED_READ_CONNECTIONS }, connect)
    const writer = connect()
    return new EmbeddedTransport(
      { database: config.database, cluster: null },
      writer.client,
      writer.native,
      readers,
      openSpool(config.path),
    )
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
