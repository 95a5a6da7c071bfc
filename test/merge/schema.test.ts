// The schema generated from the migration files: the single-node variant is exercised by every other test;
// the cluster variant cannot run here, so these tests pin down the DDL it generates and have the engine's
// parser check that every statement is valid ClickHouse SQL.
import { describe, expect, test } from '@jest/globals'
import { createChdbConnection } from 'chdb/connection'
import { mergeConfigFromEnv, MergeError, renderSchema } from '../../src/merge/index.js'
import { deleteFrom } from '../../src/merge/schema.js'
import { sqlString } from '../../src/merge/sql-literal.js'
import { ACCOUNTS, RECORDS, SPACE_ACL } from '../../src/merge/tables.js'
import { tempDir } from './helpers.js'

const CLUSTER = { database: 'spaceview', cluster: 'main' }
const SINGLE = { database: 'spaceview', cluster: null }

function find(stmts: string[], prefix: string): string {
  const hit = stmts.filter((s) => s.startsWith(prefix))
  expect(hit).toHaveLength(1)
  return hit[0]!
}

describe('cluster schema', () => {
  const ddl = renderSchema(CLUSTER)

  test('every statement runs ON CLUSTER', () => {
    for (const stmt of ddl) expect(stmt.split('\n')[0]).toMatch(/ ON CLUSTER main( |$)/)
  })

  test('records: replicated per shard, Distributed by space on top', () => {
    const local = find(ddl, 'CREATE TABLE IF NOT EXISTS spaceview.records_local ON CLUSTER main\n')
    expect(local).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version, is_deleted)",
    )
    expect(local).toContain('ORDER BY (kind, space, epoch, collection, author, rkey)')
    expect(local).not.toContain('PARTITION BY')
    const dist = find(
      ddl,
      'CREATE TABLE IF NOT EXISTS spaceview.records ON CLUSTER main AS spaceview.records_local\n',
    )
    expect(dist).toContain('ENGINE = Distributed(main, spaceview, records_local, sipHash64(space))')
    // The local table is created before the Distributed table that copies its structure.
    expect(ddl.indexOf(local)).toBeLessThan(ddl.indexOf(dist))
  })

  test('space_acl is sharded like records; spaces, accounts and schema_migrations are on every node', () => {
    expect(find(ddl, 'CREATE TABLE IF NOT EXISTS spaceview.space_acl ON CLUSTER main AS')).toContain(
      'Distributed(main, spaceview, space_acl_local, sipHash64(space))',
    )
    for (const name of ['spaces', 'accounts', 'schema_migrations']) {
      const stmt = find(ddl, `CREATE TABLE IF NOT EXISTS spaceview.${name} ON CLUSTER main\n`)
      expect(stmt).toContain(
        "ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}'",
      )
      expect(ddl.some((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS spaceview.${name}_local`))).toBe(false)
    }
  })

  test('setting changes of later migrations run after the creates, on the local tables of sharded data', () => {
    const alter = find(ddl, 'ALTER TABLE spaceview.records_local ON CLUSTER main MODIFY SETTING ')
    expect(alter).toContain('min_bytes_for_wide_part = 1099511627776')
    expect(ddl.indexOf(alter)).toBeGreaterThan(
      ddl.indexOf(find(ddl, 'CREATE TABLE IF NOT EXISTS spaceview.records_local ON CLUSTER main\n')),
    )
    expect(find(renderSchema(SINGLE), 'ALTER TABLE spaceview.records MODIFY SETTING ')).toBe(
      'ALTER TABLE spaceview.records MODIFY SETTING min_bytes_for_wide_part = 1099511627776',
    )
  })

  test('deletes address the local tables of sharded data on every shard', () => {
    expect(deleteFrom(CLUSTER, RECORDS)).toBe('DELETE FROM spaceview.records_local ON CLUSTER main')
    expect(deleteFrom(CLUSTER, SPACE_ACL)).toBe('DELETE FROM spaceview.space_acl_local ON CLUSTER main')
    expect(deleteFrom(CLUSTER, ACCOUNTS)).toBe('DELETE FROM spaceview.accounts')
    expect(deleteFrom(SINGLE, RECORDS)).toBe('DELETE FROM spaceview.records')
  })

  test('single-node schema has the same tables with plain ReplacingMergeTree', () => {
    const single = renderSchema(SINGLE)
    expect(
      single.every(
        (s) => !s.includes('ON CLUSTER') && !s.includes('Replicated') && !s.includes('Distributed'),
      ),
    ).toBe(true)
    expect(find(single, 'CREATE TABLE IF NOT EXISTS spaceview.records\n')).toContain(
      'ENGINE = ReplacingMergeTree(version, is_deleted)',
    )
    // Same columns in both variants.
    const cols = (s: string): string => s.slice(s.indexOf('('), s.indexOf('ENGINE'))
    expect(cols(find(single, 'CREATE TABLE IF NOT EXISTS spaceview.records\n'))).toBe(
      cols(find(ddl, 'CREATE TABLE IF NOT EXISTS spaceview.records_local')),
    )
  })

  test('the engine parses every generated statement (both variants)', async () => {
    const dir = tempDir()
    const conn = createChdbConnection({ path: dir.path })
    try {
      const deletes = [deleteFrom(CLUSTER, RECORDS), deleteFrom(SINGLE, RECORDS)].map(
        (d) => `${d} WHERE space = ${sqlString("at://x'\\y")} AND epoch <= 3`,
      )
      for (const stmt of [...ddl, ...renderSchema(SINGLE), ...deletes]) {
        await expect(conn.chdb.queryAsync(`EXPLAIN AST ${stmt}`)).resolves.toBeDefined()
      }
    } finally {
      await conn.close()
      dir.remove()
    }
  })
})

describe('configuration from the environment', () => {
  test('embedded engine by default, under SPACEVIEW_DATA_DIR', () => {
    const c = mergeConfigFromEnv({ SPACEVIEW_DATA_DIR: '/var/lib/sv' })
    expect(c.clickhouse).toEqual({
      transport: 'embedded',
      path: '/var/lib/sv/clickhouse',
      database: 'spaceview',
    })
    expect(c.batch).toEqual({ maxRows: 50_000, maxDelayMs: 20, minPeriodMs: 100 })
    expect(c.readStrategy).toBe('final')
  })

  test('batch period: MERGE_BATCH_PERIOD_MS, 0 for back-to-back inserts, never negative', () => {
    expect(mergeConfigFromEnv({ MERGE_BATCH_PERIOD_MS: '0' }).batch.minPeriodMs).toBe(0)
    expect(mergeConfigFromEnv({ MERGE_BATCH_PERIOD_MS: '250' }).batch.minPeriodMs).toBe(250)
    expect(() => mergeConfigFromEnv({ MERGE_BATCH_PERIOD_MS: '-1' })).toThrow(/MERGE_BATCH_PERIOD_MS/)
  })

  test('server and cluster', () => {
    const c = mergeConfigFromEnv({
      CLICKHOUSE_URL: 'http://ch:8123',
      CLICKHOUSE_USER: 'sv',
      CLICKHOUSE_PASSWORD: 'pw',
      CLICKHOUSE_DATABASE: 'prod',
      CLICKHOUSE_CLUSTER: 'main',
      MERGE_BATCH_ROWS: '1000',
      MERGE_READ_STRATEGY: 'limit-by',
    })
    expect(c.clickhouse).toEqual({
      transport: 'server',
      url: 'http://ch:8123',
      username: 'sv',
      password: 'pw',
      database: 'prod',
      cluster: 'main',
    })
    expect(c.batch.maxRows).toBe(1000)
    expect(c.readStrategy).toBe('limit-by')
  })

  test('refuses what it cannot honour, saying what to do', () => {
    expect(() => mergeConfigFromEnv({ CLICKHOUSE_CLUSTER: 'main' })).toThrow(/needs CLICKHOUSE_URL/)
    expect(() => mergeConfigFromEnv({ CLICKHOUSE_DATABASE: 'x;DROP' })).toThrow(MergeError)
    expect(() => mergeConfigFromEnv({ MERGE_BATCH_MS: '-1' })).toThrow(/positive integer/)
    expect(() => mergeConfigFromEnv({ MERGE_READ_STRATEGY: 'argmax' })).toThrow(/final, limit-by/)
  })
})
