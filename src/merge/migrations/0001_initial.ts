/**
 * Migration 1: the initial schema.
 *
 * records — one table for record versions AND repo commits, because ClickHouse has no multi-table
 *   transactions but does insert one block into one partition of one table atomically (a single part
 *   becomes visible at once, or not at all). The writer puts every record row of a repo update together with
 *   that repo's new commit row into one insert, so readers see a repo's records and its state change together.
 *   - kind 'record': (collection, rkey) of `author`'s repo; is_deleted = 1 marks a deletion (tombstone).
 *   - kind 'commit': the repo state of (space, author) with collection = '' and rkey = ''; carries rev,
 *     LtHash state (hex of 2048 bytes), commit hash (hex of 32 bytes), generation and crawl status.
 *   `version` is the per-repo write sequence (every applied write takes the next value), so
 *   ReplacingMergeTree keeps the newest row of each key and FINAL gives the merged view without waiting for
 *   background merges. `epoch` separates incarnations of a space URI (deleted and re-created spaces start
 *   empty). No PARTITION BY: a partition boundary would split a batch into several parts and break the
 *   all-or-nothing visibility. The sort key serves listing by space → collection → author → rkey; listing by
 *   author alone uses the same index (few collections per space, so the search skips to each author).
 *   `kind` leads the key so that the commit rows of all repos sit together at the head of every part: a
 *   batch's compare-and-set lookup of thousands of commits then reads a few granules, not one per repo.
 *   ZSTD(1) on values: nearly the ratio of higher levels on JSON, at a fraction of the insert CPU.
 *
 * spaces — lifecycle of each space URI. `version` = epoch * 2 + (status = 'deleted'), which orders the rows
 *   of one URI by its lifecycle (active e1 < deleted e1 < active e2 ...) without a clock.
 *
 * accounts — latest status per DID; ordered by the event time the caller supplies (replays cannot regress).
 *
 * space_acl — policy, app access and member list of a space epoch, one row per snapshot (a single row is
 *   atomic, so a snapshot is replaced as a whole).
 */
import type { Migration } from '../migrate.js'
import { ACCOUNTS, RECORDS, SPACE_ACL, SPACES } from '../tables.js'

export const migration: Migration = {
  version: 1,
  name: 'initial',
  tables: [
    {
      ...RECORDS,
      columns: [
        'space String',
        'epoch UInt32',
        "kind Enum8('commit' = 1, 'record' = 2)",
        'collection LowCardinality(String)',
        'author String',
        'rkey String',
        'version UInt64',
        'is_deleted UInt8',
        'cid String',
        'value String CODEC(ZSTD(1))',
        'rev String',
        "indexed_at DateTime64(3, 'UTC')",
        'generation UInt32',
        "status Enum8('active' = 1, 'recovering' = 2, 'failed' = 3)",
        'reason String',
        'lt_state String CODEC(ZSTD(1))',
        'commit_hash String',
      ],
      replacing: ['version', 'is_deleted'],
      orderBy: ['kind', 'space', 'epoch', 'collection', 'author', 'rkey'],
      // Small granules: reads are pages of ~50 rows, and FINAL reads whole granules from every part.
      settings: { index_granularity: 256 },
    },
    {
      ...SPACES,
      columns: [
        'space String',
        'epoch UInt32',
        "status Enum8('active' = 1, 'deleted' = 2)",
        "changed_at DateTime64(3, 'UTC')",
        'version UInt64',
      ],
      replacing: ['version'],
      orderBy: ['space'],
    },
    {
      ...ACCOUNTS,
      columns: [
        'did String',
        "status Enum8('active' = 1, 'deactivated' = 2, 'takendown' = 3, 'suspended' = 4, 'deleted' = 5)",
        "changed_at DateTime64(3, 'UTC')",
      ],
      replacing: ['changed_at'],
      orderBy: ['did'],
    },
    {
      ...SPACE_ACL,
      columns: [
        'space String',
        'epoch UInt32',
        'policy String',
        'app_access String',
        'members Array(String)',
        'members_known UInt8',
        "fetched_at DateTime64(3, 'UTC')",
      ],
      replacing: ['fetched_at'],
      orderBy: ['space', 'epoch'],
    },
  ],
}
