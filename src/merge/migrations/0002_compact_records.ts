/**
 * Migration 2: records parts stay in the compact format (one file for all columns) whatever their size.
 *
 * Every read of the merged view (a listRecords page, a getRecord, a batch's commit lookups) touches a few
 * granules of every column in every active part; in the wide format each column is a file of its own, and
 * opening and seeking them was a large share of a page's cost. Measured on bench:merge (1M records,
 * embedded engine, two back-to-back pairs against the wide format): listRecords p50 7.04-7.09 -> 5.49-5.62
 * ms and p99 12.3-12.7 -> 10.0-11.3 ms, getRecord p50 6.1 -> 4.2-4.3 ms, CPU per page 8.9 -> 7.1-7.2 ms,
 * inserts 208k -> 216-219k records/s; counts and incremental writes unchanged. Parts written before this
 * migration keep their format until a merge rewrites them.
 */
import type { Migration } from '../migrate.js'
import { RECORDS } from '../tables.js'

export const migration: Migration = {
  version: 2,
  name: 'compact_records',
  tables: [],
  settings: [{ table: RECORDS, settings: { min_bytes_for_wide_part: 2 ** 40 } }],
}
